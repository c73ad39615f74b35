"""Peptide sets for the AMP family, read and checked: modlAMP's shipped sets, a CSV or a FASTA plus
labels; cleaned (length, non-standard residues), deduplicated, split by a stratified seed."""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ablab.errors import DataError
from ablab.families.amp.encoders.base import UNKNOWN
from ablab.lightning.csvfiles import delimiter_hint, read_text

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
