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

import csv
import io
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, Sampler

from ablab.errors import ConfigError, DataError, require
from ablab.families.amp.encoders.base import UNKNOWN, Encoder
from ablab.families.amp.encoders.cache import EmbeddingCache, EmbeddingStore
from ablab.lightning.csvfiles import delimiter_hint, read_text
from ablab.lightning.datamodule import DataInfo, SplitDataModule

MODLAMP_SETS = {"AMPvsUniProt": "load_AMPvsUniProt", "AMPvsTM": "load_AMPvsTM"}
SOURCES = (*MODLAMP_SETS, "csv", "fasta")
NONSTANDARD = "BJOUXZ"
SPLITS = ("train", "val", "test")
_SHOWN = 8


class PeptideDataWarning(UserWarning):
    """Data were changed or look suspicious (truncation, duplicates, leakage) but training can go on."""


@dataclass
class Peptides:
    """Sequences with binary labels; `where` names each record's origin for error messages."""

    ids: list[str]
    sequences: list[str]
    labels: np.ndarray
    where: list[str] = field(default_factory=list)

    def subset(self, keep: Sequence[int] | np.ndarray) -> Peptides:
        keep = [int(i) for i in keep]
        return Peptides(
            [self.ids[i] for i in keep],
            [self.sequences[i] for i in keep],
            self.labels[keep],
            [self.where[i] for i in keep],
        )


def _places(where: list[str]) -> str:
    more = f" and {len(where) - _SHOWN} more" if len(where) > _SHOWN else ""
    return ", ".join(where[:_SHOWN]) + more


def _label(value: str, place: str, bad: list[str]) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if number not in (0.0, 1.0):
        bad.append(f"{place} ({value!r})")
        return 0
    return int(number)


def read_modlamp(name: str) -> Peptides:
    """A data set shipped with modlAMP (offline): target 1 = AMP."""
    import modlamp.datasets

    data = getattr(modlamp.datasets, MODLAMP_SETS[name])()
    sequences = [str(s) for s in data.sequences]
    return Peptides(
        [f"{name}_{i + 1}" for i in range(len(sequences))],
        sequences,
        np.asarray(data.target, dtype=np.int64),
        [f"row {i + 1}" for i in range(len(sequences))],
    )


def read_csv(path: Path) -> Peptides:
    """The reference study's CSV: `Sequence`, `label` (0/1), optional `Length` and `id`."""
    if not path.is_file():
        raise DataError(f"data.path={path}: file not found; give a CSV with columns Sequence,label")
    reader = csv.DictReader(io.StringIO(read_text(path, "data.path"), newline=""))
    columns = {c.strip().lower(): c for c in reader.fieldnames or []}
    missing = [c for c in ("sequence", "label") if c not in columns]
    if missing:
        raise DataError(
            f"data.path={path}: no column {' or '.join(missing)} (found "
            f"{', '.join(reader.fieldnames or []) or 'none'}); the CSV needs Sequence,label"
            f"{delimiter_hint(list(reader.fieldnames or []))}"
        )
    ids, sequences, labels, where, bad = [], [], [], [], []
    for line, row in enumerate(reader, start=2):
        place = f"line {line}"
        sequences.append(row[columns["sequence"]] or "")
        labels.append(_label(row[columns["label"]], place, bad))
        ids.append((row.get(columns.get("id", ""), "") or "").strip() or f"{path.stem}_{line - 1}")
        where.append(place)
    if bad:
        raise DataError(f"data.path={path}: label must be 0 or 1 at {_places(bad)}")
    return Peptides(ids, sequences, np.asarray(labels, dtype=np.int64), where)


def read_fasta(path: Path, labels_path: Path | None) -> Peptides:
    """FASTA records labelled by a CSV `id,label` (ids: the first word of each header)."""
    if not path.is_file():
        raise DataError(f"data.path={path}: FASTA file not found")
    if labels_path is None or not Path(labels_path).is_file():
        raise DataError(
            f"data.labels_path={labels_path}: labels file not found; FASTA input needs a CSV "
            "with columns id,label"
        )
    ids, chunks, where = [], [], []
    for line_no, line in enumerate(read_text(path, "data.path").splitlines(), start=1):
        if line.startswith(">"):
            name = line[1:].split()[0] if line[1:].split() else ""
            if not name:
                raise DataError(f"data.path={path}: empty FASTA header at line {line_no}")
            ids.append(name)
            chunks.append([])
            where.append(f"{name} (line {line_no})")
        elif line.strip():
            if not chunks:
                raise DataError(f"data.path={path}: sequence before the first '>' header at line {line_no}")
            chunks[-1].append(line.strip())
    seen: dict[str, int] = {}
    repeated = [where[k] for k, i in enumerate(ids) if seen.setdefault(i, k) != k]
    if repeated:
        raise DataError(f"data.path={path}: repeated record ids {_places(repeated)}; ids must be unique")
    reader = csv.DictReader(io.StringIO(read_text(Path(labels_path), "data.labels_path"), newline=""))
    columns = {c.strip().lower(): c for c in reader.fieldnames or []}
    if "id" not in columns or "label" not in columns:
        raise DataError(
            f"data.labels_path={labels_path}: needs columns id,label (found "
            f"{', '.join(reader.fieldnames or []) or 'none'}){delimiter_hint(list(reader.fieldnames or []))}"
        )
    bad: list[str] = []
    by_id = {
        row[columns["id"]].strip(): _label(row[columns["label"]], f"line {n}", bad)
        for n, row in enumerate(reader, start=2)
    }
    if bad:
        raise DataError(f"data.labels_path={labels_path}: label must be 0 or 1 at {_places(bad)}")
    unlabelled = [w for i, w in zip(ids, where) if i not in by_id]
    if unlabelled:
        raise DataError(f"data.labels_path={labels_path}: no label for FASTA records {_places(unlabelled)}")
    return Peptides(
        ids, ["".join(c) for c in chunks], np.array([by_id[i] for i in ids], dtype=np.int64), where
    )


