"""Find the runs under sweep or run folders and read their records and per-epoch curves.

Reads only `results.json` (through `ablab.runs.records`) and `csv/metrics.csv`: no torch, no lightning.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ablab.errors import DataError
from ablab.runs.records import RESULTS_FILE, CorruptRecord, read_record

CURVES_FILE = Path("csv") / "metrics.csv"
SET_ASIDE = "previous"  # older attempts the runner moved out of the way; never part of a report

Warn = Callable[[str], None]


def warn_stderr(message: str) -> None:
    """Default warning sink: one `warning:` line on stderr."""
    print(f"warning: {message}", file=sys.stderr)


@dataclass(frozen=True)
class Run:
    """One run's record, reduced to what a comparison needs."""

    path: Path
    study: str
    variant: str
    seed: int | None
    status: str
    metric_name: str | None
    metric_mode: str | None
    metrics: dict[str, float] = field(default_factory=dict)
    cost: dict[str, float] = field(default_factory=dict)
    reason: str | None = None
    config_hash: str = ""
    finished_at: str = ""
    data_hash: str | None = None  # fingerprint of the data files the run read (None: generated data)
    references: dict[str, Any] | None = None  # the data set's floors and ceilings ({key, rows})
    epochs: int | None = None
    data_sizes: dict[str, int] = field(default_factory=dict)
    margin: float | None = None  # report.margin when the run was made: the smallest difference that matters


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def run_from_record(record: dict[str, Any], path: Path) -> Run:
    """A `Run` from a checked record; study and variant fall back to the folder layout
    `<study>/<variant>/seed<seed>-<hash>`."""
    metric = record.get("metric") or {}
    error = record.get("error") or {}
    seed = record.get("seed")
    return Run(
        path=path,
        study=str(record.get("study") or path.parent.parent.name),
        variant=str(record.get("variant") or path.parent.name),
        seed=int(seed) if isinstance(seed, int | float) and not isinstance(seed, bool) else None,
        status=record["status"],
        metric_name=metric.get("name"),
        metric_mode=metric.get("mode"),
        metrics={k: _number(v) for k, v in (record.get("metrics") or {}).items()},
        cost={k: _number(v) for k, v in (record.get("cost") or {}).items()},
        reason=error.get("message") if isinstance(error, dict) else str(error),
        config_hash=str(record.get("config_hash", "")),
        finished_at=str(record.get("finished_at") or record.get("started_at") or ""),
        data_hash=(record.get("data") or {}).get("hash") if isinstance(record.get("data"), dict) else None,
        references=record.get("references") if isinstance(record.get("references"), dict) else None,
        epochs=record.get("epochs") if isinstance(record.get("epochs"), int) else None,
        data_sizes=record.get("data_sizes") if isinstance(record.get("data_sizes"), dict) else {},
        margin=_margin(record),
    )


def _margin(record: dict[str, Any]) -> float | None:
    report = record.get("report")
    value = report.get("margin") if isinstance(report, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def find_run_dirs(root: Path) -> list[Path]:
    """Folders under `root` (itself included) holding a results.json, skipping `previous/` and hidden
    folders; a run folder is not searched further."""
    found = []
    for current, dirs, files in os.walk(root):
        if RESULTS_FILE in files:
            found.append(Path(current))
            dirs.clear()
            continue
        dirs[:] = sorted(d for d in dirs if d != SET_ASIDE and not d.startswith("."))
    return found


def collect_runs(paths: Iterable[Path | str], warn: Warn = warn_stderr) -> list[Run]:
    """Every readable run under `paths`. A missing folder or one without runs raises DataError; a
    corrupt results.json is skipped with one warning naming it."""
    runs: dict[Path, Run] = {}
    for given in paths:
        root = Path(given).expanduser()
        if not root.is_dir():
            what = "is not a folder" if root.exists() else "does not exist"
            raise DataError(f"{root} {what}: pass a sweep folder (e.g. logs/<study>) or a run folder")
        run_dirs = find_run_dirs(root)
        if not run_dirs:
            raise DataError(
                f"no runs under {root}: expected <study>/<variant>/seed<seed>-<hash>/{RESULTS_FILE}; "
                "run a study first (python train.py -m sweep=hnet) or check the path"
            )
        for run_dir in run_dirs:
            key = run_dir.resolve()
            if key in runs:
                continue
            try:
                record = read_record(run_dir / RESULTS_FILE)
            except CorruptRecord as exc:
                warn(f"skipped {exc}")
                continue
            runs[key] = run_from_record(record, run_dir)
    return list(runs.values())


def read_curves(run_dir: Path, prefix: str = "val/") -> pd.DataFrame:
    """Per-epoch metrics starting with `prefix` from `<run>/csv/metrics.csv`, one row per epoch.

    Lightning's CSVLogger writes train and val values of one epoch on separate rows and appends rows
    again after a resume, so for each column the last logged value of each epoch wins. Empty when the
    file is missing or unreadable.
    """
    path = run_dir / CURVES_FILE
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError):
        return pd.DataFrame()
    if "epoch" not in frame.columns:
        return pd.DataFrame()
    columns = [c for c in frame.columns if c.startswith(prefix)]
    frame = frame.dropna(subset=["epoch"])
    curves = frame.groupby(frame["epoch"].astype(int))[columns].last()
    return curves.dropna(how="all")
