"""Group runs by study and variant, aggregate over seeds, and compare every variant with the baseline.

A study's table has one row per variant: mean, std, 95% CI and n of the compared metric over the seeds
that completed; the delta against the baseline (absolute, relative, Welch CI); Welch's test and, when
the seeds match, the paired test; Holm's correction over the study's comparisons; cost means and deltas.
Failed, diverged and unfinished runs are listed with their reason and never averaged in.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ablab.analysis.collect import Run, Warn, read_curves
from ablab.errors import DataError

# (record key, table column, label): the cost of a variant, shown beside its quality
# (ablab.lightning.callbacks.system_metrics says how each is measured).
COSTS: tuple[tuple[str, str, str], ...] = (
    ("cost/params_m", "params_m", "Params (M)"),
    ("cost/flops", "flops", "FLOPs/sample"),
    ("cost/latency_ms", "latency_ms", "Latency (ms/batch, median)"),
    ("cost/latency_ms_per_sample", "latency_ms_per_sample", "Latency/sample (ms)"),
    ("cost/model_mem_mb", "model_mem_mb", "Model memory, training (MB)"),
    ("cost/infer_mem_mb", "infer_mem_mb", "Model memory, inference (MB)"),
    ("cost/process_rss_gb", "process_rss_gb", "Process RSS (GB)"),
    ("cost/train_s", "train_s", "Train time (s)"),
)
BASELINE_NAMES = ("baseline", "default")
MIN_SEEDS = 3
_LOWER_IS_BETTER = ("loss", "error", "mse", "mae", "rmse", "fid", "fvd", "lpips", "perplexity")


@dataclass
class StudyComparison:
    """One study compared: per-variant `table`, per-run `runs`, and how the comparison was set up."""

    study: str
    metric: str
    mode: str
    baseline: str
    baseline_rule: str
    table: pd.DataFrame
    runs: pd.DataFrame
    alpha: float = 0.05
    confidence: float = 0.95
    warnings: list[str] = field(default_factory=list)
    # floors, classical models and ceilings on the same split (name, kind, note, value, metrics)
    references: pd.DataFrame = field(default_factory=pd.DataFrame)
    # what a reader must know before the table: the baseline against its floor, small n
    verdicts: list[str] = field(default_factory=list)
    # the smallest difference that matters (report.margin, metric units); None: not set
    margin: float | None = None
    # an adaptive study's design and stopping state (study.json's `adaptive` block); None: fixed seeds
    adaptive: dict | None = None

    @property
    def curve_metric(self) -> str:
        """The validation column of the compared metric in csv/metrics.csv (`val/<name>`)."""
        return "val/" + self.metric.split("/", 1)[-1]

    def values(self, variant: str) -> pd.Series:
        """The variant's averaged values, indexed by seed."""
        rows = self.runs[(self.runs["variant"] == variant) & self.runs["included"]]
        return rows.set_index("seed")["value"]


def group_by_study(runs: Iterable[Run]) -> dict[str, list[Run]]:
    """Runs of each study; unrelated studies are never compared with each other."""
    groups: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        groups[run.study].append(run)
    return dict(sorted(groups.items()))


def _check_one_metric(study: str, runs: list[Run]) -> tuple[str, str]:
    """The study's primary metric and mode; DataError when its runs disagree."""
    seen: dict[tuple[str, str], Run] = {}
    for run in runs:
        if run.metric_name:
            seen.setdefault((run.metric_name, run.metric_mode or "max"), run)
    if not seen:
        raise DataError(f"study {study!r}: no run records a primary metric (results.json field `metric`)")
    if len(seen) > 1:
        (one, a), (two, b) = list(seen.items())[:2]
        raise DataError(
            f"study {study!r} mixes primary metrics {one[0]} ({one[1]}, {a.path}) and {two[0]} "
            f"({two[1]}, {b.path}): give each experiment its own study name (study=...) and report them apart"
        )
    return next(iter(seen))


def resolve_metric(requested: str | None, primary: str, primary_mode: str) -> tuple[str, str]:
    """The record key compared (`test/<name>` unless a stage is given) and whether higher is better."""
    name = requested or primary
    key = name if "/" in name else f"test/{name}"
    bare = key.split("/", 1)[1]
    if bare == primary:
        return key, primary_mode
    return key, "min" if any(word in bare.lower() for word in _LOWER_IS_BETTER) else "max"


def choose_baseline(
    variants: list[str],
    requested: str | None,
    study: str,
    declared: tuple[str, str] | None = None,
) -> tuple[str, str]:
    """The baseline variant and the rule that chose it: --baseline, else the one the sweep declared
    (`declared`: variant and why, from the study's study.json), else `baseline`, else `default`, else
    the first variant alphabetically. `variants` are those with a completed run (`_with_results`): a
    comparison against nothing compares nothing."""
    if requested is not None:
        if requested not in variants:
            raise DataError(
                f"study {study!r} has no variant {requested!r} for --baseline; its variants: {', '.join(variants)}"
            )
        return requested, "--baseline"
    if declared is not None and declared[0] in variants:
        return declared[0], f"the sweep's baseline: {declared[1]}"
    for name in BASELINE_NAMES:
        if name in variants:
            return name, f"the variant named {name!r}"
    return variants[0], "the first variant alphabetically (pass --baseline NAME to choose)"


