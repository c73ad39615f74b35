"""What a family's code tells the researcher while a run prepares (`generating HNet data ...`), wherever
the run is: through the sweep journal to the study's terminal inside a sweep, on stderr alone."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from ablab.journal import JOURNAL_ENV, append_event

# Set by ablab.runs.console while a sweep's job writes its stdout and stderr into its train.log.
_REDIRECTED = {"now": False}


def in_sweep() -> bool:
    """Whether this process runs a job of a multirun that has a journal (set by SweepSummary)."""
    return bool(os.environ.get(JOURNAL_ENV))


def redirected() -> bool:
    """Whether this process's stdout and stderr go to a training run's train.log now."""
    return _REDIRECTED["now"]


def announce(message: str) -> None:
    """Tell the researcher what a long step does (`generating HNet data: 27,000 samples`) or what
    went wrong before training: through the journal to the study's terminal inside a sweep (and into
    the run's train.log while it trains), else on stderr."""
    if in_sweep():
        append_event({"event": "note", "message": message})
    if not in_sweep() or redirected():
        print(message, file=sys.stderr, flush=True)


def display_path(path: Path | str) -> str:
    """A path relative to the current folder when it lies under it (`logs/hnet_ablation`)."""
    path = Path(path)
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    return str(path)
