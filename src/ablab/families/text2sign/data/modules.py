"""The text-to-sign data modules: procedural clips (`data=signs`) or a captions CSV (`data=signs_csv`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from ablab.errors import require
from ablab.families.text2sign.data.clips import (
    read_captions_csv,
    read_rows,
)
from ablab.families.text2sign.data.procedural import (
    GLOSSES,
    SPLITS,
    caption_text,
    generate,
    vocabulary,
)
from ablab.lightning.cache import cache_key, cached_arrays
from ablab.lightning.datamodule import DataInfo, SplitDataModule


@dataclass(frozen=True)
class SignDataInfo(DataInfo):
    """The captions a batch's caption indices point into (the task encodes them once)."""

    captions: list[str]


class SignClipsDataModule(SplitDataModule):
    """Clips (uint8 (C, F, H, W)) with caption indices into `self.captions`, per split."""

    def info(self) -> DataInfo:
        return SignDataInfo(list(self.captions)) if self.captions else DataInfo()

    def __init__(
        self,
        frames: int,
        height: int,
        width: int,
        batch_size: int,
        num_workers: int,
        seed: int,
        cache_dir: str | Path,
    ) -> None:
        super().__init__()
        require(1 <= frames <= 256, "data.frames", frames, "must be in 1..256")
        require(height >= 8 and width >= 8, "data.height/width", (height, width), "must be >= 8 pixels")
        require(batch_size >= 1, "data.batch_size", batch_size, "must be >= 1")
        self.frames, self.height, self.width, self.channels = frames, height, width, 3
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.cache_dir = Path(cache_dir)
        self.captions: list[str] = []
        self.splits: dict[str, TensorDataset] = {}

    def load(self) -> tuple[dict[str, np.ndarray], list[str]]:
        """Arrays `<split>_video`, `<split>_caption` for every split, and the caption list."""
        raise TypeError(f"{type(self).__name__} must implement load()")

    def prepare_data(self) -> None:
        self.load()

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        arrays, self.captions = self.load()
        for split in SPLITS:
            self.splits[split] = TensorDataset(
                torch.from_numpy(arrays[f"{split}_video"]), torch.from_numpy(arrays[f"{split}_caption"])
            )

    def dataset(self, split: str) -> TensorDataset:
        return self.splits[split]


