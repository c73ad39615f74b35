"""The comparison as text: a formatted table shared by Markdown, HTML and the terminal (rich)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ablab.analysis.aggregate import COSTS, StudyComparison

DASH = "–"
COST_DELTA_LABELS = {
    "params_m": "Params Δ",
    "flops": "FLOPs Δ",
    "latency_ms": "Latency Δ",
    "latency_ms_per_sample": "Latency/sample Δ",
    "model_mem_mb": "Model mem Δ",
    "infer_mem_mb": "Infer mem Δ",
    "process_rss_gb": "RSS Δ",
    "train_s": "Train time Δ",
}
# Shown in the terminal (the rest is in the Markdown, HTML and CSV)
TERMINAL_COSTS = ("params_m", "flops", "latency_ms", "model_mem_mb", "train_s")
_SI = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def _fmt(value: float, spec: str) -> str:
    return DASH if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def si(value: float) -> str:
    """1234567 -> `1.23M`: counts such as FLOPs at a glance."""
    if value is None or math.isnan(value):
        return DASH
    for scale, suffix in _SI:
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def _p(value: float) -> str:
    if math.isnan(value):
        return DASH
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _pct(value: float) -> str:
    return DASH if math.isnan(value) else f"{value:+.1f}%"


def _interval(value: float, low: float, high: float, spec: str) -> str:
    if math.isnan(value):
        return DASH
    return f"{value:{spec}} [{low:{spec}}, {high:{spec}}]"


def verdict_text(row: object) -> str:
    """`better`, `equivalent`, `undecided at n = 3 (~8 seeds to decide)`; a dash for the baseline."""
    verdict = getattr(row, "verdict", "")
    if verdict == "baseline" or not verdict:
        return DASH
    needed = getattr(row, "seeds_to_decide", math.nan)
    sequential = getattr(row, "sequential", "")
    if isinstance(sequential, str) and sequential:
        return f"{verdict} ({sequential})"
    if verdict.startswith("undecided"):
        return verdict + (f" (~{int(needed)} seeds to decide)" if needed == needed else " (more seeds)")
    return verdict


def cost_delta(row: object, column: str) -> str:
    """`+12.0% [+3.1, +20.9]`: the relative delta with its interval over seeds (one figure when the
    cost does not vary over seeds)."""
    delta = getattr(row, f"{column}_delta_pct")
    low, high = getattr(row, f"{column}_delta_pct_low"), getattr(row, f"{column}_delta_pct_high")
    if math.isnan(delta) or math.isnan(low) or abs(high - low) < 0.05:
        return _pct(delta)
    return f"{_pct(delta)} [{low:+.1f}, {high:+.1f}]"


def direction(comparison: StudyComparison) -> str:
    """`higher is better` or `lower is better`, from the study's metric mode."""
    return "higher is better" if comparison.mode == "max" else "lower is better"


def _recorded_costs(comparison: StudyComparison) -> list[tuple[str, str, str]]:
    """The cost columns some run of the study recorded (older records lack the newer ones)."""
    return [cost for cost in COSTS if comparison.table[cost[1]].notna().any()]


def _cost_value(column: str, value: float) -> str:
    return si(value) if column == "flops" else _fmt(value, ".4g")


def _variant_rows(comparison: StudyComparison) -> list[dict[str, str]]:
    mean_column, ci_column = mean_label(comparison), f"{comparison.confidence:.0%} CI"
    rows = []
    for r in comparison.table.itertuples():
        delta = _fmt(r.delta, "+.4f") + ("*" if r.significant else "")
        row = {
            "Variant": r.variant,
            "Status": r.status,
            "n": str(r.n),
            mean_column: DASH if math.isnan(r.mean) else f"{r.mean:.4f} ± {_fmt(r.std, '.4f')}",
            ci_column: DASH if math.isnan(r.ci_low) else f"[{r.ci_low:.4f}, {r.ci_high:.4f}]",
            "Quality Δ": delta,
            "Quality Δ%": _pct(r.delta_pct),
            "p": _p(r.p_value) + (f" ({r.test})" if r.test and not math.isnan(r.p_value) else ""),
            "p (Holm)": _p(r.p_holm),
            "Detectable Δ": _fmt(getattr(r, "mde", math.nan), ".3g"),
            "Verdict": verdict_text(r),
            "Effect d_z": _interval(r.effect_size, r.effect_low, r.effect_high, ".2f"),
            "P(better)": _interval(r.p_improve, r.p_improve_low, r.p_improve_high, ".2f"),
        }
        for _, column, label in _recorded_costs(comparison):
            value = _cost_value(column, getattr(r, column))
            row[label] = value if r.is_baseline else f"{value} ({cost_delta(r, column)})"
        row["Notes"] = "; ".join(part for part in (r.notes, r.excluded) if part)
        rows.append(row)
    return rows


