"""Compare every variant of a study with its baseline over seeds: mean, spread and CI per variant; the
delta against the baseline with the paired t-test when the seeds match (Welch's otherwise), Holm
across the study; cost deltas beside quality."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ablab.analysis import power, stats
from ablab.analysis.adaptive import adaptive_verdicts
from ablab.analysis.aggregate import (
    COSTS,
    MIN_SEEDS,
    StudyComparison,
    _check_one_metric,
    _dedupe,
    _excluded,
    _relative,
    _run_rows,
    _status,
    _with_results,
    choose_baseline,
    declared_baseline,
    group_by_study,
    one_data_version,
    resolve_metric,
)
from ablab.analysis.collect import Run, Warn, warn_stderr
from ablab.analysis.references import mark_below_floor, reference_rows, verdicts
from ablab.analysis.verdicts import add_verdicts
from ablab.errors import DataError


@dataclass(frozen=True)
class _Baseline:
    """The baseline's values by seed, their summary, its mean costs and run hashes."""

    name: str
    values: pd.Series
    summary: stats.Summary
    costs: dict[str, float]
    hashes: set[str]
    cost_values: dict[str, pd.Series]  # per cost column, indexed by seed


def _empty_row(variant: str, own: pd.DataFrame, summary: stats.Summary, is_baseline: bool) -> dict[str, Any]:
    return {
        "variant": variant,
        "is_baseline": is_baseline,
        "status": _status(own),
        "n": summary.n,
        "n_runs": len(own),
        "mean": summary.mean,
        "std": summary.std,
        "ci_low": summary.ci_low,
        "ci_high": summary.ci_high,
        "delta": math.nan,
        "delta_pct": math.nan,
        "delta_ci_low": math.nan,
        "delta_ci_high": math.nan,
        "p_welch": math.nan,
        "p_paired": math.nan,
        "test": "",
        "p_value": math.nan,
        "se": math.nan,
        "df": math.nan,
    }


def _against_baseline(row: dict[str, Any], x: pd.Series, base: _Baseline, confidence: float) -> list[str]:
    """Delta, its interval and the test of one variant against the baseline; the notes they call for."""
    delta = row["mean"] - base.summary.mean
    low, high = stats.welch_interval(x.to_numpy(), base.values.to_numpy(), confidence)
    row.update(
        delta=delta,
        delta_pct=_relative(delta, base.summary.mean),
        delta_ci_low=low,
        delta_ci_high=high,
        p_welch=stats.welch(x.to_numpy(), base.values.to_numpy()).pvalue,
    )
    same_seeds = len(x) >= 2 and set(x.index) == set(base.values.index) and x.index.notna().all()
    if same_seeds:
        row["p_paired"] = stats.paired(x.sort_index().to_numpy(), base.values.sort_index().to_numpy()).pvalue
    # The paired test is undefined when the per-seed differences are constant: Welch's then.
    use_paired = same_seeds and not math.isnan(row["p_paired"])
    row["test"] = "paired" if use_paired else "welch"
    row["p_value"] = row["p_paired"] if use_paired else row["p_welch"]
    if use_paired:  # the interval drawn and printed is the one of the test whose p-value is shown
        row["delta_ci_low"], row["delta_ci_high"] = stats.paired_interval(
            x.sort_index().to_numpy(), base.values.sort_index().to_numpy(), confidence
        )
    row["se"], row["df"] = _standard_error(x, base, use_paired)
    if len(x) and len(base.values) and set(x.index) != set(base.values.index):
        return ["seeds differ from the baseline's: Welch only"]
    if len(x) < 2 or len(base.values) < 2:
        return ["one seed: no test"]
    return []


def _standard_error(x: pd.Series, base: _Baseline, paired: bool) -> tuple[float, float]:
    """Standard error and degrees of freedom of the delta's test (what its detectable size needs)."""
    if paired:
        d = x.sort_index().to_numpy() - base.values.sort_index().to_numpy()
        return power.paired_se(float(d.std(ddof=1)), len(d))
    if len(x) < 2 or len(base.values) < 2:
        return math.nan, math.nan
    return power.welch_se(float(x.std(ddof=1)), len(x), float(base.values.std(ddof=1)), len(base.values))