def declared_baseline(runs: list[Run], study: str) -> tuple[str, str] | None:
    """The baseline the study's last multirun declared in `<study>/study.json`, if any."""
    from ablab.runs.study import read_study_file

    for folder in sorted({r.path.parent.parent for r in runs}):
        data = read_study_file(folder)
        if data and data.get("study") == study and data.get("baseline"):
            return str(data["baseline"]), str(data.get("baseline_rule") or "")
    return None


def one_data_version(runs: list[Run]) -> tuple[list[Run], str | None]:
    """The runs on the newest version of the study's data (the one its latest run read), and a note
    when runs on other versions were left out: results on two versions of a data set are never mixed."""
    versions = {r.data_hash for r in runs}
    if len(versions) <= 1:
        return runs, None
    newest = max(runs, key=lambda r: r.finished_at).data_hash
    kept = [r for r in runs if r.data_hash == newest]
    message = (
        f"the study holds runs on {len(versions)} versions of its data (data fingerprints "
        f"{', '.join(sorted(str(v) for v in versions))}): reporting the {len(kept)} run(s) on the newest "
        f"({newest}), leaving out {len(runs) - len(kept)} run(s) on older data"
    )
    return kept, message


def _with_results(
    frame: pd.DataFrame, variants: list[str], requested: str | None, study: str, warn: Warn
) -> list[str]:
    """The variants a baseline may be chosen from: those with a completed run (all of them when none
    has one). A --baseline without one is an error; a `baseline` variant without one is passed over
    with a warning."""
    done = sorted(frame.loc[frame["included"], "variant"].unique())
    if not done:
        return variants
    if requested is not None and requested in variants and requested not in done:
        raise DataError(
            f"study {study!r}: --baseline {requested!r} has no completed run to compare with; choose one "
            f"of {', '.join(done)}, or re-run it"
        )
    skipped = [name for name in BASELINE_NAMES if name in variants and name not in done]
    if requested is None and skipped:
        warn(f"study {study!r}: the variant {skipped[0]!r} has no completed run: it cannot be the baseline")
    return done


def _dedupe(runs: list[Run], warn: Warn) -> list[Run]:
    """One run per (variant, seed): a completed one first, then the newest; the others are reported."""
    by_key: dict[tuple[str, object], list[Run]] = defaultdict(list)
    for run in runs:
        by_key[(run.variant, run.seed if run.seed is not None else run.path)].append(run)
    kept = []
    for (variant, seed), group in by_key.items():
        group.sort(key=lambda r: (r.status == "completed", r.finished_at), reverse=True)
        kept.append(group[0])
        if len(group) > 1:
            others = ", ".join(str(r.path) for r in group[1:])
            warn(
                f"variant {variant!r} seed {seed} has {len(group)} runs (different configs); "
                f"using {group[0].path}, ignoring {others}"
            )
    return kept


def _run_rows(runs: list[Run], metric: str) -> pd.DataFrame:
    rows = []
    for run in runs:
        value, reason = math.nan, run.reason
        if run.status == "completed":
            if metric not in run.metrics:
                available = ", ".join(sorted(run.metrics)) or "none"
                raise DataError(
                    f"{run.path / 'results.json'} has no metric {metric}; it records: {available}"
                    " (choose one with --metric)"
                )
            value = run.metrics[metric]
            if not math.isfinite(value):
                reason = f"{metric} is not finite"
        elif run.status == "running":
            reason = "still running, or interrupted (re-run the sweep to resume it)"
        rows.append(
            {
                "variant": run.variant,
                "seed": run.seed,
                "status": run.status,
                "included": run.status == "completed" and math.isfinite(value),
                "value": value,
                **{column: run.cost.get(key, math.nan) for key, column, _ in COSTS},
                "reason": reason or "",
                "epochs": run.epochs,
                "data_sizes": ", ".join(f"{k} {v:,}" for k, v in run.data_sizes.items()),
                "config_hash": run.config_hash,
                "path": str(run.path),
            }
        )
    frame = pd.DataFrame(rows)
    return frame.sort_values(["variant", "seed"], na_position="last").reset_index(drop=True)


def _status(rows: pd.DataFrame) -> str:
    counts = Counter(rows["status"])
    if set(counts) == {"completed"}:
        return "completed"
    order = ("completed", "failed", "diverged", "running")
    return ", ".join(f"{counts[s]} {s}" for s in order if counts[s])


def _excluded(rows: pd.DataFrame) -> str:
    out = rows[~rows["included"]]
    return "; ".join(f"seed {r.seed} {r.status}: {r.reason}" for r in out.itertuples())


def _relative(delta: float, base: float) -> float:
    return 100 * delta / abs(base) if base and math.isfinite(base) else math.nan


def mean_curves(comparison: StudyComparison, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Per-epoch mean, std and n over the averaged seeds of each variant, for the validation columns
    (default: the compared metric and `val/loss`). Columns: variant, metric, epoch, mean, std, n."""
    wanted = list(columns) if columns is not None else [comparison.curve_metric, "val/loss"]
    parts = []
    for row in comparison.runs[comparison.runs["included"]].itertuples():
        curves = read_curves(Path(row.path))
        present = [c for c in wanted if c in curves.columns]
        if not present:
            continue
        long = curves[present].reset_index().melt(id_vars="epoch", var_name="metric", value_name="value")
        long["variant"] = row.variant
        parts.append(long.dropna(subset=["value"]))
    if not parts:
        return pd.DataFrame(columns=["variant", "metric", "epoch", "mean", "std", "n"])
    data = pd.concat(parts, ignore_index=True)
    grouped = data.groupby(["variant", "metric", "epoch"])["value"]
    return grouped.agg(mean="mean", std="std", n="count").reset_index()
