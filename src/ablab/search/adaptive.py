"""`sweep.seeds: auto`: the study decides how many seeds each variant needs, look by look.

Run by ablab's grid sweeper in the launching process. Look 1 launches seeds 1..seeds_initial of the
baseline and every variant as one batch through the configured launcher (basic, joblib, SLURM, Ray:
this only builds the batches); after each batch the stopping rule (`ablab.analysis.adaptive`) says
which comparisons are decided, and the next batch is the next look's seeds for the baseline and every
open comparison only. Every job carries `sweep.look=<k>` (outside the run identity; the record keeps
it). Resuming needs nothing special: the rule is a function of the results, so a re-run replays the
looks, its completed runs are skipped by their identity as always, and it goes on from the first
look whose runs are missing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ablab.analysis.adaptive import (
    BUDGET_HOURS,
    BUDGET_RUNS,
    DECIDED,
    FAILED,
    SEEDS_MAX,
    Design,
    VariantState,
    completed_looks,
    seeds_needed,
    study_state,
)
from ablab.errors import ConfigError
from ablab.journal import append_event

SEED_KEY = "seed"
LOOK_OVERRIDE = "sweep.look"


def is_adaptive(config: DictConfig) -> bool:
    """Whether the study asks for adaptive seeding; `sweep.seeds` other than fixed/auto names itself."""
    value = OmegaConf.select(config, "sweep.seeds", default="fixed")
    if value in (None, "fixed"):
        return False
    if value == "auto":
        return True
    raise ConfigError(
        f"sweep.seeds={value!r} is invalid: use sweep.seeds=fixed (the seeds the sweep lists, e.g. seed=1,2,3) "
        "or sweep.seeds=auto (the study decides, docs/statistics.md)"
    )


def _budget(config: DictConfig, name: str, kind: type) -> float | None:
    value = OmegaConf.select(config, f"sweep.{name}", default=None)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or value <= 0
        or (kind is int and value != int(value))
    ):
        raise ConfigError(f"sweep.{name}={value!r} is invalid: must be a positive {kind.__name__} or null")
    return float(value)


@dataclass
class Point:
    """One variant of the grid: its overrides without the seed, and its name."""

    overrides: list[str]
    variant: str


@dataclass
class Ledger:
    """What the study's runs returned so far: metric by seed per variant, run time, failures."""

    values: dict[str, dict[int, float]] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)
    runs: set[tuple[str, int]] = field(default_factory=set)
    failed: list[str] = field(default_factory=list)

    def hours(self) -> float:
        return sum(self.seconds) / 3600

    def mean_hours(self) -> float:
        return (sum(self.seconds) / len(self.seconds) / 3600) if self.seconds else 0.0


def grid_points(
    config: DictConfig, arguments: list[str], config_loader: Any
) -> tuple[list[Point], list[str]]:
    """The variants the sweep's grid names (its seed axis left out: the design chooses the seeds),
    and a note when a typed seed axis was dropped."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from ablab.runs.identity import override_key, variant_from_overrides

    params = OmegaConf.select(config, "hydra.sweeper.params", default=None) or {}
    typed = [f"{k}={v}" for k, v in params.items()] + list(arguments)
    parser = OverridesParser.create(config_loader=config_loader)
    overrides = parser.parse_overrides(typed)
    notes = []
    kept = []
    for override in overrides:
        if str(override.key_or_group) == SEED_KEY:
            if override.is_sweep_override():
                notes.append(
                    f"sweep.seeds=auto: the sweep's seed axis ({override.input_line}) is left out; "
                    "the design runs seeds 1, 2, ... as it needs them"
                )
            continue
        kept.append(override)
    jobs = BasicSweeper.split_arguments(kept, None)[0]
    swept = [str(o.key_or_group) for o in kept if o.is_sweep_override()]
    if not swept:
        raise ConfigError(
            "sweep.seeds=auto compares variants with a baseline, and this sweep varies nothing but seeds: "
            "sweep an ablation or a key (e.g. ablation=hnet/baseline,hnet/no_fc)"
        )
    ignore = list(OmegaConf.select(config, "run_id.ignore", default=[]) or [])
    chosen = OmegaConf.select(config, "hydra.runtime.choices.ablation", default=None)
    points = []
    for job in jobs:
        ablation = next((o.split("=", 1)[1] for o in job if override_key(o) == "ablation"), chosen)
        points.append(Point(list(job), variant_from_overrides(job, ablation, ignore, swept)))
    names = [p.variant for p in points]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(
            f"sweep.seeds=auto: several grid points share the variant name(s) {', '.join(twice)}"
        )
    return points, notes


def _baseline(config: DictConfig, points: list[Point]) -> str:
    """The study's baseline variant, chosen as the study file and the report choose it."""
    from ablab.runs.study import choose_baseline, plan

    ignore = list(OmegaConf.select(config, "run_id.ignore", default=[]) or [])
    name, _ = choose_baseline(config, plan(config.hydra).axes, ignore)
    names = [p.variant for p in points]
    if name not in names:
        raise ConfigError(
            f"sweep.seeds=auto needs a baseline among the variants {', '.join(names)}; the sweep's default "
            f"is {name!r}: include it in the sweep"
        )
    return name


