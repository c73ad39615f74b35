"""On-disk embedding cache: per-residue embeddings computed once per (encoder identity, data, max_len).

Layout under the cache root (`paths.cache_dir`/embeddings):
    <encoder>-<key>/embeddings.npy   (N, max_len, D) float16, zero-padded, read memory-mapped
    <encoder>-<key>/lengths.npy      (N,) residues per sequence (the mask)
    <encoder>-<key>/meta.json        what made it: encoder identity, data hash, shape, seconds
    events.jsonl                     one line per `computed` / `hit`, with seconds (tests and benchmarks
                                     count computations from it)
The key hashes the encoder's identity (name, parameters, weights fingerprint, precision), the sequences
and max_len. A folder is written under a temporary name and renamed when complete, so a folder that
exists is whole. A file lock per key makes concurrent sweep jobs compute once: one computes, the
others wait and then read.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ablab.errors import DataError
from ablab.families.amp.encoders.base import Encoder
from ablab.lightning.console import announce

CACHE_VERSION = 1
EVENTS_FILE = "events.jsonl"
STORE_DTYPE = np.float16


def sequences_hash(sequences: Sequence[str]) -> str:
    """Content hash of the sequences in order (embeddings are per row, labels do not matter)."""
    digest = hashlib.sha256()
    for sequence in sequences:
        digest.update(sequence.encode())
        digest.update(b"\n")
    return digest.hexdigest()[:16]


def cache_key(identity: dict[str, Any], data_hash: str, max_len: int) -> str:
    """Hash of everything the stored embeddings depend on."""
    text = json.dumps(
        {
            "encoder": identity,
            "data": data_hash,
            "max_len": max_len,
            "dtype": np.dtype(STORE_DTYPE).str,
            "version": CACHE_VERSION,
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class _NpyRowWriter:
    """Writes rows of a zero-initialised (sparse) .npy file with pwrite: no mapping, so computing a
    multi-GB cache does not grow the process's resident memory."""

    def __init__(self, path: Path, shape: tuple[int, int, int], dtype: Any) -> None:
        self.dtype = np.dtype(dtype)
        self.row_bytes = shape[1] * shape[2] * self.dtype.itemsize
        with path.open("wb") as handle:
            np.lib.format.write_array_header_1_0(
                handle,
                {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": shape},
            )
            self.offset = handle.tell()
            handle.truncate(self.offset + shape[0] * self.row_bytes)
        self.fd = os.open(path, os.O_WRONLY)

    def __call__(self, i: int, row: np.ndarray) -> None:
        os.pwrite(
            self.fd, np.ascontiguousarray(row, dtype=self.dtype).tobytes(), self.offset + i * self.row_bytes
        )

    def close(self) -> None:
        os.fsync(self.fd)
        os.close(self.fd)


def _npy_layout(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """Shape, dtype and data offset of a C-ordered .npy file."""
    with path.open("rb") as handle:
        version = np.lib.format.read_magic(handle)
        reader = (
            np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        )
        shape, fortran_order, dtype = reader(handle)
        if fortran_order:
            raise DataError(f"{path}: Fortran-ordered embeddings; delete the folder to recompute it")
        return shape, dtype, handle.tell()


class EmbeddingStore:
    """Read side of one cache entry: rows fetched from a read-only memory map.

    Pages a process touches in a file mapping count towards its resident memory until unmapped, so
    after every `release_bytes` read the store tells the kernel it no longer needs them (MADV_DONTNEED):
    the data stay in the page cache (re-reads are cheap) and the process's RSS stays bounded however
    large the cache file is."""

    def __init__(self, folder: Path, release_bytes: int = 64 << 20) -> None:
        self.folder = Path(folder)
        self.meta = json.loads((self.folder / "meta.json").read_text())
        self.lengths = np.load(self.folder / "lengths.npy")
        self.shape, self.dtype, self._offset = _npy_layout(self.folder / "embeddings.npy")
        if len(self.shape) != 3 or self.shape[0] != len(self.lengths):
            raise DataError(
                f"{self.folder}: embeddings {self.shape} do not match {len(self.lengths)} lengths; "
                "delete the folder to recompute it"
            )
        self.release_bytes = release_bytes
        self._mm: mmap.mmap | None = None
        self._array: np.ndarray | None = None
        self._touched = 0

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def embedding_dim(self) -> int:
        return self.shape[2]

    @property
    def array(self) -> np.ndarray:
        """(N, max_len, D) read-only view on the mapping (opened lazily, also in DataLoader workers)."""
        if self._array is None:
            with (self.folder / "embeddings.npy").open("rb") as handle:
                self._mm = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            self._array = np.ndarray(self.shape, dtype=self.dtype, buffer=self._mm, offset=self._offset)
        return self._array

    def rows(self, indices: np.ndarray, trim: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """float32 (B, T, D) embeddings and (B,) lengths of `indices`; T is the longest of them when
        `trim`, else max_len (padding beyond a batch's longest sequence carries nothing)."""
        indices = np.asarray(indices, dtype=np.int64)
        lengths = self.lengths[indices]
        width = max(int(lengths.max(initial=1)), 1) if trim else self.shape[1]
        order = np.argsort(indices, kind="stable")
        out = np.empty((len(indices), width, self.shape[2]), dtype=np.float32)
        out[order] = self.array[indices[order], :width]
        self._touched += out.size * self.dtype.itemsize
        if self._touched >= self.release_bytes and self._mm is not None:
            self._mm.madvise(mmap.MADV_DONTNEED)
            self._touched = 0
        return out, lengths

    def pooled(self, indices: np.ndarray) -> np.ndarray:
        """(B, D) mean over residues: a sequence embedding for non-sequential models."""
        values, lengths = self.rows(indices)
        mask = np.arange(values.shape[1])[None, :] < lengths[:, None]
        return (values * mask[..., None]).sum(axis=1) / np.maximum(lengths, 1)[:, None]

    def __getstate__(self) -> dict[str, Any]:
        # A memory map does not pickle; spawned DataLoader workers reopen it lazily.
        return {**self.__dict__, "_mm": None, "_array": None, "_touched": 0}


class EmbeddingCache:
    """Get-or-compute embeddings for (encoder, sequences, max_len) under `root`."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _log(self, event: str, **fields: Any) -> None:
        line = json.dumps({"event": event, "time": time.time(), "pid": os.getpid(), **fields})
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / EVENTS_FILE).open("a") as handle:
            handle.write(line + "\n")

    def events(self) -> list[dict[str, Any]]:
        """Every logged event, oldest first."""
        path = self.root / EVENTS_FILE
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def folder(self, encoder: Encoder, sequences: Sequence[str], max_len: int) -> Path:
        """Where (encoder, sequences, max_len) is stored; resolves the encoder's identity (cheap)."""
        return (
            self.root / f"{encoder.name}-{cache_key(encoder.identity(), sequences_hash(sequences), max_len)}"
        )

    def get_or_compute(self, encoder: Encoder, sequences: Sequence[str], max_len: int) -> EmbeddingStore:
        """The stored embeddings, computing them first if no job has (waiting while another job does)."""
        from filelock import FileLock, Timeout

        started = time.perf_counter()
        final = self.folder(encoder, sequences, max_len)
        waited = False
        if not (final / "meta.json").exists():
            self.root.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(self.root / f".{final.name}.lock"))
            try:
                lock.acquire(timeout=0)
            except Timeout:
                announce(f"embeddings {encoder.name}: another job is computing {final.name}; waiting for it")
                waited = True
                lock.acquire()
            try:
                if not (final / "meta.json").exists():
                    announce(
                        f"computing {encoder.name} embeddings of {len(sequences):,} peptides "
                        f"(once; cached in {self.root})"
                    )
                    self._compute(encoder, sequences, max_len, final)
                    self._log(
                        "computed",
                        encoder=encoder.name,
                        key=final.name,
                        n=len(sequences),
                        seconds=round(time.perf_counter() - started, 4),
                    )
                    return EmbeddingStore(final)
            finally:
                lock.release()
        store = EmbeddingStore(final)
        seconds = time.perf_counter() - started
        self._log(
            "hit",
            encoder=encoder.name,
            key=final.name,
            n=len(sequences),
            seconds=round(seconds, 4),
            waited=waited,
        )
        print(
            f"embeddings {encoder.name}: cached {store.shape} in {seconds:.2f} s ({final})", file=sys.stderr
        )
        return store

    def _compute(self, encoder: Encoder, sequences: Sequence[str], max_len: int, final: Path) -> None:
        started = time.perf_counter()
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=self.root))
        try:
            shape = (len(sequences), max_len, encoder.embedding_dim)
            writer = _NpyRowWriter(tmp / "embeddings.npy", shape, STORE_DTYPE)
            try:
                lengths = encoder.encode_into(sequences, max_len, writer)
            finally:
                writer.close()
            np.save(tmp / "lengths.npy", lengths)
            seconds = time.perf_counter() - started
            meta = {
                "encoder": encoder.identity(),
                "data": sequences_hash(sequences),
                "max_len": max_len,
                "shape": list(shape),
                "dtype": np.dtype(STORE_DTYPE).str,
                "seconds": round(seconds, 3),
                "version": CACHE_VERSION,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        print(f"embeddings {encoder.name}: computed {shape} in {seconds:.1f} s -> {final}", file=sys.stderr)
