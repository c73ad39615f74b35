"""`ablab-report DIR... [--out DIR] [--baseline NAME] [--metric NAME] [--margin M] [--[no-]wandb]`:
tables and plots of ablation studies. A study that is still running is reported on what has finished, and the runs that
have not (queued, running, not started) are listed after it.

Reads the runs' results.json and csv/metrics.csv only, so it starts in about a second and never imports
torch or lightning; wandb only when the report is logged to W&B (`--wandb`, the default when the runs
used the wandb logger). Exit codes: 0 done, 2 bad input (one `error:` line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ablab-report",
        description="Compare the variants of ablation studies over seeds against a baseline: "
        "comparison_table.csv/.md, report.html and PNG plots.",
    )
    parser.add_argument(
        "dirs",
        nargs="+",
        type=Path,
        metavar="DIR",
        help="sweep folders (logs/<study>) or run folders; studies are reported apart",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="report folder (default: <first DIR>/report; one subfolder per study when there are several)",
    )
    parser.add_argument(
        "--baseline",
        default=None,
        help="variant to compare against (default: the baseline the sweep declared in <study>/study.json "
        "(a plain multirun's default value, else its first value typed), else 'baseline', else 'default', "
        "else the first variant alphabetically; never one without a completed run)",
    )
    parser.add_argument(
        "--metric",
        default=None,
        help="metric to compare, e.g. accuracy (read as test/accuracy) or val/loss "
        "(default: the study's primary metric)",
    )
    parser.add_argument(
        "--alpha", type=float, default=0.05, help="significance level after Holm's correction (default 0.05)"
    )
    parser.add_argument(
        "--margin",
        type=float,
        default=None,
        help="the smallest difference that matters, in metric units: beyond it a significant delta is "
        "better/worse, within it (two one-sided tests) equivalent (default: the report.margin the runs "
        "recorded, set per experiment; none: no equivalence verdicts)",
    )
    parser.add_argument(
        "--wandb",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also log each report (tables, plots) to W&B as a job_type=report run in the study's group, "
        "offline unless the runs logged online (default: when the study's runs used the wandb logger)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Write the reports; print a table per study; return the exit code."""
    args = _parser().parse_args(argv)
    from rich.console import Console

    from ablab.analysis import make_reports, rich_table
    from ablab.analysis.tables import adaptive_line
    from ablab.errors import AblabError
    from ablab.lightning.console import display_path

    if not 0 < args.alpha < 1:
        print(f"error: --alpha={args.alpha} must lie between 0 and 1", file=sys.stderr)
        return 2
    if args.margin is not None and not args.margin > 0:
        print(f"error: --margin={args.margin} must be positive (metric units, e.g. 0.005)", file=sys.stderr)
        return 2
    try:
        reports = make_reports(
            args.dirs,
            out=args.out,
            baseline=args.baseline,
            metric=args.metric,
            alpha=args.alpha,
            margin=args.margin,
        )
    except AblabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, 160)  # piped into a log: do not squeeze the table to 80
    for report in reports:
        comparison = report.comparison
        for verdict in comparison.verdicts:  # what the references say, before any number is read
            console.print(
                f"note: {comparison.study}: {verdict}", style="bold yellow", markup=False, highlight=False
            )
        console.print(rich_table(comparison))
        console.print(
            f"baseline: {comparison.baseline} ({comparison.baseline_rule}); "
            f"{len(comparison.runs)} run(s); * = significant after Holm (alpha {comparison.alpha:g})",
            markup=False,
            highlight=False,
        )
        seeds_line = adaptive_line(comparison)
        if seeds_line:
            console.print(seeds_line, markup=False, highlight=False)
        console.print(
            f"report: {display_path(report.report_dir)} ({report.html.name}, "
            f"{len(report.plots)} plots, comparison_table.csv/.md)",
            markup=False,
            highlight=False,
        )
        if args.wandb is not False:
            from ablab.lightning.loggers.wandb_report import report_to_wandb

            try:
                folder = report_to_wandb(report, always=bool(args.wandb))
            except AblabError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            if folder is not None:
                console.print(f"W&B: {display_path(folder)}", markup=False, highlight=False)
    for line in unfinished_lines(args.dirs):
        console.print(line, markup=False, highlight=False)
    return 0


def unfinished_lines(dirs: list[Path]) -> list[str]:
    """What a study that is still running has not finished yet (queued and running runs, runs not
    started): the report above holds only what has ended."""
    from ablab.analysis.status import study_status
    from ablab.errors import AblabError
    from ablab.lightning.console import display_path

    lines = []
    for folder in dirs:
        try:
            status = study_status(folder)
        except AblabError:
            continue
        left = status.unfinished
        if not left and not status.not_started:
            continue
        count = len(left) + status.not_started
        lines.append(
            f"not finished yet in {display_path(folder)}: {count} run(s) (the report averages finished runs only)"
        )
        lines += [f"  {run.label}: {run.describe()}" for run in left]
        if status.not_started:
            lines.append(f"  {status.not_started} run(s) not started yet")
        lines.append(f"  follow them with `ablab-status {display_path(folder)}`; report again when they end")
    return lines


if __name__ == "__main__":
    sys.exit(main())
