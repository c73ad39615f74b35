"""Text-to-sign references on the test split, scored with the task's own metrics (retrieval accuracy,
the Fréchet distance of its extractor, SSIM, PSNR, temporal consistency):

- chance retrieval: 1 / the number of distinct test captions (what a generator ignoring its caption
  expects);
- the mean clip: every caption gets the mean training clip (learns nothing about captions);
- real clips as the ceiling: every test clip gets another real clip of its caption (from training,
  else another test clip): what a perfect generator of new clips scores.
"""

from __future__ import annotations

import torch

from ablab.families.text2sign import metrics as mv
from ablab.families.text2sign.data import SignClipsDataModule
from ablab.lightning.references import Reference, test_metrics


def clips(datamodule: SignClipsDataModule, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A split's clips in [0, 1] and their caption indices."""
    video, captions = datamodule.dataset(split).tensors
    return video.float() / 255.0, captions


def score(fake: torch.Tensor, real: torch.Tensor, captions: torch.Tensor, extractor) -> dict[str, float]:
    """The task's test metrics of `fake` clips for the test clips `real`."""
    accuracy, _ = mv.retrieval_accuracy(fake, real, captions)
    ssim, psnr = mv.ssim_psnr(fake, real)
    return test_metrics(
        {
            "retrieval_acc": accuracy,
            f"fd_{extractor.name}": mv.frechet_distance(extractor, real, fake),
            "ssim": ssim,
            "psnr": psnr,
            "temporal_consistency": mv.temporal_consistency(fake),
        }
    )


def other_real_clips(
    real: torch.Tensor, captions: torch.Tensor, train: torch.Tensor, train_captions: torch.Tensor
) -> torch.Tensor:
    """For each test clip, the first training clip of its caption, else another test clip of it, else
    itself (a caption seen once)."""
    out = []
    for i, caption in enumerate(captions.tolist()):
        seen = torch.nonzero(train_captions == caption).flatten()
        others = [j for j in torch.nonzero(captions == caption).flatten().tolist() if j != i]
        out.append(train[seen[0]] if len(seen) else real[others[0] if others else i])
    return torch.stack(out)


def text2sign_references(
    datamodule: SignClipsDataModule, fd_features: int = 32, i3d_path: str | None = None
) -> list[Reference]:
    """Chance retrieval, the mean clip and other real clips, on the test split."""
    datamodule.setup("test")
    real, captions = clips(datamodule, "test")
    train, train_captions = clips(datamodule, "train")
    extractor = mv.video_extractor(i3d_path, fd_features)
    mean_clip = train.mean(dim=0, keepdim=True).expand_as(real).contiguous()
    chance = 1.0 / len(torch.unique(captions))
    return [
        Reference("chance retrieval", "floor", {"test/retrieval_acc": chance}, "1 / distinct test captions"),
        Reference(
            "mean clip", "floor", score(mean_clip, real, captions, extractor), "the mean training clip"
        ),
        Reference(
            "real clips",
            "ceiling",
            score(other_real_clips(real, captions, train, train_captions), real, captions, extractor),
            "another real clip of the caption (training split first)",
        ),
    ]
