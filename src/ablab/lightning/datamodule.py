"""What the data modules share: train/val/test loaders built by one `_loader(split, shuffle)`, and the
one way a task learns about its data (`info()`, a typed `DataInfo`)."""

from __future__ import annotations

from dataclasses import dataclass

import lightning as L
from torch.utils.data import DataLoader, Dataset


@dataclass(frozen=True)
class DataInfo:
    """What a task may take from its data once the data is set up (a family's data module returns
    its own subclass: cell weights, a scaler, class names, record ids, captions). This base holds
    nothing: a task that gets it keeps its own defaults."""


class SplitDataModule(L.LightningDataModule):
    """Training shuffles, evaluation keeps order. Subclasses give `dataset(split)` (and set
    `batch_size`, `num_workers`), or override `_loader` for their own batching."""

    batch_size: int
    num_workers: int

    def info(self) -> DataInfo:
        """What the task needs to know of this data, after `setup`."""
        return DataInfo()

    def dataset(self, split: str) -> Dataset:
        raise TypeError(f"{type(self).__name__} must define dataset(split) or its own _loader")

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        return DataLoader(
            self.dataset(split),
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
