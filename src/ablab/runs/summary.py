"""Hydra callback around a multirun: the study's header, its live progress, its summary and exit code."""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from ablab.journal import JOURNAL_ENV, read_events
from ablab.lightning.console import display_path
from ablab.runs.context import SWEPT_ENV
from ablab.runs.records import OCCASIONAL, Outcome
from ablab.runs.watch import OUTCOMES, StudyWatch, duration

# `make sweep` passes a file here; the summary writes the study folder into it once the sweep has run,
# so that make reports on exactly that sweep, and on nothing when the sweep never got to run.
RESULT_ENV = "ABLAB_SWEEP_RESULT"


class SweepSummary(Callback):
    """Hands the jobs their sweep context before they start (the journal to append to, the keys the
    sweep varies, which name the study and the variants) through the environment, which reaches joblib
    workers and SLURM jobs alike; shows the study's progress while it runs; summarises the journal when
    the jobs have ended and exits non-zero when a run failed."""

    def __init__(self) -> None:
        self.journal: Path | None = None
        self.watch: StudyWatch | None = None
        self.started = time.monotonic()

    def __getstate__(self) -> dict[str, Any]:
        """Launchers pickle their callbacks into every job (joblib, SLURM): the terminal stream and the
        watching thread stay in the launching process."""
        return {**self.__dict__, "watch": None}

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from ablab.runs.study import choose_baseline, plan, write_study_file

        _refuse_a_search_that_does_not_wait(config)
        for name in (SWEPT_ENV, JOURNAL_ENV):  # left by a sweep this process was started from
            os.environ.pop(name, None)
        study_plan = adaptive_plan(config, plan(config.hydra))
        os.environ[SWEPT_ENV] = ",".join(sorted(a.key for a in study_plan.axes))
        sweep_dir = Path(config.hydra.sweep.dir)
        journal_dir = sweep_dir / ".journal"
        journal_dir.mkdir(parents=True, exist_ok=True)
        self.journal = journal_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.jsonl"
        self.journal.touch()
        os.environ[JOURNAL_ENV] = str(self.journal)
        ignore = list(OmegaConf.select(config, "run_id.ignore", default=[]) or [])
        study_plan.baseline, study_plan.baseline_rule = choose_baseline(config, study_plan.axes, ignore)
        write_study_file(sweep_dir, str(config.study), study_plan)
        terminal = _terminal()
        for line in header(config, study_plan, sweep_dir):
            terminal.write(line + "\n")
        terminal.flush()
        self.started = time.monotonic()
        self.watch = StudyWatch(self.journal, terminal, study_plan.total)
        self.watch.start()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.journal is None:
            return
        if self.watch is not None:
            self.watch.stop()
        os.environ.pop(JOURNAL_ENV, None)
        os.environ.pop(SWEPT_ENV, None)
        sweep_dir = Path(config.hydra.sweep.dir)
        events = read_events(self.journal)
        counts, problems = summarise(events)
        if not waits(config):
            _say_submitted(sweep_dir, counts, time.monotonic() - self.started)
            _write_result(sweep_dir)
            return
        line = " / ".join(f"{counts[o]} {o}" for o in OUTCOMES if o not in OCCASIONAL or counts[o])
        if counts["unfinished"]:
            line += f" / {counts['unfinished']} unfinished"
        out = sys.stderr
        print(
            f"sweep {display_path(sweep_dir)}: {line} ({duration(time.monotonic() - self.started)})", file=out
        )
        for problem in problems:
            print(f"  {problem}", file=out)
        wandb_line = _wandb_line(config, sweep_dir)
        if wandb_line:
            print(wandb_line, file=out)
        print(f"report: ablab-report {display_path(sweep_dir)}", file=out)
        _write_result(sweep_dir)
        if counts[Outcome.FAILED] or counts[Outcome.OOM] or counts["unfinished"]:
            raise SystemExit(1)


def adaptive_plan(config: DictConfig, study_plan: Any) -> Any:
    """An adaptive study (`sweep.seeds: auto`) chooses its seeds and so its size as it goes: no seed
    axis, no total."""
    if OmegaConf.select(config, "sweep.seeds", default=None) != "auto":
        return study_plan
    study_plan.axes = [a for a in study_plan.axes if a.key != "seed"]
    study_plan.total = None
    return study_plan


def _refuse_a_search_that_does_not_wait(config: DictConfig) -> None:
    """`hydra.launcher.wait=false` with a search (Optuna): it needs each trial's result before it asks
    for the next. Said in one line before the sweeper opens its storage or asks for a trial."""
    sweeper = str(OmegaConf.select(config, "hydra.sweeper._target_", default="") or "")
    adaptive = OmegaConf.select(config, "sweep.seeds", default=None) == "auto"
    if waits(config) or (sweeper.endswith(("BasicSweeper", "GridSweeper")) and not adaptive):
        return
    needs = (
        "sweep.seeds=auto needs each look's results to choose the next seeds"
        if adaptive
        else f"the sweeper {sweeper.rsplit('.', 1)[-1]} needs each trial's result to choose the next"
    )
    print(
        f"error: hydra.launcher.wait=false submits and returns, but {needs}: drop hydra.launcher.wait=false",
        file=sys.stderr,
    )
    raise SystemExit(2)


def _write_result(sweep_dir: Path) -> None:
    result = os.environ.get(RESULT_ENV)
    if result:
        Path(result).write_text(f"{sweep_dir}\n")