@dataclass
class AdaptiveStudy:
    """The adaptive loop of one multirun."""

    launcher: Any
    points: list[Point]
    baseline: str
    design: Design
    budget_runs: float | None
    budget_hours: float | None
    metric: str
    sweep_dir: Path
    ledger: Ledger = field(default_factory=Ledger)
    job_idx: int = 0

    def batch(self, needs: dict[str, int]) -> list[tuple[Point, int]]:
        """The runs the next look needs that this process has not had back yet."""
        out = []
        for point in self.points:
            have = self.ledger.values.get(point.variant, {})
            for seed in range(1, needs.get(point.variant, 0) + 1):
                if seed not in have and (point.variant, seed) not in self.ledger.runs:
                    out.append((point, seed))
        return out

    def launch(self, runs: list[tuple[Point, int]], look: int) -> None:
        from ablab.search.driver import job_result

        jobs = [[*p.overrides, f"{SEED_KEY}={seed}", f"{LOOK_OVERRIDE}={look}"] for p, seed in runs]
        returns = self.launcher.launch(jobs, initial_job_idx=self.job_idx)
        self.job_idx += len(returns)
        for (point, seed), job_return in zip(runs, returns):
            self.ledger.runs.add((point.variant, seed))
            result, reason = job_result(job_return)
            value = ((result or {}).get("metrics") or {}).get(self.metric)
            if (result or {}).get("status") == "completed" and isinstance(value, int | float):
                self.ledger.values.setdefault(point.variant, {})[seed] = float(value)
                if isinstance(result.get("wall_time_s"), int | float):
                    self.ledger.seconds.append(float(result["wall_time_s"]))
            else:
                why = (
                    reason
                    or ((result or {}).get("error") or {}).get("message")
                    or (result or {}).get("status")
                )
                self.ledger.failed.append(f"{point.variant} seed {seed}: {why}")

    def over_budget(self, size: int) -> str | None:
        if self.budget_runs is not None and len(self.ledger.runs) + size > self.budget_runs:
            return BUDGET_RUNS
        if (
            self.budget_hours is not None
            and self.ledger.hours() + size * self.ledger.mean_hours() > self.budget_hours
        ):
            return BUDGET_HOURS
        return None

    def states(self) -> dict[str, VariantState]:
        values = {p.variant: self.ledger.values.get(p.variant, {}) for p in self.points}
        return study_state(values, self.baseline, self.design)

    def run(self) -> tuple[dict[str, VariantState], str]:
        """Look after look until nothing is open, seeds_max, the budget or a failed run; the states
        and why the study stopped."""
        states = self.states()
        while True:
            needs = seeds_needed(states, self.baseline, self.design)
            if not needs:
                stopped = SEEDS_MAX if any(s.state == "undecided" for s in states.values()) else DECIDED
                return states, stopped
            target = max(needs.values())
            look = self.design.plan.looks.index(target) + 1
            runs = self.batch(needs)
            if not runs:  # every run this look needs came back, yet it is still open: a failed run
                return states, FAILED
            stop = self.over_budget(len(runs))
            if stop is not None:
                return states, stop
            open_ = sorted(n for n in needs if n != self.baseline)
            note(
                f"look {look} of {len(self.design.plan.looks)}: seeds up to {target} for the baseline and "
                f"{len(open_)} open comparison(s) ({', '.join(open_)}): {len(runs)} run(s)"
            )
            self.launch(runs, look)
            states = self.states()
            if self.ledger.failed:
                return states, FAILED
            decided = [f"{n} {s.state}" for n, s in sorted(states.items()) if s.decided and s.look == look]
            if decided:
                note(f"look {look}: decided {', '.join(decided)}")
            self.save(states, "running")

    def save(self, states: dict[str, VariantState], stopped: str) -> dict[str, Any]:
        """The study's `adaptive` block in study.json, after every look: a killed study's report still
        knows its design and where it stood."""
        from ablab.runs.records import write_json_atomic
        from ablab.runs.study import STUDY_FILE, read_study_file

        block = summary(self, states, stopped)
        data = read_study_file(self.sweep_dir) or {}
        write_json_atomic(self.sweep_dir / STUDY_FILE, {**data, "adaptive": block})
        return block


