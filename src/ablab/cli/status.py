"""`ablab-status STUDY [--watch [--interval S]]`: a table of a study's runs while it runs and after it ends.

Per run: variant, seed, status (queued / running with its epoch / completed / failed with its reason /
diverged / skipped, or whatever status a record holds), SLURM job id and state where there is one, the
compared test metric and the run's time; then the counts, the best variant so far and an ETA. Works for
every launcher: it reads the study's journals, records and metrics.csv files (`ablab.analysis.status`)
and asks squeue/sacct about SLURM jobs. Never imports torch or lightning. Exit codes: 0, 2 bad input.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from typing import Any

REASON_WIDTH = 80


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ablab-status",
        description="Show where a study stands: each run's status, SLURM job, metric; counts, best so far, ETA.",
    )
    parser.add_argument("study", type=Path, metavar="STUDY", help="the study folder (logs/<study>)")
    parser.add_argument(
        "--watch", action="store_true", help="refresh the table until every run has ended (Ctrl-C stops)"
    )
    parser.add_argument(
        "--interval", type=float, default=10.0, help="seconds between refreshes with --watch (default 10)"
    )
    return parser


def summary_lines(status: Any) -> list[str]:
    """The lines under the table: counts, best so far, ETA (what `ablab-report` also prints)."""
    from ablab.runs.watch import duration

    counts = status.counts()
    size = f"{status.total} runs" if status.total else f"{len(status.runs)} runs"
    lines = [
        f"study {status.study}: {size}: " + ", ".join(f"{n} {what}" for what, n in sorted(counts.items()))
    ]
    best = status.best()
    if best is not None:
        variant, mean, seeds, top = best
        lines.append(
            f"best so far: {variant} {status.metric} {mean:.4g} (mean of {seeds} seed{'s' * (seeds > 1)}; "
            f"best run seed {top.seed}: {top.value:.4g})"
        )
    if status.finished:
        lines.append("every run has ended")
    elif status.eta_s is not None:
        lines.append(f"ETA {duration(status.eta_s)} (from the durations of the runs that trained)")
    return lines


def render(status: Any) -> Any:
    """The table and its summary lines as one rich renderable."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from ablab.runs.watch import duration

    table = Table(title=f"study {status.study}", title_justify="left")
    for column in ("variant", "seed", "status", "SLURM job", "state", status.metric or "metric", "time"):
        table.add_column(column, overflow="fold")
    for run in status.runs:
        table.add_row(
            run.label
            if run.variant is None
            else f"{run.family}/{run.variant}"
            if run.family
            else run.variant,
            "" if run.seed is None else str(run.seed),
            run.describe(REASON_WIDTH),
            run.job_id or "",
            run.job_state or "",
            "" if run.value is None else f"{run.value:.4g}",
            "" if run.wall_time_s is None else duration(run.wall_time_s),
        )
    lines = [Text(line) for line in summary_lines(status)]
    if status.not_started:
        lines.insert(0, Text(f"{status.not_started} more run(s) not started yet"))
    return Group(table, *lines)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from rich.console import Console

    from ablab.analysis.status import study_status
    from ablab.errors import AblabError

    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, 160)
    try:
        status = study_status(args.study)
        if not args.watch or not console.is_terminal:
            console.print(render(status))
        if args.watch:
            _watch(console, status, args)
    except AblabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


def _watch(console: Any, status: Any, args: argparse.Namespace) -> None:
    """Refresh until every run has ended: in place on a terminal, one table per refresh in a log."""
    from rich.live import Live

    from ablab.analysis.status import study_status

    live = Live(render(status), console=console, auto_refresh=False) if console.is_terminal else None
    with live or contextlib.nullcontext():
        while not status.finished:
            time.sleep(max(0.2, args.interval))
            status = study_status(args.study)
            if live is not None:
                live.update(render(status), refresh=True)
            else:
                console.print(render(status))


if __name__ == "__main__":
    sys.exit(main())
