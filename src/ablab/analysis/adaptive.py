"""Where an adaptive study (`sweep.seeds: auto`) stands, from its per-seed results alone: per variant
the sequential verdict against the baseline, the seeds it used, and what it needs next.

One function for the sweeper and the report: the sweeper asks it after every look which runs come
next; the report asks it again from the records, so the verdicts it prints are always those of the
runs on disk (a killed and resumed study gives the same answer as one that ran straight through).
Seeds are numbered 1, 2, ...: look k holds seeds 1..n_k of every comparison still open.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ablab.analysis.sequential import (
    BOUNDARIES,
    CONTINUE,
    UNDECIDED,
    Plan,
    decide,
)
from ablab.errors import ConfigError

# Why a variant got no more seeds; the study-level reasons add the budget and failed runs.
DECIDED, SEEDS_MAX, BUDGET_RUNS, BUDGET_HOURS, FAILED = (
    "decided",
    "seeds_max",
    "budget_runs",
    "budget_hours",
    "failed runs",
)


@dataclass(frozen=True)
class Design:
    """The sequential design of an adaptive study: its looks, error rate, spending and margin."""

    plan: Plan
    alpha: float = 0.05
    boundary: str = "obrien_fleming"
    margin: float | None = None
    mode: str = "max"

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ConfigError(f"sweep.alpha={self.alpha!r} is invalid: must lie between 0 and 1 (e.g. 0.05)")
        if self.boundary not in BOUNDARIES:
            raise ConfigError(f"sweep.boundary={self.boundary!r} is not one of {', '.join(BOUNDARIES)}")

    @classmethod
    def from_config(cls, sweep: Mapping[str, Any], margin: float | None, mode: str) -> Design:
        """From the `sweep` config node; a non-integer seed count names its field."""
        counts = {}
        for name in ("seeds_initial", "seeds_step", "seeds_max"):
            value = sweep.get(name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(
                    f"sweep.{name}={value!r} is invalid: must be an integer (e.g. sweep.{name}=3)"
                )
            counts[name] = value
        return cls(
            plan=Plan(**counts),
            alpha=float(sweep.get("alpha", 0.05)),
            boundary=str(sweep.get("boundary", "obrien_fleming")),
            margin=None if margin is None else float(margin),
            mode=mode,
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "looks": list(self.plan.looks)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Design:
        plan = data["plan"]
        return cls(
            plan=Plan(int(plan["seeds_initial"]), int(plan["seeds_step"]), int(plan["seeds_max"])),
            alpha=float(data.get("alpha", 0.05)),
            boundary=str(data.get("boundary", "obrien_fleming")),
            margin=data.get("margin"),
            mode=str(data.get("mode", "max")),
        )


@dataclass(frozen=True)
class VariantState:
    """One variant against the baseline: its sequential state (better, worse, equivalent, continue,
    undecided), the paired seeds the rule used, the look (1-based) that decided it, the seed count it
    needs next (continue only), and its sequential p-values."""

    state: str
    seeds: int
    look: int | None
    next_seeds: int | None
    p_difference: float
    p_equivalence: float

    @property
    def decided(self) -> bool:
        return self.state not in (CONTINUE, UNDECIDED)

    def why(self, stopped: str | None = None) -> str:
        """Why this variant got no more seeds (or why it goes on), in words for the report."""
        if self.decided:
            return f"decided {self.state} at look {self.look} ({self.seeds} seeds)"
        if self.state == UNDECIDED:
            return f"undecided at seeds_max ({self.seeds} seeds)"
        if stopped in (BUDGET_RUNS, BUDGET_HOURS):
            return f"undecided: the study stopped at its budget ({stopped}) after {self.seeds} seeds"
        if stopped == FAILED:
            return f"undecided: the study stopped on failed runs after {self.seeds} seeds"
        return f"open: needs seeds up to {self.next_seeds}"


def paired_differences(values: Mapping[int, float], base: Mapping[int, float]) -> list[float]:
    """variant - baseline on seeds 1, 2, ... up to the first seed either of them lacks (or has no
    finite value for): the rule's looks need consecutive seeds."""
    out = []
    seed = 1
    while seed in values and seed in base:
        a, b = values[seed], base[seed]
        if not (
            isinstance(a, int | float)
            and isinstance(b, int | float)
            and math.isfinite(a)
            and math.isfinite(b)
        ):
            break
        out.append(float(a) - float(b))
        seed += 1
    return out