def note(message: str) -> None:
    """A line in the study's terminal (through the journal, in order with the runs' lines)."""
    append_event({"event": "note", "message": message})


def summary(study: AdaptiveStudy, states: dict[str, VariantState], stopped: str) -> dict[str, Any]:
    """study.json's `adaptive` block: the design, why the study stopped, and per variant its seeds,
    state and why it got no more."""
    seeds = {name: len(values) for name, values in study.ledger.values.items()}
    return {
        "design": study.design.to_dict(),
        "metric": study.metric,
        "budget_runs": study.budget_runs,
        "budget_hours": study.budget_hours,
        "stopped": stopped,
        "looks": completed_looks(states, study.design),
        "runs": len(study.ledger.runs),
        "run_hours": round(study.ledger.hours(), 4),
        "failed": study.ledger.failed,
        "baseline": {"name": study.baseline, "seeds": seeds.get(study.baseline, 0)},
        "variants": {
            name: {
                "state": s.state,
                "seeds": seeds.get(name, 0),
                "paired_seeds": s.seeds,
                "look": s.look,
                "why": s.why(stopped),
                "p_difference": s.p_difference,
                "p_equivalence": s.p_equivalence,
            }
            for name, s in sorted(states.items())
        },
        "updated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def run_adaptive(config: DictConfig, launcher: Any, arguments: list[str], config_loader: Any) -> None:
    """The adaptive study of this multirun, to its end; its summary goes into study.json."""
    sweep_dir = Path(str(config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(config, sweep_dir / "multirun.yaml")
    study = prepare(config, launcher, arguments, config_loader, sweep_dir)
    study.save(study.states(), "running")
    states, stopped = study.run()
    block = study.save(states, stopped)
    for line in closing_lines(block):
        note(line)


def check_settings(config: DictConfig) -> tuple[Design, float | None, float | None]:
    """The design and the run and hour budgets of `sweep.*`, checked before the study starts;
    ConfigError names a bad field."""
    margin = OmegaConf.select(config, "report.margin", default=None)
    mode = str(OmegaConf.select(config, "metric.mode", default="max"))
    sweep = OmegaConf.to_container(config.sweep, resolve=True)
    budgets = _budget(config, "budget_runs", int), _budget(config, "budget_hours", float)
    return Design.from_config(sweep, margin, mode), *budgets


def prepare(
    config: DictConfig, launcher: Any, arguments: list[str], config_loader: Any, sweep_dir: Path
) -> AdaptiveStudy:
    """The study's grid, baseline and design from the multirun's config; ConfigError names a bad field."""
    design, budget_runs, budget_hours = check_settings(config)
    points, notes = grid_points(config, arguments, config_loader)
    study = AdaptiveStudy(
        launcher=launcher,
        points=points,
        baseline=_baseline(config, points),
        design=design,
        budget_runs=budget_runs,
        budget_hours=budget_hours,
        metric=f"test/{config.metric.name}",
        sweep_dir=sweep_dir,
    )
    first = len(points) * design.plan.seeds_initial
    if study.budget_runs is not None and study.budget_runs < first:
        raise ConfigError(
            f"sweep.budget_runs={study.budget_runs:g} is below the first look's {first} runs "
            f"({len(points)} variants x {design.plan.seeds_initial} seeds): raise it or sweep fewer variants"
        )
    for line in notes:
        note(line)
    return study


def closing_lines(block: dict[str, Any]) -> list[str]:
    """What the terminal says when the study stops: why, and per variant its seeds and state."""
    stopped = block["stopped"]
    if stopped == BUDGET_RUNS:
        reason = f"the run budget ({block['budget_runs']:g} runs) would be passed by the next look"
    elif stopped == BUDGET_HOURS:
        reason = f"the time budget ({block['budget_hours']:g} h) would be passed by the next look"
    else:
        reason = {
            DECIDED: "every comparison is decided",
            SEEDS_MAX: f"seeds_max ({block['design']['plan']['seeds_max']}) reached",
            FAILED: "runs failed; re-run the same command to retry them and go on",
        }[stopped]
    lines = [
        f"adaptive seeds: stopped after look {block['looks']}, {block['runs']} run(s): {reason}",
        f"  {block['baseline']['name']} (baseline): {block['baseline']['seeds']} seeds",
    ]
    lines += [f"  {name}: {v['seeds']} seeds, {v['why']}" for name, v in block["variants"].items()]
    lines += [f"  failed: {line}" for line in block["failed"]]
    return lines
