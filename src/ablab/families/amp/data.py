"""Peptide classification data: modlAMP's AMPvsUniProt / AMPvsTM, a CSV, or FASTA plus labels;
validated, split by the data seed, and served as per-residue embeddings from the embedding cache.

Sources (`data.source`):
- `AMPvsUniProt` (default; 2,600 AMPs vs 2,600 UniProt peptides) and `AMPvsTM` (206 vs 206
  transmembrane helices), both shipped with modlAMP (`modlamp.datasets`).
- `csv`: the reference study's format, columns `Sequence` and `label` (0/1), optional `Length`
  (ignored, recomputed) and `id`.
- `fasta`: sequences from `data.path`, labels from `data.labels_path`, a CSV with columns `id,label`
  matching the FASTA record ids (the first word of each header).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, Sampler

from ablab.errors import ConfigError, DataError, require
from ablab.families.amp.encoders.base import Encoder
from ablab.families.amp.encoders.cache import EmbeddingCache, EmbeddingStore
from ablab.families.amp.peptides import (
    MODLAMP_SETS,
    SOURCES,
    SPLITS,
    PeptideDataWarning,
    Peptides,
    clean,
    drop_duplicates,
    leakage,
    read_csv,
    read_fasta,
    read_modlamp,
    stratified_indices,
)
from ablab.lightning.datamodule import DataInfo, SplitDataModule


def _identity_collate(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Batches are built whole by EmbeddingDataset.__getitems__."""
    return batch


class EmbeddingDataset(Dataset):
    """Records of one split; a batch is one gather from the memory-mapped cache, trimmed to its
    longest sequence."""

    def __init__(
        self, store: EmbeddingStore, rows: np.ndarray, labels: np.ndarray, positions: np.ndarray
    ) -> None:
        self.store, self.rows, self.labels, self.positions = store, rows, labels, positions

    def __len__(self) -> int:
        return len(self.rows)

    def __getitems__(self, items: list[int]) -> dict[str, torch.Tensor]:
        items = np.asarray(items, dtype=np.int64)
        values, lengths = self.store.rows(self.rows[items])
        mask = torch.arange(values.shape[1])[None, :] < torch.from_numpy(lengths)[:, None]
        return {
            "x": torch.from_numpy(values),
            "mask": mask,
            "y": torch.from_numpy(self.labels[items].astype(np.float32)),
            "index": torch.from_numpy(self.positions[items]),
        }

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.__getitems__([item]).items()}


