"""Video quality and conditioning metrics for generated clips (all take clips in [0, 1], (B, C, F, H, W)).

- Fréchet distance between real and generated clips in the feature space of a pluggable extractor
  (torchmetrics' Fréchet machinery with a custom module). `i3d` (a local TorchScript I3D, the
  fvd-comparison/StyleGAN-V `i3d_torchscript.pt`) makes it FVD; the offline default `random3d`, a
  fixed randomly initialised 3D CNN, is reported as `fd_random3d`, never as FVD.
- SSIM and PSNR of each generated clip against the reference clip of the same caption (per frame).
- Temporal consistency: 1 - mean absolute change between consecutive frames (1 = static).
- Retrieval accuracy: a generated clip counts as correct when, among one reference clip per distinct
  caption, the nearest (mean squared pixel error) is its own caption's; chance is 1 / #captions.
- LPIPS only where torchvision and its backbone weights are available locally (never downloaded).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ablab.errors import ConfigError, require


class RandomVideoFeatures(nn.Module):
    """A fixed, seeded, randomly initialised 3D CNN (He-normal weights, so activations keep their
    scale): clips in [0, 1] -> `num_features` features, each channel averaged over time in the four
    quadrants of the frame (where things happen matters). Random conv features are a weak but offline
    stand-in for I3D; distances are comparable only between runs with the same extractor (name, seed,
    width)."""

    name = "random3d"

    def __init__(self, num_features: int = 32, seed: int = 0) -> None:
        super().__init__()
        require(
            num_features >= 4 and num_features % 4 == 0,
            "task.fd_features",
            num_features,
            "must be a positive multiple of 4 (channels x 4 frame quadrants)",
        )
        self.num_features = num_features
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = nn.Sequential(
                nn.Conv3d(3, 16, (3, 4, 4), stride=(1, 2, 2), padding=(1, 1, 1)),
                nn.LeakyReLU(0.2),
                nn.Conv3d(16, 32, (3, 4, 4), stride=(1, 2, 2), padding=(1, 1, 1)),
                nn.LeakyReLU(0.2),
                nn.Conv3d(32, num_features // 4, (3, 3, 3), padding=1),
            )
            for layer in self.net:
                if isinstance(layer, nn.Conv3d):
                    nn.init.kaiming_normal_(layer.weight, a=0.2)
                    nn.init.zeros_(layer.bias)
        self.requires_grad_(False)
        self.eval()

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool3d(self.net(clips * 2 - 1), (1, 2, 2)).flatten(1)


class I3DFeatures(nn.Module):
    """A local TorchScript I3D (`i3d_torchscript.pt` as used by fvd-comparison/StyleGAN-V): 400-d logits
    features of clips resized to 224x224, inputs in [-1, 1]. Nothing is downloaded."""

    name = "i3d"
    num_features = 400

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        path = Path(path)
        if not path.is_file():
            raise ConfigError(
                f"task.evaluation.i3d_path={str(path)!r} does not exist; give a local "
                "i3d_torchscript.pt, or set it to null for the offline random3d extractor"
            )
        self.detector = torch.jit.load(str(path), map_location="cpu").eval()

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        b, c, f, h, w = clips.shape
        frames = F.interpolate(
            clips.transpose(1, 2).reshape(b * f, c, h, w),
            size=(224, 224),
            mode="bilinear",
            align_corners=False,
        )
        videos = frames.reshape(b, f, c, 224, 224).transpose(1, 2) * 2 - 1
        return self.detector(videos, rescale=False, resize=False, return_features=True)


def video_extractor(i3d_path: str | None = None, num_features: int = 32, seed: int = 0) -> nn.Module:
    """I3D when a local weights path is given, else the named offline random 3D CNN."""
    return I3DFeatures(i3d_path) if i3d_path else RandomVideoFeatures(num_features, seed)


@torch.no_grad()
def frechet_distance(extractor: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to the extractor's features of real and fake clips."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=extractor).to(real.device)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    return float(metric.compute())


def frames_of(clips: torch.Tensor) -> torch.Tensor:
    """(B, C, F, H, W) clips -> (B*F, C, H, W) frames."""
    b, c, f, h, w = clips.shape
    return clips.transpose(1, 2).reshape(b * f, c, h, w)


@torch.no_grad()
def ssim_psnr(fake: torch.Tensor, reference: torch.Tensor) -> tuple[float, float]:
    """Mean per-frame SSIM and PSNR (dB) of generated clips against their reference clips."""
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    fake_frames, ref_frames = frames_of(fake).clamp(0, 1), frames_of(reference)
    kernel = min(7, fake.shape[-1] - (1 - fake.shape[-1] % 2), fake.shape[-2] - (1 - fake.shape[-2] % 2))
    ssim = structural_similarity_index_measure(fake_frames, ref_frames, data_range=1.0, kernel_size=kernel)
    psnr = peak_signal_noise_ratio(
        fake_frames, ref_frames, data_range=1.0, reduction="elementwise_mean", dim=(1, 2, 3)
    )
    return float(ssim), float(psnr)


def temporal_consistency(clips: torch.Tensor) -> float:
    """1 - mean absolute change between consecutive frames (pixels in [0, 1]); 1 for a still clip."""
    if clips.shape[2] < 2:
        return 1.0
    return float(1 - (clips[:, :, 1:] - clips[:, :, :-1]).abs().mean())


def retrieval_accuracy(fake: torch.Tensor, real: torch.Tensor, captions: torch.Tensor) -> tuple[float, float]:
    """(accuracy, chance): is each generated clip nearest to its own caption's reference clip, among
    one reference (the first real clip) per distinct caption?"""
    distinct = torch.unique(captions)
    first = torch.stack([torch.nonzero(captions == c)[0, 0] for c in distinct])
    refs = real[first].flatten(1)
    distances = torch.cdist(fake.flatten(1).float(), refs.float())
    predicted = distinct[distances.argmin(dim=1)]
    return float((predicted == captions).float().mean()), 1.0 / len(distinct)


def lpips_metric() -> tuple[nn.Module | None, str]:
    """torchmetrics' LPIPS (AlexNet) when torchvision and its ImageNet weights are already on disk,
    else (None, why it is skipped). Never triggers a download."""
    try:
        import torchvision  # noqa: F401
    except ImportError:
        return None, "LPIPS skipped: torchvision is not installed (its AlexNet backbone is needed)"
    weights = Path(torch.hub.get_dir()) / "checkpoints" / "alexnet-owt-7be5be79.pth"
    if not weights.is_file():
        return None, f"LPIPS skipped: AlexNet weights not found at {weights} (no downloads here)"
    from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

    return LearnedPerceptualImagePatchSimilarity(net_type="alex", normalize=True), "LPIPS (AlexNet)"
