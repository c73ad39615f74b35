"""A multirun as a study: its name, the axes it sweeps, how many runs it has and which is its baseline.

Computed in the launching process from the multirun's own config (`hydra.overrides.task` and
`hydra.sweeper.params`), which exists before any job does: `hydra.sweep.dir` depends on the study name,
and Hydra resolves it before it sets up any job. Imports only omegaconf and hydra's override parser.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

STUDY_FILE = "study.json"
# Swept keys that never name a study or a variant: seeds replicate a variant.
REPLICATE_KEYS = ("seed",)


@dataclass(frozen=True)
class Axis:
    """One swept key and its values as the user typed them."""

    key: str
    values: list[str]

    @property
    def is_group(self) -> bool:
        """`model/attention=none,mha` picks config-group options; `model.hidden_size=32,64` sets a value."""
        return "/" in self.key or self.key in ("ablation", "experiment")


@dataclass
class StudyPlan:
    """What the launching process knows of a multirun before its first job."""

    axes: list[Axis] = field(default_factory=list)
    total: int | None = None
    baseline: str | None = None
    baseline_rule: str | None = None

    @property
    def varied(self) -> list[Axis]:
        """Axes that make variants (not the seeds)."""
        return [a for a in self.axes if a.key not in REPLICATE_KEYS]


def _sweep_arguments(hydra: DictConfig) -> list[str]:
    """The multirun's override strings, as BasicSweeper combines them: sweeper params first."""
    params = OmegaConf.select(hydra, "sweeper.params", default=None) or {}
    arguments = [f"{k}={v}" for k, v in params.items()]
    arguments += list(OmegaConf.to_container(hydra.overrides.task, resolve=False))
    return arguments


def plan(hydra: DictConfig) -> StudyPlan:
    """The axes and the number of runs of the multirun whose Hydra node is `hydra`; `total` is None for
    sweeps whose size this cannot tell (glob, Optuna search spaces: then `hydra.sweeper.n_trials`)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    try:
        overrides = parser.parse_overrides(_sweep_arguments(hydra))
    except Exception:  # glob(...) needs Hydra's config loader; such a study is counted as it runs
        return StudyPlan(total=None)
    # A key typed again replaces the sweep config's (Hydra's own rule): `sweep=hnet seed=1` runs one seed.
    last = {str(o.key_or_group): o for o in overrides}
    axes: dict[str, Axis] = {}
    total: int | None = 1
    for key, override in last.items():
        if not override.is_sweep_override():
            continue
        if override.is_discrete_sweep():
            values = list(override.sweep_string_iterator())
            axes[key] = Axis(key, values)
            total = None if total is None else total * len(values)
        else:  # a range or interval a search samples from
            axes[key] = Axis(key, [])
            total = None
    trials = OmegaConf.select(hydra, "sweeper.n_trials", default=None)
    if trials is not None:
        total = int(trials)
    return StudyPlan(axes=list(axes.values()), total=total)


def swept_keys_of(hydra: DictConfig) -> list[str]:
    """The keys this multirun varies, as typed (`model/attention`, `seed`), sorted."""
    return sorted(a.key for a in plan(hydra).axes)


def study_name(family: str, swept: list[str]) -> str:
    """An ad-hoc study's name: the family and the keys it sweeps (`hnet-model.attention`), so that two
    unrelated multiruns of one family never land in one study and get compared."""
    varied = sorted(k.replace("/", ".") for k in swept if k not in REPLICATE_KEYS)
    return "-".join([family, *varied])


def _default_value(cfg: DictConfig, axis: Axis) -> str | None:
    """What the config holds for `axis` without the sweep: the chosen group option or the value."""
    key = axis.key
    if axis.is_group:
        return OmegaConf.select(cfg, f"hydra.runtime.choices.{key}", default=None)
    try:
        value = OmegaConf.select(cfg, key, default=None)
    except Exception:  # an interpolation that only resolves inside a job
        return None
    return None if value is None else str(value)


def _same(typed: str, default: str) -> bool:
    """`1e-3` as typed is the config's 0.001."""
    if typed == default:
        return True
    try:
        return math.isclose(float(typed), float(default))
    except ValueError:
        return False


def choose_baseline(cfg: DictConfig, axes: list[Axis], ignore: list[str]) -> tuple[str | None, str | None]:
    """The variant the report compares the others with, and why: per axis, the default config's value
    when the sweep includes it, else the first value as typed."""
    from ablab.runs.identity import variant_from_overrides

    varied = [a for a in axes if a.key not in REPLICATE_KEYS and a.values]
    if not varied:
        return None, None
    picks, reasons = [], []
    ablation = None
    for axis in varied:
        default = _default_value(cfg, axis)
        matching = [v for v in axis.values if default is not None and _same(v, default)]
        if matching:
            value, why = matching[0], "the default config's value"
        else:
            value, why = axis.values[0], "the first value typed"
        key = axis.key
        if key == "ablation":
            ablation = value
        picks.append(f"{key}={value}")
        reasons.append(f"{key}: {why}")
    swept = [a.key for a in axes]
    variant = variant_from_overrides(picks, ablation, ignore, swept)
    return variant, ", ".join(reasons)


def write_study_file(sweep_dir: Path, name: str, plan_: StudyPlan) -> Path:
    """`<study>/study.json`: the axes and the baseline of the multirun that ran last in this folder;
    the report reads the baseline from it."""
    from ablab.runs.records import write_json_atomic

    path = sweep_dir / STUDY_FILE
    write_json_atomic(
        path,
        {
            "study": name,
            "axes": {a.key: a.values for a in plan_.axes},
            "total": plan_.total,
            "baseline": plan_.baseline,
            "baseline_rule": plan_.baseline_rule,
            "updated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    )
    return path


def read_study_file(study_dir: Path) -> dict[str, Any] | None:
    """The study file of a study folder, or None when there is none or it cannot be read."""
    import json

    try:
        data = json.loads((study_dir / STUDY_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
