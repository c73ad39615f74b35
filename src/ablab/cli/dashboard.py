"""`ablab-dashboard STUDY [--online | --offline]`: a W&B workspace made for the study (see
`ablab.lightning.loggers.workspace` for its panels).

Reads the study's records (variants, seeds, metric, choices), its `study.json` (axes, baseline) and the
W&B run files of its runs (the keys each panel names). Offline (the default when the runs logged
offline) it writes the workspace's specification to `<study>/report/wandb_workspace.json` and says how
to publish it; online (after `wandb login`) it saves the view and prints its URL, and running it again
updates that same view (its URL is kept in `<study>/report/wandb_workspace_url.json`). Exit codes: 0,
2 bad input or a failed upload (one `error:` line).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

SPEC_FILE = "wandb_workspace.json"
URL_FILE = "wandb_workspace_url.json"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ablab-dashboard",
        description="Build a W&B workspace for a study: the metric per variant with error bars over seeds, "
        "validation curves, choices, cost and system panels; grouped by variant.",
    )
    parser.add_argument("study", type=Path, metavar="STUDY", help="the study folder (logs/<study>)")
    parser.add_argument(
        "--online",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="save the view on the W&B server (needs `wandb login`); default: as the study's runs logged "
        "(offline unless they logged online; WANDB_MODE wins)",
    )
    return parser


def _run_files(run_dir: Path) -> list[Path]:
    """The W&B run files of a run's current attempt (offline or online; not those set aside)."""
    return sorted(p for p in run_dir.rglob("run-*.wandb") if "previous" not in p.relative_to(run_dir).parts)


def _varied_choices(records: list[Any]) -> list[str]:
    """The Hydra group choices that differ between the study's runs (`ablation`, `model/attention`)."""
    seen: dict[str, set[str]] = {}
    for run in records:
        for group, option in (run.get("choices") or {}).items():
            seen.setdefault(group, set()).add(str(option))
    return sorted(group for group, options in seen.items() if len(options) > 1)


def gather(folder: Path) -> tuple[Any, list[Path]]:
    """The study's `StudyDashboard` and its runs' W&B files (DataError when the folder cannot serve)."""
    from ablab.analysis.collect import find_run_dirs
    from ablab.analysis.status import read_status_record
    from ablab.errors import DataError
    from ablab.lightning.loggers.wandb_file import read_run
    from ablab.lightning.loggers.workspace import StudyDashboard, keys_of
    from ablab.runs.records import RESULTS_FILE
    from ablab.runs.study import REPLICATE_KEYS, read_study_file

    if not folder.is_dir():
        raise DataError(f"{folder} is not a study folder: pass logs/<study> (the folder a sweep writes)")
    records = [r for r in (read_status_record(d / RESULTS_FILE) for d in find_run_dirs(folder)) if r]
    studies = sorted({str(r.get("study")) for r in records})
    if len(studies) != 1:
        what = f"runs of several studies ({', '.join(studies)})" if studies else "no runs"
        raise DataError(f"{folder} holds {what}: pass one study's folder (logs/<study>)")
    files = [f for d in find_run_dirs(folder) for f in _run_files(d)]
    if not files:
        raise DataError(
            f"{folder}: its runs have no W&B run files (run-*.wandb): the dashboard shows W&B runs, so run "
            "the study with the wandb logger (logger=default or logger=wandb, the default)"
        )
    runs = [read_run(f) for f in files]
    metric = next((r["metric"] for r in records if (r.get("metric") or {}).get("name")), None)
    if metric is None:
        raise DataError(f"{folder}: no run records its metric (results.json field `metric`)")
    plan = read_study_file(folder) or {}
    variants = {str(r.get("variant")) for r in records}
    baseline = plan.get("baseline") if plan.get("baseline") in variants else None
    baseline = baseline or next((n for n in ("baseline", "default") if n in variants), None)
    first = sorted((r.config.get("seed", 0), r.run_id) for r in runs if r.config.get("variant") == baseline)
    spec = StudyDashboard(
        study=studies[0],
        project=runs[0].project or "ablab",
        entity=runs[0].entity or None,
        metric=f"test/{metric['name']}",
        mode=str(metric.get("mode") or "max"),
        baseline=baseline,
        keys=keys_of(runs),
        choices=_varied_choices(records),
        swept=[
            k
            for k in (plan.get("axes") or {})
            if k not in REPLICATE_KEYS and "/" not in k and k != "ablation"
        ],
        baseline_run_id=first[0][1] if first else None,
    )
    return spec, files


def _mode(folder: Path, online: bool | None) -> str:
    from ablab.analysis.collect import find_run_dirs
    from ablab.lightning.loggers.wandb_report import wandb_settings_of_runs
    from ablab.lightning.loggers.wandb_setup import wandb_mode

    if online is not None:
        return "online" if online else "offline"
    settings = wandb_settings_of_runs(find_run_dirs(folder)) or {}
    return wandb_mode(bool(settings.get("offline", True)))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from ablab.errors import AblabError
    from ablab.lightning.console import display_path
    from ablab.lightning.loggers.workspace import (
        build_workspace,
        panels_of,
        save_workspace,
        saved_url_of,
        specification,
    )

    folder = args.study.expanduser()
    try:
        spec, files = gather(folder)
        workspace = build_workspace(spec)
        view = specification(workspace)
        mode = _mode(folder, args.online)
    except AblabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = folder / "report"
    out.mkdir(parents=True, exist_ok=True)
    (out / SPEC_FILE).write_text(json.dumps(view, indent=1, sort_keys=True) + "\n")
    panels = panels_of(view)
    sections = sorted({p["section"] for p in panels})
    print(
        f"W&B workspace {spec.name!r}: {len(panels)} panels in {len(sections)} sections over the "
        f"{len(files)} W&B runs of group {spec.study}, grouped by variant; baseline {spec.baseline}",
    )
    print(f"specification: {display_path(out / SPEC_FILE)}")
    if mode != "online":
        print(
            f"to publish it: `wandb login`, upload the runs (`make sync SYNC_DIR={display_path(folder)}`), then "
            f"`ablab-dashboard {display_path(folder)} --online`"
        )
        return 0
    try:
        url = save_workspace(workspace, saved_url_of(out / URL_FILE))
    except Exception as exc:
        print(
            f"error: saving the workspace to W&B failed ({type(exc).__name__}: {exc}); the specification is "
            f"written: run `wandb login`, or pass --offline",
            file=sys.stderr,
        )
        return 2
    (out / URL_FILE).write_text(json.dumps({"url": url}) + "\n")
    print(f"W&B workspace saved: {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