def study_state(
    values: Mapping[str, Mapping[int, float]], baseline: str, design: Design
) -> dict[str, VariantState]:
    """Per variant other than the baseline, where it stands, from the metric by seed of every variant
    (the baseline's included). A variant without seeds yet needs the first look."""
    names = [v for v in values if v != baseline]
    base = values.get(baseline, {})
    differences = [paired_differences(values[v], base) for v in names]
    decisions = decide(
        differences,
        design.plan,
        mode=design.mode,
        alpha=design.alpha,
        boundary=design.boundary,
        margin=design.margin,
    )
    looks = design.plan.looks
    out = {}
    for name, decision in zip(names, decisions):
        look = None
        if decision.state not in (CONTINUE, UNDECIDED):
            look = looks.index(decision.seeds) + 1 if decision.seeds in looks else None
        out[name] = VariantState(
            state=decision.state,
            seeds=decision.seeds,
            look=look,
            next_seeds=decision.next_seeds if decision.state == CONTINUE else None,
            p_difference=decision.p_difference,
            p_equivalence=decision.p_equivalence,
        )
    return out


def seeds_needed(states: Mapping[str, VariantState], baseline: str, design: Design) -> dict[str, int]:
    """The seed count each variant (and the baseline) must have before the next look: the next look's
    for every open comparison and for the baseline, which every open comparison is paired with;
    empty when nothing is open. A variant decided earlier needs no more seeds."""
    first = design.plan.looks[0]
    needs = {name: s.next_seeds or first for name, s in states.items() if s.state == CONTINUE}
    if needs:
        needs[baseline] = max(needs.values())
    return needs


def completed_looks(states: Mapping[str, VariantState], design: Design) -> int:
    """How many looks the results complete: the most seeds any comparison was judged on."""
    used = max((s.seeds for s in states.values()), default=0)
    return sum(1 for n in design.plan.looks if n <= used)


def _short_reason(state: VariantState, stopped: str) -> str:
    """The verdict's suffix in the report: the look that decided it, or why it has no more seeds."""
    if state.decided:
        return f"sequential: look {state.look}, {state.seeds} seeds"
    if state.state == UNDECIDED:
        return "sequential: seeds_max reached"
    if stopped in (BUDGET_RUNS, BUDGET_HOURS, FAILED):
        return f"sequential: stopped, {stopped}"
    return "sequential: study still open"


def apply_sequential(table: Any, values: Mapping[str, Any], baseline: str, block: Mapping[str, Any]) -> None:
    """Replace the fixed-design verdicts of an adaptive study's comparison table with the sequential
    rule's on the same results (their p-values would not hold their level after data-dependent
    stopping): `verdict` becomes the rule's state, `sequential` says which look decided it or why
    it stopped, `p_sequential` is the rule's sequential p-value of the difference (before the
    step-down). `values`: the metric by seed per variant."""
    design = Design.from_dict(block["design"])
    series = {name: {int(seed): float(v) for seed, v in s.items()} for name, s in values.items()}
    states = study_state(series, baseline, design)
    stopped = str(block.get("stopped", ""))
    verdicts, reasons, p_values = [], [], []
    for row in table.itertuples():
        state = states.get(row.variant)
        if row.is_baseline or state is None:
            verdicts.append(row.verdict)
            reasons.append("")
            p_values.append(float("nan"))
            continue
        verdicts.append(state.state if state.decided else f"undecided at n = {state.seeds}")
        reasons.append(_short_reason(state, stopped))
        p_values.append(state.p_difference)
    table["verdict"], table["sequential"], table["p_sequential"] = verdicts, reasons, p_values


def declared_adaptive(study_dirs: list[Any], study: str) -> dict[str, Any] | None:
    """The `adaptive` block that the study's sweeper wrote into `<study>/study.json`, if any."""
    from ablab.runs.study import read_study_file

    for folder in sorted(study_dirs):
        data = read_study_file(folder)
        if data and data.get("study") == study and isinstance(data.get("adaptive"), dict):
            return data["adaptive"]
    return None


def adaptive_verdicts(
    table: Any, values: Mapping[str, Any], baseline: str, study_dirs: list[Any], study: str, metric: str
) -> dict[str, Any] | None:
    """For an adaptive study compared on the metric and baseline its sweeper decided on, the
    sequential verdicts in `table` (`apply_sequential`) and its `adaptive` block; else None."""
    block = declared_adaptive(sorted(set(study_dirs)), study)
    if (
        block is None
        or block.get("metric") != metric
        or (block.get("baseline") or {}).get("name") != baseline
    ):
        return None
    apply_sequential(table, values, baseline, block)
    return block
