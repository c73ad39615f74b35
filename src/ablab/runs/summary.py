"""Hydra callback: print a sweep's summary and make the sweep exit non-zero if any run failed."""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from ablab.runs.identity import SWEPT_ENV, swept_keys
from ablab.runs.journal import JOURNAL_ENV, read_events

OUTCOMES = ("completed", "skipped", "failed", "diverged")


class SweepSummary(Callback):
    """Hands the jobs their sweep context before they start (the journal to append to, the keys the
    sweep varies, which name the variants) through the environment, which reaches joblib workers and
    SLURM jobs alike; reads the journal when the jobs have ended."""

    def __init__(self) -> None:
        self.journal: Path | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        journal_dir = sweep_dir / ".journal"
        journal_dir.mkdir(parents=True, exist_ok=True)
        self.journal = journal_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.jsonl"
        self.journal.touch()
        os.environ[JOURNAL_ENV] = str(self.journal)
        sweeper_params = OmegaConf.select(config, "hydra.sweeper.params", default=None)
        os.environ[SWEPT_ENV] = ",".join(swept_keys(list(config.hydra.overrides.task), sweeper_params))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.journal is None:
            return
        os.environ.pop(JOURNAL_ENV, None)
        os.environ.pop(SWEPT_ENV, None)
        counts, problems = summarise(read_events(self.journal))
        line = " / ".join(f"{counts[o]} {o}" for o in OUTCOMES)
        if counts["unfinished"]:
            line += f" / {counts['unfinished']} unfinished"
        print(f"\nsweep {config.hydra.sweep.dir}: {line}", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        if counts["failed"] or counts["unfinished"]:
            raise SystemExit(1)


def summarise(events: list[dict[str, Any]]) -> tuple[Counter, list[str]]:
    """Count each job's last outcome; jobs that started but never ended count as unfinished."""
    last: dict[str, dict[str, Any]] = {}
    for event in events:
        last[event["run_dir"]] = event
    counts: Counter = Counter({o: 0 for o in (*OUTCOMES, "unfinished")})
    problems = []
    for run_dir, event in sorted(last.items()):
        outcome = event.get("outcome", "unfinished")
        counts[outcome if outcome in OUTCOMES else "unfinished"] += 1
        if outcome in ("failed", "diverged", "started"):
            reason = event.get("reason") or "the job ended without a record (killed?)"
            problems.append(f"{outcome if outcome != 'started' else 'unfinished'}: {run_dir}: {reason}")
    return counts, problems
