"""Read an offline W&B run file (`run-<id>.wandb`) without uploading it: its run record, config,
history, summary and system stats. Tests use it to prove what a run sent to W&B; users can use it to
look into offline runs before `make sync`.

The file is a LevelDB-style log (a 7-byte header `:W&B`, magic 0xBEE1, version; then 32 KiB blocks of
chunks, each with a CRC-32 of its type byte and data, a length and a type FULL/FIRST/MIDDLE/LAST)
whose payloads are `wandb.proto.wandb_internal_pb2.Record` protobufs.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ablab.errors import DataError

_HEADER = struct.Struct("<4sHB")
_CHUNK = struct.Struct("<IHB")
_BLOCK = 32768
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def records(path: Path | str) -> Iterator[Any]:
    """The Record protobufs of a .wandb file, in order; a torn tail (a killed writer) ends the scan."""
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    if len(data) < _HEADER.size:
        return
    ident, magic, _ = _HEADER.unpack_from(data)
    if ident != b":W&B" or magic != 0xBEE1:
        raise DataError(f"{path}: not a W&B run file (header {data[:7]!r}); pass a run-<id>.wandb file")
    pos, pending = _HEADER.size, b""
    while True:
        room = _BLOCK - pos % _BLOCK
        if room < _CHUNK.size:  # block trailer: padding up to the next block
            pos += room
        if pos + _CHUNK.size > len(data):
            return
        checksum, length, kind = _CHUNK.unpack_from(data, pos)
        chunk = data[pos + _CHUNK.size : pos + _CHUNK.size + length]
        if len(chunk) < length or zlib.crc32(bytes([kind]) + chunk) != checksum:
            return
        pos += _CHUNK.size + length
        pending = chunk if kind in (_FULL, _FIRST) else pending + chunk
        if kind in (_FULL, _LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record


def _set(target: dict[str, Any], item: Any) -> None:
    keys = list(item.nested_key) or [item.key]
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = json.loads(item.value_json)


def _unset(target: dict[str, Any], item: Any) -> None:
    keys = list(item.nested_key) or [item.key]
    for key in keys[:-1]:
        target = target.get(key, {})
    target.pop(keys[-1], None)


@dataclass
class OfflineRun:
    """What one .wandb file holds, decoded."""

    path: Path
    run_id: str = ""
    project: str = ""
    entity: str = ""
    group: str = ""
    job_type: str = ""
    name: str = ""
    tags: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    stats: list[dict[str, Any]] = field(default_factory=list)
    exit_code: int | None = None

    def metric(self, key: str) -> list[Any]:
        """Every logged value of `key`, in order."""
        return [row[key] for row in self.history if key in row]


def read_run(path: Path | str) -> OfflineRun:
    """Decode a `run-<id>.wandb` file (or the offline-run folder holding one)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("run-*.wandb"))
        if not files:
            raise DataError(f"{path}: no run-<id>.wandb file in this folder; pass a W&B offline-run folder")
        path = files[0]
    run = OfflineRun(path=path)
    for record in records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            r = record.run
            run.run_id, run.project, run.entity = r.run_id, r.project, r.entity
            run.group, run.job_type, run.name = r.run_group, r.job_type, r.display_name
            run.tags = list(r.tags)
            for item in r.config.update:
                _set(run.config, item)
        elif kind == "config":
            for item in record.config.update:
                _set(run.config, item)
            for item in record.config.remove:
                _unset(run.config, item)
        elif kind == "history":
            row: dict[str, Any] = {}
            for item in record.history.item:
                _set(row, item)
            run.history.append(row)
        elif kind == "summary":
            for item in record.summary.update:
                _set(run.summary, item)
            for item in record.summary.remove:
                _unset(run.summary, item)
        elif kind == "stats":
            run.stats.append({item.key: json.loads(item.value_json) for item in record.stats.item})
        elif kind == "exit":
            run.exit_code = record.exit.exit_code
    return run


def find_runs(root: Path | str) -> list[Path]:
    """Every offline-run folder under `root` (not those set aside under `previous/`), oldest first."""
    folders = [p for p in Path(root).rglob("offline-run-*") if p.is_dir() and "previous" not in p.parts]
    return sorted(folders, key=lambda p: p.name.split("-")[2])
