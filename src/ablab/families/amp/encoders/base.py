"""One interface for protein encoders: sequences -> per-residue embeddings + lengths (mask, pooled vector).

Encoders compute in length-sorted batches under a token budget and hand each sequence's (length, D)
embedding to a sink, so callers choose where rows go (an in-memory array, or a file on disk for the
embedding cache) without holding every embedding twice.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ablab.errors import require

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
UNKNOWN = "X"
# Index of every byte in AMINO_ACIDS (upper or lower case); anything else is the unknown row 20.
_LOOKUP = np.full(256, len(AMINO_ACIDS), dtype=np.int64)
for _i, _aa in enumerate(AMINO_ACIDS):
    _LOOKUP[ord(_aa)] = _LOOKUP[ord(_aa.lower())] = _i

RowSink = Callable[[int, np.ndarray], None]


def residue_indices(sequence: str) -> np.ndarray:
    """0..19 for the standard amino acids (AMINO_ACIDS order), 20 for anything else."""
    return _LOOKUP[np.frombuffer(sequence.encode("ascii", "replace"), dtype=np.uint8)]


def length_sorted_batches(
    lengths: np.ndarray, max_tokens: int, overhead: int = 0, max_padding: float = 0.25
) -> Iterator[np.ndarray]:
    """Indices, longest first, in batches of size x (longest length + overhead) <= max_tokens (at least
    one sequence each) whose members are all within `max_padding` of the longest: little padding, so
    batching saves per-call overhead without adding work, and memory stays bounded."""
    order = np.argsort(-lengths, kind="stable")
    start = 0
    while start < len(order):
        width = int(lengths[order[start]]) + overhead
        end = start + 1
        while (
            end < len(order)
            and (end - start + 1) * width <= max_tokens
            and int(lengths[order[end]]) + overhead >= (1 - max_padding) * width
        ):
            end += 1
        yield order[start:end]
        start = end


def masked_mean(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Mean over each sequence's residues 0..length-1 (padding excluded): the usual sequence embedding."""
    mask = np.arange(values.shape[1])[None, :] < lengths[:, None]
    sums = (values.astype(np.float32) * mask[..., None]).sum(axis=1)
    return sums / np.maximum(lengths, 1)[:, None].astype(np.float32)


def file_fingerprint(paths: Sequence[Path], sample_bytes: int = 1 << 20) -> str:
    """Content fingerprint of weight files without reading gigabytes: name, size, first and last MiB.

    Catches a different model, a re-saved or fine-tuned checkpoint and a truncated download; two files
    identical in size, head and tail but different in the middle would collide (not a realistic case
    for checkpoints, whose headers and tails hold the tensor index and last layers)."""
    digest = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.name):
        size = path.stat().st_size
        digest.update(f"{path.name}:{size}:".encode())
        with path.open("rb") as handle:
            digest.update(handle.read(sample_bytes))
            if size > sample_bytes:
                handle.seek(max(size - sample_bytes, sample_bytes))
                digest.update(handle.read(sample_bytes))
    return digest.hexdigest()[:16]


@dataclass
class Embeddings:
    """Per-residue embeddings (N, max_len, D), zero-padded, and each sequence's length."""

    values: np.ndarray
    lengths: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        """(N, max_len) True on residues, False on padding."""
        return np.arange(self.values.shape[1])[None, :] < self.lengths[:, None]

    def pooled(self) -> np.ndarray:
        """(N, D) mean over residues."""
        return masked_mean(self.values, self.lengths)


class Encoder(ABC):
    """Sequences -> per-residue embeddings. Subclasses give `identity()` and `_embed_batch()`."""

    #: tokens a model adds around each sequence (BOS/EOS), counted against the batch token budget
    token_overhead = 0

    def __init__(self, name: str, embedding_dim: int, max_tokens: int = 4096, progress: bool = True) -> None:
        require(embedding_dim > 0, "encoder.embedding_dim", embedding_dim, "must be > 0")
        require(max_tokens >= 1, "encoder.max_tokens", max_tokens, "must be >= 1 (tokens per batch)")
        self.name = name
        self.embedding_dim = embedding_dim
        self.max_tokens = max_tokens
        self.progress = progress

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """Everything that determines the embeddings (name, parameters, weights fingerprint, precision):
        the embedding cache's key. Cheap: never loads a model."""

    @abstractmethod
    def _embed_batch(self, sequences: list[str]) -> list[np.ndarray]:
        """One (len(sequence), embedding_dim) float array per sequence, BOS/EOS excluded."""

    def prepare(self) -> None:
        """Load weights before the first batch (no-op for table encoders)."""
        return None

    def encode_into(self, sequences: Sequence[str], max_len: int, sink: RowSink) -> np.ndarray:
        """Embed `sequences` (truncated to `max_len`) in length-sorted batches; sink(i, (len_i, D)) for
        each; return the lengths."""
        require(max_len >= 1, "data.max_len", max_len, "must be >= 1")
        lengths = np.array([min(len(s), max_len) for s in sequences], dtype=np.int64)
        self.prepare()
        from tqdm.auto import tqdm

        with tqdm(
            total=len(sequences),
            unit="seq",
            desc=f"embeddings ({self.name})",
            disable=not self.progress,
            mininterval=2.0,
        ) as bar:
            for batch in length_sorted_batches(lengths, self.max_tokens, self.token_overhead):
                rows = self._embed_batch([sequences[i][:max_len] for i in batch])
                for i, row in zip(batch, rows):
                    if row.shape != (lengths[i], self.embedding_dim):
                        raise RuntimeError(
                            f"encoder {self.name} returned {row.shape} for a sequence of "
                            f"length {lengths[i]}, expected ({lengths[i]}, {self.embedding_dim})"
                        )
                    sink(int(i), row)
                bar.update(len(batch))
        return lengths

    def encode(self, sequences: Sequence[str], max_len: int, dtype: Any = np.float32) -> Embeddings:
        """All embeddings in memory; for small sets and tests (the data module goes through the cache)."""
        values = np.zeros((len(sequences), max_len, self.embedding_dim), dtype=dtype)

        def sink(i: int, row: np.ndarray) -> None:
            values[i, : len(row)] = row

        lengths = self.encode_into(sequences, max_len, sink)
        return Embeddings(values, lengths)


class TableEncoder(Encoder):
    """Per-residue lookup in a (21, D) table: 20 amino acids in AMINO_ACIDS order, then unknown."""

    def __init__(
        self,
        name: str,
        table: np.ndarray,
        embedding_dim: int,
        max_tokens: int = 65536,
        progress: bool = False,
        **identity: Any,
    ) -> None:
        super().__init__(name, embedding_dim, max_tokens, progress)
        require(
            table.shape[1] == embedding_dim,
            "encoder.embedding_dim",
            embedding_dim,
            f"the {name} encoding has {table.shape[1]} features per residue; set encoder.embedding_dim="
            f"{table.shape[1]}",
        )
        self.table = np.ascontiguousarray(table, dtype=np.float32)
        self._identity = identity

    def identity(self) -> dict[str, Any]:
        table_hash = hashlib.sha256(self.table.tobytes()).hexdigest()[:16]
        return {"name": self.name, "embedding_dim": self.embedding_dim, "table": table_hash, **self._identity}

    def _embed_batch(self, sequences: list[str]) -> list[np.ndarray]:
        return [self.table[residue_indices(s)] for s in sequences]
