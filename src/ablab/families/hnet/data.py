"""Synthetic DOA association problems for the Hungarian network, as in Adavanne et al. (WASPAA 2021).

Each sample: up to N reference and N predicted directions of arrival on a random-resolution
azimuth/elevation grid, the N x N Euclidean distance matrix between their unit vectors (rows
references, columns predictions; inactive slots filled with distractor values), and the one-hot
optimal assignment of the active block. Rows or columns of both are permuted together.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch.utils.data import TensorDataset

from ablab.errors import require
from ablab.lightning.cache import cache_key, cached_arrays
from ablab.lightning.datamodule import DataInfo, SplitDataModule

INACTIVE = 10.0
MAX_SLOTS = 10


def unit_vectors(azimuth_deg: np.ndarray, elevation_deg: np.ndarray) -> np.ndarray:
    """Cartesian points on the unit sphere for azimuth/elevation in degrees; shape (..., 3)."""
    az, el = np.deg2rad(azimuth_deg), np.deg2rad(elevation_deg)
    return np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1)


def _draw_doas(rng: np.random.Generator, count: int, resolution: int) -> np.ndarray:
    """`count` distinct grid points (azimuth in [-180, 180), elevation in [-90, 90]) as unit vectors."""
    azimuths = np.arange(-180, 180, resolution)
    elevations = np.arange(-90, 91, resolution)
    cells = rng.choice(len(azimuths) * len(elevations), size=count, replace=False)
    return unit_vectors(azimuths[cells % len(azimuths)], elevations[cells // len(azimuths)])


class Sample(NamedTuple):
    """One problem: distances, optimal association, and which rows/columns hold real DOAs."""

    dist: np.ndarray
    target: np.ndarray
    active_rows: np.ndarray
    active_cols: np.ndarray


def make_sample(
    rng: np.random.Generator, n_refs: int, n_preds: int, max_len: int, resolutions: list[int]
) -> Sample:
    """One (distance matrix, association matrix) pair, both max_len x max_len float32."""
    resolution = int(rng.choice(resolutions))
    refs = _draw_doas(rng, n_refs, resolution)
    preds = _draw_doas(rng, n_preds, resolution)
    if rng.random() < 0.5:
        dist = rng.uniform(-100, 100, size=(max_len, max_len))
        dist[(dist >= -1) & (dist <= 1)] = INACTIVE
    else:
        dist = np.full((max_len, max_len), INACTIVE)
    target = np.zeros((max_len, max_len))
    if n_refs and n_preds:
        block = np.linalg.norm(refs[:, None, :] - preds[None, :, :], axis=-1)
        dist[:n_refs, :n_preds] = block
        rows, cols = linear_sum_assignment(block)
        target[rows, cols] = 1.0
    rows, cols = np.arange(max_len) < n_refs, np.arange(max_len) < n_preds
    order = rng.permutation(max_len)
    if rng.random() < 0.5:
        dist, target, rows = dist[order], target[order], rows[order]
    else:
        dist, target, cols = dist[:, order], target[:, order], cols[order]
    return Sample(dist.astype(np.float32), target.astype(np.float32), rows, cols)


def generate(max_len: int, per_case: int, resolutions: list[int], seed: int) -> dict[str, np.ndarray]:
    """`per_case` samples for every (n_refs, n_preds) in 0..N x 0..N, shuffled."""
    rng = np.random.default_rng(seed)
    cases = [(r, p) for r in range(max_len + 1) for p in range(max_len + 1)]
    dists, targets = [], []
    for n_refs, n_preds in cases:
        for _ in range(per_case):
            sample = make_sample(rng, n_refs, n_preds, max_len, resolutions)
            dists.append(sample.dist)
            targets.append(sample.target)
    order = rng.permutation(len(dists))
    return {"dist": np.stack(dists)[order], "target": np.stack(targets)[order]}


@dataclass(frozen=True)
class HNetDataInfo(DataInfo):
    """Frequency of ones per cell of the association matrix in the training set: the sample weights
    of the original weighted F1."""

    cell_weights: torch.Tensor


class HNetDataModule(SplitDataModule):
    """Train/val/test sets generated from the data seed (fixed across a study), cached on disk."""

    def __init__(
        self,
        max_len: int = 2,
        train_per_case: int = 3000,
        val_per_case: int = 500,
        test_per_case: int = 1000,
        resolutions: list[int] | tuple[int, ...] = (1, 2, 3, 4, 5, 10, 15, 20, 30),
        batch_size: int = 256,
        num_workers: int = 0,
        seed: int = 0,
        cache_dir: str | Path = ".cache/hnet",
    ) -> None:
        super().__init__()
        require(1 <= max_len <= MAX_SLOTS, "data.max_len", max_len, f"must be in 1..{MAX_SLOTS}")
        for name, count in (
            ("data.train_per_case", train_per_case),
            ("data.val_per_case", val_per_case),
            ("data.test_per_case", test_per_case),
        ):
            require(count >= 1, name, count, "must be >= 1 (samples per (n_refs, n_preds) case)")
        require(batch_size >= 1, "data.batch_size", batch_size, "must be >= 1")
        require(
            len(resolutions) > 0 and all(0 < r <= 90 for r in resolutions),
            "data.resolutions",
            list(resolutions),
            "must be a non-empty list of degrees in (0, 90]",
        )
        self.max_len, self.batch_size, self.num_workers = max_len, batch_size, num_workers
        self.resolutions = [int(r) for r in resolutions]
        self.counts = {"train": train_per_case, "val": val_per_case, "test": test_per_case}
        self.seed = seed
        self.cache_dir = Path(cache_dir)
        self.splits: dict[str, TensorDataset] = {}
        self.cell_weights: torch.Tensor | None = None

    def _split_arrays(self, split: str) -> dict[str, np.ndarray]:
        split_seed = self.seed * 3 + ("train", "val", "test").index(split)
        params = {
            "max_len": self.max_len,
            "per_case": self.counts[split],
            "resolutions": self.resolutions,
            "seed": split_seed,
            "version": 1,
        }
        path = self.cache_dir / f"{split}-{cache_key(params)}.npz"
        samples = self.counts[split] * (self.max_len + 1) ** 2
        return cached_arrays(
            path,
            lambda: generate(self.max_len, self.counts[split], self.resolutions, split_seed),
            describe=f"HNet {split} data: {samples:,} samples (N={self.max_len})",
        )

    def prepare_data(self) -> None:
        for split in self.counts:
            self._split_arrays(split)

    def setup(self, stage: str | None = None) -> None:
        for split in self.counts:
            if split not in self.splits:
                arrays = self._split_arrays(split)
                self.splits[split] = TensorDataset(
                    torch.from_numpy(arrays["dist"]), torch.from_numpy(arrays["target"])
                )
        # Frequency of ones per cell of the association matrix in the training set: the sample
        # weights of the original weighted F1.
        self.cell_weights = self.splits["train"].tensors[1].mean(dim=0)

    def info(self) -> DataInfo:
        return HNetDataInfo(self.cell_weights) if self.cell_weights is not None else DataInfo()

    def dataset(self, split: str) -> TensorDataset:
        return self.splits[split]
