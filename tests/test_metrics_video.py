"""Video metrics on clips with known answers."""

from __future__ import annotations

import pytest
import torch

from ablab.errors import ConfigError
from ablab.families.text2sign import metrics as mv


def clips(n: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, 4, 16, 16, generator=torch.Generator().manual_seed(seed))


def test_retrieval_accuracy_counts_clips_nearest_to_their_own_captions_reference() -> None:
    captions = torch.tensor([0, 1, 2, 0, 1, 2])
    real = clips(3)[captions] + 0.05 * clips(6, seed=1)  # two noisy takes of each caption
    assert mv.retrieval_accuracy(real, real, captions) == (1.0, pytest.approx(1 / 3))
    # Clips that look like the next caption's clips are all wrong; half right gives one half.
    accuracy, _ = mv.retrieval_accuracy(real[torch.tensor([1, 2, 0, 4, 5, 3])], real, captions)
    assert accuracy == 0.0
    accuracy, _ = mv.retrieval_accuracy(real[torch.tensor([0, 1, 2, 4, 5, 3])], real, captions)
    assert accuracy == pytest.approx(0.5)


def test_ssim_and_psnr_are_perfect_for_identical_clips_and_fall_with_noise() -> None:
    real = clips()
    ssim, psnr = mv.ssim_psnr(real, real)
    assert ssim == pytest.approx(1.0) and psnr > 60
    noisy_ssim, noisy_psnr = mv.ssim_psnr((real + 0.1 * torch.randn_like(real)).clamp(0, 1), real)
    assert noisy_ssim < 0.95 and 15 < noisy_psnr < 25


def test_temporal_consistency_is_one_for_a_still_clip_and_lower_for_flicker() -> None:
    still = clips()[:, :, :1].expand(-1, -1, 4, -1, -1)
    assert mv.temporal_consistency(still) == pytest.approx(1.0)
    assert mv.temporal_consistency(clips()) < 0.7


def test_frechet_distance_is_zero_for_one_set_and_grows_with_a_shift() -> None:
    extractor = mv.video_extractor(None, num_features=8)
    assert extractor.name == "random3d" and not any(p.requires_grad for p in extractor.parameters())
    real = clips(40)
    same = mv.frechet_distance(extractor, real, real)
    near = mv.frechet_distance(extractor, real, clips(40, seed=1))
    far = mv.frechet_distance(extractor, real, (clips(40, seed=1) * 0.5))
    assert abs(same) < 1e-3 and near < far
    # The same seed gives the same extractor: distances comparable between runs.
    assert torch.equal(extractor(real[:2]), mv.video_extractor(None, num_features=8)(real[:2]))


def test_i3d_needs_a_local_file_and_lpips_says_why_it_is_skipped(tmp_path) -> None:
    with pytest.raises(ConfigError, match="i3d_path"):
        mv.video_extractor(str(tmp_path / "i3d_torchscript.pt"))
    metric, note = mv.lpips_metric()
    assert metric is not None or note.startswith("LPIPS skipped:")