def clean(peptides: Peptides, max_len: int, nonstandard: str, origin: str) -> Peptides:
    """Upper-case; reject empty and non-letter sequences; map non-standard letters to X or reject
    them; truncate to max_len with a counted warning. Errors name every offending record."""
    empty, non_letters, odd = [], [], []
    sequences = []
    for sequence, place in zip(peptides.sequences, peptides.where):
        sequence = "".join(sequence.split()).upper()
        if not sequence:
            empty.append(place)
        elif not (sequence.isascii() and sequence.isalpha()):
            non_letters.append(place)
        elif any(c in NONSTANDARD for c in sequence):
            odd.append(place)
        sequences.append(sequence)
    if empty:
        raise DataError(f"{origin}: empty sequences at {_places(empty)}; remove those records")
    if non_letters:
        raise DataError(
            f"{origin}: sequences with characters other than letters (digits, gaps, '*', "
            f"punctuation) at {_places(non_letters)}; fix or remove those records"
        )
    if odd and nonstandard == "reject":
        raise DataError(
            f"{origin}: non-standard residues ({', '.join(NONSTANDARD)}) at {_places(odd)}; set "
            "data.nonstandard=unknown to map them to X, or fix those records"
        )
    table = str.maketrans(dict.fromkeys(NONSTANDARD, UNKNOWN))
    sequences = [s.translate(table) for s in sequences]
    long = [len(s) for s in sequences if len(s) > max_len]
    if long:
        warnings.warn(
            f"{origin}: {len(long)} sequences longer than data.max_len={max_len} truncated "
            f"(longest {max(long)})",
            PeptideDataWarning,
            stacklevel=2,
        )
    return Peptides(peptides.ids, [s[:max_len] for s in sequences], peptides.labels, peptides.where)


def drop_duplicates(peptides: Peptides, origin: str) -> Peptides:
    """Keep each sequence's first record; drop sequences whose copies disagree on the label entirely."""
    labels_of: dict[str, set[int]] = {}
    for sequence, label in zip(peptides.sequences, peptides.labels):
        labels_of.setdefault(sequence, set()).add(int(label))
    seen: set[str] = set()
    keep = []
    for i, sequence in enumerate(peptides.sequences):
        if sequence not in seen and len(labels_of[sequence]) == 1:
            keep.append(i)
        seen.add(sequence)
    conflicting = sum(1 for v in labels_of.values() if len(v) > 1)
    if len(keep) < len(peptides.sequences):
        warnings.warn(
            f"{origin}: data.duplicates=drop removed {len(peptides.sequences) - len(keep)} records "
            f"repeating a sequence ({conflicting} sequences had conflicting labels and were dropped "
            "entirely)",
            PeptideDataWarning,
            stacklevel=2,
        )
    return peptides.subset(keep)


def stratified_indices(labels: np.ndarray, sizes: Sequence[float], seed: int) -> list[np.ndarray]:
    """Split 0..N-1 into len(sizes) parts with each class split in the same proportions."""
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in sizes]
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        cuts = np.round(np.cumsum(sizes)[:-1] * len(members)).astype(int)
        for part, chunk in zip(parts, np.split(members, cuts)):
            part.extend(chunk.tolist())
    return [np.sort(np.array(p, dtype=np.int64)) for p in parts]


def leakage(peptides: Peptides, splits: dict[str, np.ndarray]) -> dict[str, int]:
    """How many val/test records repeat a sequence from an earlier split (train, then val)."""
    seen = {peptides.sequences[i] for i in splits["train"]}
    counts = {}
    for name in ("val", "test"):
        counts[name] = sum(peptides.sequences[i] in seen for i in splits[name])
        seen |= {peptides.sequences[i] for i in splits[name]}
    return counts


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
        require(batch_size >= 1 and eval_batch_size >= 1, "data.batch_size", batch_size, "must be >= 1")
        require(
            isinstance(encoder, Encoder),
            "data.encoder",
            type(encoder).__name__,
            "must be an ablab encoder (pick one with encoder=...)",
        )
        self.encoder = encoder
        self.source, self.path, self.labels_path = source, path, labels_path
        self.max_len, self.nonstandard, self.duplicates = max_len, nonstandard, duplicates
        self.split_sizes = [float(f) for f in split]
        self.max_samples = max_samples
        require(
            bucket_batches is None or bucket_batches >= 1,
            "data.bucket_batches",
            bucket_batches,
            "must be null (plain shuffled batches) or >= 1 (batches per length bucket)",
        )
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