class ProceduralSignsDataModule(SignClipsDataModule):
    """Generated sign clips: deterministic by the data seed, cached on disk by their parameters.
    With `holdout_captions` > 0 that fraction of the captions never appears in training and the
    val/test clips use only them (a compositional test); otherwise val/test are new clips of the
    training captions."""

    def __init__(
        self,
        num_glosses: int = 8,
        max_glosses: int = 2,
        frames: int = 8,
        height: int = 32,
        width: int = 32,
        train_size: int = 1536,
        val_size: int = 32,
        test_size: int = 64,
        jitter: float = 0.02,
        holdout_captions: float = 0.0,
        batch_size: int = 16,
        num_workers: int = 0,
        seed: int = 0,
        cache_dir: str | Path = ".cache/signs",
    ) -> None:
        super().__init__(frames, height, width, batch_size, num_workers, seed, cache_dir)
        require(
            1 <= num_glosses <= len(GLOSSES), "data.num_glosses", num_glosses, f"must be in 1..{len(GLOSSES)}"
        )
        require(1 <= max_glosses <= 4, "data.max_glosses", max_glosses, "must be in 1..4")
        require(max_glosses <= frames, "data.max_glosses", max_glosses, f"must be <= data.frames={frames}")
        for name, size in (
            ("data.train_size", train_size),
            ("data.val_size", val_size),
            ("data.test_size", test_size),
        ):
            require(size >= 2, name, size, "must be >= 2 clips")
        require(0.0 <= jitter <= 0.2, "data.jitter", jitter, "must be in [0, 0.2] (fraction of the frame)")
        require(0.0 <= holdout_captions < 1.0, "data.holdout_captions", holdout_captions, "must be in [0, 1)")
        self.num_glosses, self.max_glosses, self.jitter = num_glosses, max_glosses, jitter
        self.holdout_captions = holdout_captions
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}

    def caption_sets(self) -> dict[str, list[tuple[int, ...]]]:
        sequences = vocabulary(self.num_glosses, self.max_glosses)
        held = round(self.holdout_captions * len(sequences))
        if not held:
            return {split: sequences for split in SPLITS}
        # Hold out whole multi-gloss captions only: every gloss still appears alone in training.
        multi = [s for s in sequences if len(s) > 1]
        order = np.random.default_rng(self.seed).permutation(len(multi))
        heldout = [multi[i] for i in sorted(order[: min(held, len(multi) - 1)])]
        train = [s for s in sequences if s not in heldout]
        return {"train": train, "val": heldout, "test": heldout}

    def load(self) -> tuple[dict[str, np.ndarray], list[str]]:
        sets = self.caption_sets()
        captions = [caption_text(s) for s in vocabulary(self.num_glosses, self.max_glosses)]
        lookup = {c: i for i, c in enumerate(captions)}
        arrays: dict[str, np.ndarray] = {}
        for number, split in enumerate(SPLITS):
            split_seed = self.seed * 3 + number
            params = {
                "sequences": [list(s) for s in sets[split]],
                "count": self.sizes[split],
                "frames": self.frames,
                "height": self.height,
                "width": self.width,
                "jitter": self.jitter,
                "seed": split_seed,
                "version": 2,
            }
            path = self.cache_dir / f"{split}-{cache_key(params)}.npz"
            data = cached_arrays(
                path,
                lambda s=split, ss=split_seed: generate(
                    self.sizes[s], sets[s], self.frames, self.height, self.width, self.jitter, ss
                ),
                describe=f"sign clips ({split}): {self.sizes[split]:,} clips of {self.frames} frames",
            )
            remap = np.array([lookup[caption_text(s)] for s in sets[split]], dtype=np.int64)
            arrays[f"{split}_video"] = data["video"]
            arrays[f"{split}_caption"] = remap[data["caption"]]
        return arrays, captions


class CsvSignsDataModule(SignClipsDataModule):
    """Real clips from a captions CSV (see the module docstring for the layout), cached once read."""

    def __init__(
        self,
        csv_path: str | Path,
        frames: int = 16,
        height: int = 32,
        width: int = 32,
        min_frames: int = 1,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        batch_size: int = 8,
        num_workers: int = 0,
        seed: int = 0,
        cache_dir: str | Path = ".cache/signs_csv",
    ) -> None:
        super().__init__(frames, height, width, batch_size, num_workers, seed, cache_dir)
        require(min_frames >= 1, "data.min_frames", min_frames, "must be >= 1")
        require(
            0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1,
            "data.val_fraction/test_fraction",
            (val_fraction, test_fraction),
            "must be >= 0 and sum below 1",
        )
        self.csv_path = Path(csv_path)
        self.min_frames = min_frames
        self.fractions = (val_fraction, test_fraction)

    def load(self) -> tuple[dict[str, np.ndarray], list[str]]:
        rows = read_rows(self.csv_path)
        stamps = []
        for row in rows:
            path = self.csv_path.parent / (row.get("path") or "").strip()
            stat = path.stat() if path.exists() else None
            stamps.append([str(path), stat.st_mtime_ns if stat else None, stat.st_size if stat else None])
        params = {
            "csv": str(self.csv_path.resolve()),
            "rows": rows,
            "clips": stamps,
            "frames": self.frames,
            "height": self.height,
            "width": self.width,
            "min_frames": self.min_frames,
            "seed": self.seed,
            "fractions": list(self.fractions),
        }
        path = self.cache_dir / f"clips-{cache_key(params)}.npz"
        arrays = cached_arrays(
            path,
            lambda: read_captions_csv(
                self.csv_path,
                rows,
                self.frames,
                self.height,
                self.width,
                self.min_frames,
                self.seed,
                self.fractions,
            ),
        )
        return arrays, [str(c) for c in arrays["captions"]]