def waits(config: DictConfig) -> bool:
    """Whether the launcher waits for the study's jobs (`hydra.launcher.wait=false` does not)."""
    return bool(OmegaConf.select(config, "hydra.launcher.wait", default=True))


def _say_submitted(sweep_dir: Path, counts: Counter, seconds: float) -> None:
    """The end of a submission that does not wait: where to follow the study and report on it."""
    where = display_path(sweep_dir)
    skipped = f", {counts[Outcome.SKIPPED]} completed earlier" if counts[Outcome.SKIPPED] else ""
    print(
        f"sweep {where}: submitted{skipped} ({duration(seconds)}); not waiting for the jobs", file=sys.stderr
    )
    print(f"status: ablab-status {where} (--watch to follow it)", file=sys.stderr)
    print(f"report: ablab-report {where} (what has finished so far, and what has not)", file=sys.stderr)


def _terminal() -> TextIO:
    """A stream on the launching terminal that outlives the redirection of stderr inside jobs."""
    sys.stderr.flush()
    return os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1, encoding="utf-8", errors="replace")


def _launcher(config: DictConfig) -> str:
    launcher = OmegaConf.select(config, "hydra.launcher", default=None) or {}
    target = str(launcher.get("_target_", ""))
    if "joblib" in target.lower():
        return f"{launcher.get('n_jobs')} at a time (joblib)"
    if "slurm" in target.lower():
        partition = launcher.get("partition")
        waiting = "" if launcher.get("wait", True) else ", submitted without waiting"
        return "on SLURM" + (f" (partition {partition})" if partition else "") + waiting
    if target.endswith("LocalLauncher"):
        return "through submitit's local executor"
    if "ray" in target.lower():
        return "on Ray"
    return "one at a time"


def header(config: DictConfig, study_plan: Any, sweep_dir: Path) -> list[str]:
    """The study's first lines: what runs, where, and the config all its runs share."""
    from ablab.runs.config_tree import shared_config_lines

    axes = ", ".join(f"{a.key} × {len(a.values)}" if a.values else a.key for a in study_plan.axes)
    size = f"{study_plan.total} runs" if study_plan.total else "runs"
    lines = [
        f"study {config.study}: {size} ({axes}), {_launcher(config)} → {display_path(sweep_dir)}",
    ]
    if study_plan.baseline:
        lines.append(f"  baseline: {study_plan.baseline} ({study_plan.baseline_rule})")
    if OmegaConf.select(config, "sweep.seeds", default=None) == "auto":
        lines.append(f"  seeds: {_adaptive_line(config)}")
    lines.append(f"  shared config (in full: {display_path(sweep_dir / 'multirun.yaml')}):")
    swept = [a.key for a in study_plan.axes]
    lines += [f"    {line}" for line in shared_config_lines(config, swept)]
    lines.append(f"  each run's output: {display_path(sweep_dir)}/<variant>/<run>/train.log")
    return lines


def _adaptive_line(config: DictConfig) -> str:
    """The adaptive design in one line: its looks, error rate and budget."""
    from ablab.analysis.sequential import Plan

    sweep = config.sweep
    looks = Plan(int(sweep.seeds_initial), int(sweep.seeds_step), int(sweep.seeds_max)).looks
    budget = [
        f"{sweep[k]:g} {unit}" for k, unit in (("budget_runs", "runs"), ("budget_hours", "h")) if sweep.get(k)
    ]
    return (
        f"auto, looks at {', '.join(map(str, looks))} seeds until each comparison is decided "
        f"(family-wise alpha {sweep.alpha:g}, {sweep.boundary} spending"
        + (f", budget {' / '.join(budget)}" if budget else "")
        + ")"
    )


def _wandb_line(config: DictConfig, sweep_dir: Path) -> str | None:
    """One line for the W&B runs of the study, when its runs log to W&B offline."""
    wandb = OmegaConf.select(config, "logger.wandb", default=None)
    if wandb is None:
        return None
    mode = os.environ.get("WANDB_MODE", "offline" if wandb.get("offline", True) else "online")
    if mode != "offline":
        return f"W&B: runs logged online to project {wandb.get('project')} (group {config.study})"
    where = display_path(sweep_dir)
    return (
        f"W&B: offline runs under {where}/*/*/wandb; upload them with "
        f"`make sync SYNC_DIR={where}` after `wandb login`"
    )


def summarise(events: list[dict[str, Any]]) -> tuple[Counter, list[str]]:
    """Count each job's last outcome; jobs that started but never ended count as unfinished."""
    last: dict[str, dict[str, Any]] = {}
    for event in events:
        if "run_dir" in event and "outcome" in event:
            last[event["run_dir"]] = event
    counts: Counter = Counter({o: 0 for o in (*OUTCOMES, "unfinished")})
    problems = []
    for run_dir, event in sorted(last.items()):
        outcome = event.get("outcome", "unfinished")
        counts[outcome if outcome in OUTCOMES else "unfinished"] += 1
        if outcome in (Outcome.FAILED, Outcome.DIVERGED, Outcome.OOM, Outcome.STARTED):
            reason = event.get("reason") or "the job ended without a record (killed?)"
            reason = reason.strip().splitlines()[0] if reason.strip() else reason
            problems.append(
                f"{outcome if outcome != 'started' else 'unfinished'}: {display_path(run_dir)}: {reason}"
            )
    return counts, problems