def _reference_rows(comparison: StudyComparison, columns: list[str]) -> list[dict[str, str]]:
    base = comparison.table[comparison.table["is_baseline"]].iloc[0]["mean"]
    rows = []
    for ref in comparison.references.itertuples():
        row = dict.fromkeys(columns, DASH)
        delta = ref.value - base
        row.update(
            {
                "Variant": f"[{ref.kind}] {ref.name}",
                "Status": "reference",
                mean_label(comparison): f"{ref.value:.4f}",
                "Quality Δ": _fmt(delta, "+.4f"),
                "Quality Δ%": _pct(100 * delta / abs(base) if base else math.nan),
                "Notes": ref.note,
            }
        )
        rows.append(row)
    return rows


def mean_label(comparison: StudyComparison) -> str:
    """The header of the quality column."""
    return f"{comparison.metric} (mean ± std)"


def formatted_table(comparison: StudyComparison, references: bool = True) -> pd.DataFrame:
    """One row of strings per variant, then the study's reference rows (floors, classical models,
    ceilings on the same split), with the columns every text output shows."""
    rows = _variant_rows(comparison)
    if references and len(comparison.references):
        rows += _reference_rows(comparison, list(rows[0]))
    return pd.DataFrame(rows)


def excluded_runs(comparison: StudyComparison) -> pd.DataFrame:
    """The runs that are not averaged in, with their reason."""
    runs = comparison.runs[~comparison.runs["included"]]
    return pd.DataFrame(
        {
            "Variant": runs["variant"],
            "Seed": runs["seed"].astype("string").fillna(DASH),
            "Status": runs["status"],
            "Reason": runs["reason"],
            "Folder": runs["path"],
        }
    )


def legend(comparison: StudyComparison) -> str:
    """How to read the table, in one paragraph."""
    comparisons = int((~comparison.table["is_baseline"] & comparison.table["p_value"].notna()).sum())
    return (
        f"Metric `{comparison.metric}` ({direction(comparison)}): mean ± sample std over seeds (ddof=1), "
        f"{comparison.confidence:.0%} t-interval. Baseline `{comparison.baseline}` "
        f"({comparison.baseline_rule}). Quality Δ = variant mean − baseline mean; p and its interval from "
        f"the paired t-test when the variant ran the baseline's seeds, else Welch's t-test; Holm-corrected "
        f"over {comparisons} comparison(s); `*` marks p (Holm) < {comparison.alpha:g}. Detectable Δ: the "
        f"smallest delta the test detects with 80% power at alpha/{max(comparisons, 1)}. {verdict_legend(comparison)} "
        "Costs: the variant's "
        "mean, then its Δ relative to the baseline with the interval over seeds; model memory is the model's "
        "own (CUDA allocator, or tensors on CPU), RSS the whole process. Rows `[floor]`, `[classical]`, "
        "`[ceiling]`: rules that learn nothing, classical models and oracles on the same test split with "
        "the same metric. Failed, diverged and unfinished runs are listed, never averaged in."
    )


def verdict_legend(comparison: StudyComparison) -> str:
    """How the verdict, effect and P(better) columns are made (docs/statistics.md has the details)."""
    margin = (
        f"beyond the margin {comparison.margin:g} (`report.margin`); equivalent: two one-sided paired "
        f"t-tests within ± {comparison.margin:g}"
        if comparison.margin
        else "no `report.margin` set, so no equivalence verdicts"
    )
    if comparison.adaptive:
        return sequential_legend(comparison, margin)
    return (
        f"Verdict: better/worse when the test rejects after the step-down across comparisons (Holm; "
        f"Shaffer's with the equivalence tests), its interval excludes 0 and the delta lies {margin}; "
        "otherwise undecided at the current n, with the seeds that would likely decide it (80% power at "
        f"alpha/{max(int((~comparison.table['is_baseline']).sum()), 1)} if the observed delta and spread held). "
        "Effect d_z: mean paired difference / its sd, with its noncentral-t interval. P(better): share "
        "of paired seeds the variant wins (ties half), Wilson interval."
    )


def sequential_legend(comparison: StudyComparison, margin: str) -> str:
    """The verdicts of an adaptive study (`sweep.seeds: auto`): the stopping rule's, not the p column's."""
    block = comparison.adaptive or {}
    design = block.get("design", {})
    looks = ", ".join(str(n) for n in design.get("looks", []))
    seeds = f"baseline {block.get('baseline', {}).get('seeds', '?')} seeds; " + ", ".join(
        f"{name} {v.get('seeds')}" for name, v in (block.get("variants") or {}).items()
    )
    return (
        f"Verdict: the adaptive design's (sweep.seeds=auto): looks at {looks} paired seeds, family-wise "
        f"alpha {design.get('alpha', 0.05):g} across looks and comparisons ({design.get('boundary')} "
        f"spending, t-test boundaries, step-down across comparisons; docs/statistics.md); better/worse "
        f"{margin}. A decided variant got no more seeds; the p and p (Holm) columns are the fixed design's "
        f"and do not hold their level after adaptive stopping. Seeds run: {seeds}; the study stopped: "
        f"{block.get('stopped')}. Effect d_z: mean paired difference / its sd, with its noncentral-t "
        "interval. P(better): share of paired seeds the variant wins (ties half), Wilson interval."
    )