def _cost_interval(own: pd.Series, base: pd.Series, paired: bool, confidence: float) -> tuple[float, float]:
    """The interval of a cost's delta over seeds, paired when the quality test is."""
    own, base = own.dropna(), base.dropna()
    if paired and set(own.index) == set(base.index) and len(own) >= 2:
        return stats.paired_interval(own.sort_index().to_numpy(), base.sort_index().to_numpy(), confidence)
    if len(own) >= 2 and len(base) >= 2 and (own.std() > 0 or base.std() > 0):
        return stats.welch_interval(own.to_numpy(), base.to_numpy(), confidence)
    if len(own) and len(base) and own.nunique() == 1 and base.nunique() == 1:  # deterministic: no spread
        delta = float(own.iloc[0] - base.iloc[0])
        return delta, delta
    return math.nan, math.nan


def _cost_columns(row: dict[str, Any], own: pd.DataFrame, base: _Baseline, confidence: float) -> None:
    included = own[own["included"]].set_index("seed")
    for _, column, _ in COSTS:
        mean_cost = included[column].mean()
        delta_cost = mean_cost - base.costs[column]
        low, high = _cost_interval(
            included[column], base.cost_values[column], row["test"] == "paired", confidence
        )
        row.update(
            {
                column: mean_cost,
                f"{column}_delta": delta_cost,
                f"{column}_delta_pct": _relative(delta_cost, base.costs[column]),
                f"{column}_delta_pct_low": _relative(low, base.costs[column]),
                f"{column}_delta_pct_high": _relative(high, base.costs[column]),
            }
        )


def _variant_row(
    variant: str, own: pd.DataFrame, x: pd.Series, base: _Baseline, confidence: float, study: str, warn: Warn
) -> dict[str, Any]:
    """One row of the comparison table."""
    summary = stats.summarize(x.to_numpy(), confidence)
    row = _empty_row(variant, own, summary, variant == base.name)
    notes = []
    if variant == base.name:
        notes.append("baseline")
    else:
        notes += _against_baseline(row, x, base, confidence)
        if set(own["config_hash"]) and set(own["config_hash"]) == base.hashes:
            notes.append("same configs as the baseline")
            warn(
                f"{study}: variant {variant!r} ran exactly the baseline's configs (same run hashes): "
                "a command-line override probably masks this ablation (e.g. model.hidden_size=... "
                "against hidden_32); drop that override"
            )
    _cost_columns(row, own, base, confidence)
    if summary.n == 0:
        notes.append("no completed runs")
    elif summary.n < MIN_SEEDS:
        notes.append(f"n<{MIN_SEEDS}: low power")
    row["seeds"] = ",".join(str(s) for s in sorted(x.index))
    row["excluded"] = _excluded(own)
    row["notes"] = "; ".join(notes)
    return row


def _study_warnings(table: pd.DataFrame, frame: pd.DataFrame, base: _Baseline) -> list[str]:
    warnings = []
    few = table.loc[table["n"].between(1, MIN_SEEDS - 1), "variant"].tolist()
    if few:
        warnings.append(
            f"n < {MIN_SEEDS} completed seeds for {', '.join(few)}: "
            "their CIs and p-values are unreliable; run more seeds"
        )
    if base.summary.n == 0:
        warnings.append(f"the baseline {base.name!r} has no completed runs: no deltas or tests")
    broken = int((~frame["included"]).sum())
    if broken:
        warnings.append(
            f"{broken} run(s) not averaged in (failed, diverged, unfinished or non-finite): "
            "see the table's excluded column"
        )
    return warnings


def _power_hint(table: pd.DataFrame, alpha: float) -> list[str]:
    """`mde` per variant: the smallest delta its test detects with 80% power at the level Holm asks
    of a study's first comparison (alpha / m); and, when some delta is not significant, one line on
    what the study could have detected."""
    compared = ~table["is_baseline"] & table["p_value"].notna()
    m = max(int(compared.sum()), 1)
    table["mde"] = [power.detectable(se, df, alpha / m) for se, df in zip(table["se"], table["df"])]
    quiet = table[compared & ~table["significant"]]
    smallest = table.loc[compared, "mde"].median()
    if quiet.empty or not np.isfinite(smallest):
        return []
    n = int(table.loc[table["is_baseline"], "n"].iloc[0])
    hint = (
        f"with {n} seeds and this spread, the smallest difference this study can detect at 80% power is "
        f"{smallest:.3g} (t-test at alpha {alpha:g}/{m}, Holm's first step)"
    )
    typical = float(quiet["delta"].abs().median())
    if typical < smallest:
        hint += f"; its non-significant deltas are about {typical:.3g}: more seeds, or a larger effect"
    return [hint]


