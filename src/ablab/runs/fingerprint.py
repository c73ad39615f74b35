"""Fingerprints of the data files a run reads, part of the run's identity: changed data is a new run.

The config names its input files in `run_id.inputs` (conf/train.yaml): dotted config keys such as
`data.path`, or `{field: data.csv_path, lists: path}` for a CSV whose `path` column names more files
(relative to the CSV's folder). The run hash is computed by Hydra's resolvers before the job starts,
so this module imports only the standard library and omegaconf: `--cfg job` and skipped runs stay
cheap. A file up to `LARGE` bytes is fingerprinted by its content (sha256); a larger one by its size,
modification time and a hash of three `SAMPLE`-byte blocks. Digests are kept per process, keyed by
path, size, mtime, ctime and inode, since the hash is resolved several times per job.

Hand-written because neither Hydra nor Lightning knows which config fields are files; the data caches
key their own arrays by content (`ablab.lightning.cache`, `ablab.families.amp.encoders.cache`) but only once the job runs.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

LARGE = 256 * 2**20
SAMPLE = 4 * 2**20
HASH_LENGTH = 16
_digests: dict[tuple[str, int, int, int, int], dict[str, Any]] = {}


def _content(path: Path, stat: os.stat_result) -> dict[str, Any]:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        if stat.st_size <= LARGE:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
            return {"size": stat.st_size, "sha256": digest.hexdigest()}
        for offset in (0, (stat.st_size - SAMPLE) // 2, stat.st_size - SAMPLE):
            handle.seek(offset)
            digest.update(handle.read(SAMPLE))
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256_sampled": digest.hexdigest()}


def file_fingerprint(path: Path) -> dict[str, Any]:
    """What a file's contents are now: `{size, sha256}`, or for large files `{size, mtime_ns,
    sha256_sampled}`; a folder (of frames, say) as the fingerprints of its files; `{missing: true}` or
    `{error: ...}` where there is nothing to read (the reader then says what is wrong)."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return {"missing": True}
    except OSError as exc:
        return {"error": f"{type(exc).__name__}: {exc.strerror}"}
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        return {"files": {str(p.relative_to(path)): file_fingerprint(p) for p in files}}
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)
    if key not in _digests:
        try:
            _digests[key] = _content(path, stat)
        except OSError as exc:
            return {"error": f"{type(exc).__name__}: {exc.strerror}"}
    return dict(_digests[key])


def _listed(csv_path: Path, column: str) -> dict[str, Any]:
    """The files a CSV names in `column` (relative to its folder), by their name in the CSV."""
    try:
        with csv_path.open(newline="", encoding="utf-8-sig") as handle:
            names = [(row.get(column) or "").strip() for row in csv.DictReader(handle)]
    except (OSError, UnicodeDecodeError, csv.Error):
        return {}
    return {name: file_fingerprint(csv_path.parent / name) for name in dict.fromkeys(names) if name}


def _entries(cfg: DictConfig) -> list[tuple[str, str | None]]:
    entries = []
    for entry in OmegaConf.select(cfg, "run_id.inputs", default=None) or []:
        if isinstance(entry, str):
            entries.append((entry, None))
        else:
            entries.append((str(entry["field"]), entry.get("lists")))
    return entries


def data_fingerprint(cfg: DictConfig) -> dict[str, Any] | None:
    """`{"hash": ..., "files": {field: {path, ...fingerprint}}}` for the input files the config sets,
    or None when it reads none (generated or packaged data, which the code and versions determine)."""
    files: dict[str, Any] = {}
    for field, lists in _entries(cfg):
        try:
            value = OmegaConf.select(cfg, field, default=None, throw_on_missing=False)
        except Exception:  # `${hydra:...}` outside Hydra: the job itself resolves and hashes it
            continue
        if value is None or value == "":
            continue
        path = Path(str(value)).expanduser()
        found = file_fingerprint(path)
        if found.get("missing"):  # a hub name, or a file the data module will ask for by name
            continue
        entry = {"path": str(path.absolute()), **found}
        if lists and path.is_file():
            entry["listed"] = _listed(path, str(lists))
        files[field] = entry
    if not files:
        return None
    content = {field: {k: v for k, v in entry.items() if k != "path"} for field, entry in files.items()}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:HASH_LENGTH]
    return {"hash": digest, "files": files}


def changed_files(stored: dict[str, Any] | None, current: dict[str, Any] | None) -> list[str]:
    """The fields whose files differ between two fingerprints (`data.path`), or [] when they match
    or the stored one is unknown (a checkpoint from before fingerprints)."""
    if not stored or (current or {}).get("hash") == stored.get("hash"):
        return []
    old, new = stored.get("files", {}), (current or {}).get("files", {})
    strip = lambda e: {k: v for k, v in (e or {}).items() if k != "path"}  # noqa: E731
    return sorted(f for f in set(old) | set(new) if strip(old.get(f)) != strip(new.get(f)))
