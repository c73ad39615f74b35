"""What the data modules share: train/val/test loaders built by one `_loader(split, shuffle)`."""

from __future__ import annotations

import lightning as L
from torch.utils.data import DataLoader, Dataset


class SplitDataModule(L.LightningDataModule):
    """Training shuffles, evaluation keeps order. Subclasses give `dataset(split)` (and set
    `batch_size`, `num_workers`), or override `_loader` for their own batching."""

    batch_size: int
    num_workers: int

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