class LengthBucketSampler(Sampler[list[int]]):
    """Batches of similar-length sequences in random order: shuffle, cut into buckets of
    `bucket_batches` batches, sort each bucket by length, batch it, shuffle the batches. Padding, and
    with it the cost of convolutions, attention and packed-RNN steps, drops several-fold while every
    epoch still sees a fresh order. `shuffle=False`: length-sorted batches, for evaluation."""

    def __init__(
        self, lengths: np.ndarray, batch_size: int, bucket_batches: int | None = 50, shuffle: bool = True
    ) -> None:
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.bucket = (
            len(self.lengths) if bucket_batches is None or not shuffle else bucket_batches * batch_size
        )
        self.shuffle = shuffle

    def _batches(self, order: np.ndarray) -> list[np.ndarray]:
        batches = []
        for start in range(0, len(order), self.bucket):
            chunk = order[start : start + self.bucket]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches += [chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        if not self.shuffle:
            yield from (b.tolist() for b in self._batches(np.arange(len(self.lengths))))
            return
        # Seeded from torch's generator, as RandomSampler is: seed_everything makes epochs reproducible.
        rng = np.random.default_rng(int(torch.empty((), dtype=torch.int64).random_().item()))
        batches = self._batches(rng.permutation(len(self.lengths)))
        yield from (batches[k].tolist() for k in rng.permutation(len(batches)))

    def __len__(self) -> int:
        full, rest = divmod(len(self.lengths), self.bucket)
        return full * -(-self.bucket // self.batch_size) + -(-rest // self.batch_size)


def _check_settings(
    encoder: Encoder,
    source: str,
    path: str | None,
    labels_path: str | None,
    max_len: int,
    nonstandard: str,
    duplicates: str,
    split: Sequence[float],
    max_samples: int | None,
) -> None:
    """A ConfigError naming the first data setting that cannot work, before any data is read."""
    require(source in SOURCES, "data.source", source, f"must be one of {', '.join(SOURCES)}")
    require(
        source not in ("csv", "fasta") or bool(path),
        "data.path",
        path,
        f"data.source={source} needs data.path",
    )
    require(
        source != "fasta" or bool(labels_path),
        "data.labels_path",
        labels_path,
        "data.source=fasta needs a labels CSV (columns id,label)",
    )
    require(max_len >= 1, "data.max_len", max_len, "must be >= 1")
    require(
        nonstandard in ("unknown", "reject"),
        "data.nonstandard",
        nonstandard,
        "must be unknown (map B, J, O, U, X, Z to X) or reject",
    )
    require(
        duplicates in ("drop", "keep"),
        "data.duplicates",
        duplicates,
        "must be drop (remove repeated sequences before splitting) or keep (report leakage)",
    )
    require(
        len(split) == 3 and all(f > 0 for f in split) and abs(sum(split) - 1) < 1e-6,
        "data.split",
        list(split),
        "needs three positive fractions (train, val, test) summing to 1",
    )
    require(
        max_samples is None or max_samples >= 10,
        "data.max_samples",
        max_samples,
        "must be null (all) or >= 10",
    )
    require(
        isinstance(encoder, Encoder),
        "data.encoder",
        type(encoder).__name__,
        "must be an ablab encoder (pick one with encoder=...)",
    )


@dataclass(frozen=True)
class PeptideDataInfo(DataInfo):
    """Record ids, indexed by a batch's `index`: the test predictions are saved under them."""

    ids: list[str]


class PeptideDataModule(SplitDataModule):
    """Validated peptides, stratified train/val/test split by `seed`, embeddings from the cache."""

    def __init__(
        self,
        encoder: Encoder,
        source: str = "AMPvsUniProt",
        path: str | None = None,
        labels_path: str | None = None,
        max_len: int = 174,
        nonstandard: str = "unknown",
        duplicates: str = "drop",
        split: Sequence[float] = (0.8, 0.1, 0.1),
        max_samples: int | None = None,
        batch_size: int = 32,
        eval_batch_size: int = 64,
        bucket_batches: int | None = 50,
        num_workers: int = 0,
        seed: int = 0,
        cache_dir: str | Path = ".cache/embeddings",
    ) -> None:
        super().__init__()
        _check_settings(
            encoder, source, path, labels_path, max_len, nonstandard, duplicates, split, max_samples
        )
        require(batch_size >= 1 and eval_batch_size >= 1, "data.batch_size", batch_size, "must be >= 1")
        require(
            bucket_batches is None or bucket_batches >= 1,
            "data.bucket_batches",
            bucket_batches,
            "must be null (plain shuffled batches) or >= 1 (batches per length bucket)",
        )
        self.encoder = encoder
        self.source, self.path, self.labels_path = source, path, labels_path
        self.max_len, self.nonstandard, self.duplicates = max_len, nonstandard, duplicates
        self.split_sizes = [float(f) for f in split]
        self.max_samples = max_samples
        self.batch_size, self.eval_batch_size, self.num_workers = batch_size, eval_batch_size, num_workers
        self.bucket_batches = bucket_batches
        self.seed = seed
        self.cache = EmbeddingCache(cache_dir)
        self.peptides: Peptides | None = None
        self.splits: dict[str, np.ndarray] = {}
        self.unique: list[str] = []
        self.row_of: np.ndarray = np.zeros(0, dtype=np.int64)
        self.store: EmbeddingStore | None = None
        self.embedding_seconds = 0.0

    @property
    def origin(self) -> str:
        return f"data.path={self.path}" if self.source in ("csv", "fasta") else f"data.source={self.source}"

    @property
    def ids(self) -> list[str]:
        """Record ids, indexed by a batch's `index`."""
        return self.load().ids

    def info(self) -> DataInfo:
        return PeptideDataInfo(self.ids)

    def load(self) -> Peptides:
        """Read, validate, deduplicate, subsample and split once (cheap; memoised)."""
        if self.peptides is not None:
            return self.peptides
        if self.source in MODLAMP_SETS:
            raw = read_modlamp(self.source)
        elif self.source == "csv":
            raw = read_csv(Path(self.path))
        else:
            raw = read_fasta(Path(self.path), Path(self.labels_path) if self.labels_path else None)
        peptides = clean(raw, self.max_len, self.nonstandard, self.origin)
        if self.duplicates == "drop":
            peptides = drop_duplicates(peptides, self.origin)
        if self.max_samples is not None and self.max_samples < len(peptides.ids):
            fraction = self.max_samples / len(peptides.ids)
            keep, _ = stratified_indices(peptides.labels, [fraction, 1 - fraction], self.seed + 10_000)
            peptides = peptides.subset(keep)
        classes = np.unique(peptides.labels)
        if len(classes) != 2:
            raise DataError(f"{self.origin}: needs both labels 0 and 1, found only {classes.tolist()}")
        parts = stratified_indices(peptides.labels, self.split_sizes, self.seed)
        self.splits = dict(zip(SPLITS, parts))
        empty = [name for name, part in self.splits.items() if len(part) == 0]
        if empty:
            raise ConfigError(
                f"data.split={self.split_sizes}: no records in {', '.join(empty)} out of "
                f"{len(peptides.ids)}; use more data or larger fractions"
            )
        if self.duplicates == "keep":
            leaks = leakage(peptides, self.splits)
            if any(leaks.values()):
                warnings.warn(
                    f"{self.origin}: {leaks['val']} val and {leaks['test']} test records repeat a "
                    "sequence seen in an earlier split (leakage); set data.duplicates=drop to "
                    "remove repeats before splitting",
                    PeptideDataWarning,
                    stacklevel=2,
                )
        index = {s: i for i, s in enumerate(dict.fromkeys(peptides.sequences))}
        self.unique = list(index)
        self.row_of = np.array([index[s] for s in peptides.sequences], dtype=np.int64)
        self.peptides = peptides
        return peptides

    def _embeddings(self) -> EmbeddingStore:
        if self.store is None:
            self.load()
            started = time.perf_counter()
            self.store = self.cache.get_or_compute(self.encoder, self.unique, self.max_len)
            self.embedding_seconds += time.perf_counter() - started
        return self.store

    def prepare_data(self) -> None:
        # Runs once per node before setup: the one place that may compute embeddings.
        self._embeddings()

    def setup(self, stage: str | None = None) -> None:
        self._embeddings()

    def dataset(self, split: str) -> EmbeddingDataset:
        peptides = self.load()
        positions = self.splits[split]
        return EmbeddingDataset(
            self._embeddings(), self.row_of[positions], peptides.labels[positions], positions
        )

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        dataset = self.dataset(split)
        size = self.batch_size if split == "train" else self.eval_batch_size
        lengths = dataset.store.lengths[dataset.rows]
        if shuffle and self.bucket_batches is None:
            sampler = BatchSampler(RandomSampler(dataset), size, drop_last=False)
        else:
            sampler = LengthBucketSampler(lengths, size, self.bucket_batches, shuffle=shuffle)
        return DataLoader(
            dataset,
            batch_sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            collate_fn=_identity_collate,
        )