STOPPED = {
    "decided": "every comparison decided",
    "seeds_max": "seeds_max reached",
    "budget_runs": "its run budget",
    "budget_hours": "its time budget",
    "failed runs": "failed runs (re-run the command to retry them)",
    "running": "not yet: still running or killed (re-run the command to go on)",
}


def adaptive_line(comparison: StudyComparison) -> str | None:
    """An adaptive study in one line: why it stopped, and per variant the seeds it ran and its verdict
    (from the records, as the table)."""
    block = comparison.adaptive
    if not block:
        return None
    parts = []
    for r in comparison.table.itertuples():
        if r.is_baseline:
            parts.insert(0, f"{r.variant} (baseline) {r.n} seeds")
        else:
            parts.append(f"{r.variant} {r.n} seeds, {verdict_text(r)}")
    stopped = str(block.get("stopped"))
    return f"adaptive seeds: stopped on {STOPPED.get(stopped, stopped)}; " + "; ".join(parts)


def _md_cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (pandas' own needs the tabulate package)."""
    lines = [
        "| " + " | ".join(_md_cell(c) for c in frame.columns) + " |",
        "|" + "|".join("---" for _ in frame.columns) + "|",
    ]
    lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def to_markdown(comparison: StudyComparison) -> str:
    """The whole comparison as a Markdown document; what the references say comes first."""
    parts = [f"# Ablation report: {comparison.study}", ""]
    parts += [f"> **{v}**" for v in comparison.verdicts]
    parts += ["", legend(comparison)] if comparison.verdicts else [legend(comparison)]
    parts += ["", markdown_table(formatted_table(comparison))]
    excluded = excluded_runs(comparison)
    if len(excluded):
        parts += ["", "## Runs not averaged in", "", markdown_table(excluded)]
    if comparison.warnings:
        parts += ["", "## Warnings", "", *(f"- {w}" for w in comparison.warnings)]
    return "\n".join(parts) + "\n"


def write_tables(comparison: StudyComparison, out_dir: Path) -> list[Path]:
    """comparison_table.csv (numbers), comparison_table.md, runs.csv (one row per run), references.csv
    (the floors and ceilings, every metric they were scored on)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, md_path, runs_path = (
        out_dir / name for name in ("comparison_table.csv", "comparison_table.md", "runs.csv")
    )
    comparison.table.assign(
        study=comparison.study, metric=comparison.metric, mode=comparison.mode, baseline=comparison.baseline
    ).to_csv(csv_path, index=False)
    md_path.write_text(to_markdown(comparison))
    comparison.runs.to_csv(runs_path, index=False)
    written = [csv_path, md_path, runs_path]
    if len(comparison.references):
        comparison.references.to_csv(out_dir / "references.csv", index=False)
        written.append(out_dir / "references.csv")
    return written


def rich_table(comparison: StudyComparison):
    """A compact rich Table for the terminal (quality, its delta and p, cost deltas, notes; then the
    reference rows); variants without completed runs in red, significant deltas green when better and
    red when worse, reference rows dim."""
    from rich.markup import escape
    from rich.table import Table

    text = formatted_table(comparison, references=False)
    mean_column, ci_column = mean_label(comparison), f"{comparison.confidence:.0%} CI"
    costs = [(c, label) for _, c, label in _recorded_costs(comparison) if c in TERMINAL_COSTS]
    columns = [
        "Variant",
        "n",
        mean_column,
        ci_column,
        "Quality Δ",
        "p (Holm)",
        "Verdict",
        *(COST_DELTA_LABELS[c] for c, _ in costs),
        "Notes",
    ]
    table = Table(
        title=f"{comparison.study}: {comparison.metric} ({direction(comparison)}), "
        f"baseline {comparison.baseline}",
        title_justify="left",
    )
    short = {mean_column: "mean ± std", "Train time Δ": "Train Δ", "Model mem Δ": "Mem Δ"}
    for column in columns:
        table.add_column(
            short.get(column, column),
            overflow="fold",
            no_wrap=column != "Notes",
            min_width=24 if column == "Notes" else None,
            justify="left" if column in ("Variant", "Notes") else "right",
        )
    for row, numbers in zip(text.itertuples(index=False), comparison.table.itertuples()):
        cells = {c: escape(str(v)) for c, v in zip(text.columns, row)}
        for column, _ in costs:
            cells[COST_DELTA_LABELS[column]] = (
                DASH if numbers.is_baseline else escape(cost_delta(numbers, column))
            )
        if numbers.delta_pct == numbers.delta_pct:
            cells["Quality Δ"] += f" ({_pct(numbers.delta_pct)})"
        if numbers.significant:
            colour = "green" if numbers.better else "red"
            cells["Quality Δ"] = f"[{colour}]{cells['Quality Δ']}[/{colour}]"
        if numbers.status != "completed":
            cells["Notes"] = "; ".join(p for p in (escape(numbers.status), cells["Notes"]) if p)
        style = "red" if numbers.n == 0 else ("bold" if numbers.is_baseline else None)
        table.add_row(*(cells[c] for c in columns), style=style)
    for reference in _reference_rows(comparison, columns):
        table.add_row(*(escape(str(reference.get(c, DASH))) for c in columns), style="dim")
    return table