def compare_study(
    study: str,
    runs: list[Run],
    *,
    baseline: str | None = None,
    metric: str | None = None,
    alpha: float = 0.05,
    confidence: float = 0.95,
    margin: float | None = None,
    warn: Warn = warn_stderr,
) -> StudyComparison:
    """Compare every variant of one study with its baseline; `margin` (metric units) overrides the
    `report.margin` the runs recorded."""
    runs, data_note = one_data_version(runs)
    primary, primary_mode = _check_one_metric(study, runs)
    key, mode = resolve_metric(metric, primary, primary_mode)
    frame = _run_rows(_dedupe(runs, warn), key)
    variants = sorted(frame["variant"].unique())
    usable = _with_results(frame, variants, baseline, study, warn)
    base_name, rule = choose_baseline(usable, baseline, study, declared_baseline(runs, study))
    variants.remove(base_name)
    variants.insert(0, base_name)

    included = frame[frame["included"]]
    values = {v: included[included["variant"] == v].set_index("seed")["value"] for v in variants}
    base = _Baseline(
        name=base_name,
        values=values[base_name],
        summary=stats.summarize(values[base_name].to_numpy(), confidence),
        costs={c: included.loc[included["variant"] == base_name, c].mean() for _, c, _ in COSTS},
        hashes=set(frame.loc[frame["variant"] == base_name, "config_hash"]),
        cost_values={c: included[included["variant"] == base_name].set_index("seed")[c] for _, c, _ in COSTS},
    )
    rows = [
        _variant_row(v, frame[frame["variant"] == v], values[v], base, confidence, study, warn)
        for v in variants
    ]
    table = pd.DataFrame(rows)
    table["p_holm"] = stats.holm(table["p_value"].tolist())
    table["significant"] = table["p_holm"] < alpha
    sign = 1 if mode == "max" else -1
    table["better"] = np.where(table["delta"].notna(), sign * table["delta"] > 0, False)

    references, reference_notes = reference_rows(runs, base_name, key)
    mark_below_floor(table, references, mode)
    said = verdicts(table, references, mode) + _power_hint(table, alpha)
    margin = study_margin(study, runs) if margin is None else margin
    add_verdicts(table, values, base_name, mode=mode, alpha=alpha, confidence=confidence, margin=margin)
    adaptive = adaptive_verdicts(table, values, base_name, [r.path.parent.parent for r in runs], study, key)
    warnings = ([data_note] if data_note else []) + _study_warnings(table, frame, base) + reference_notes
    for message in warnings:
        warn(f"study {study!r}: {message}")
    return StudyComparison(
        study=study,
        metric=key,
        mode=mode,
        baseline=base_name,
        baseline_rule=rule,
        table=table,
        runs=frame,
        alpha=alpha,
        confidence=confidence,
        warnings=warnings,
        references=references,
        verdicts=said,
        margin=margin,
        adaptive=adaptive,
    )


def study_margin(study: str, runs: list[Run]) -> float | None:
    """The `report.margin` the study's runs recorded (None: none set); DataError when they disagree."""
    margins = sorted({run.margin for run in runs if run.margin is not None})
    if len(margins) > 1:
        raise DataError(
            f"study {study!r}: its runs recorded different report.margin values {margins}: "
            "pass the one to use with --margin (ablab-report) or margin=... (compare)"
        )
    return margins[0] if margins else None


def compare(
    runs: Iterable[Run],
    *,
    baseline: str | None = None,
    metric: str | None = None,
    alpha: float = 0.05,
    margin: float | None = None,
    warn: Warn = warn_stderr,
) -> list[StudyComparison]:
    """One comparison per study, in study-name order."""
    return [
        compare_study(name, group, baseline=baseline, metric=metric, alpha=alpha, margin=margin, warn=warn)
        for name, group in group_by_study(runs).items()
    ]
