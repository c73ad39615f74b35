"""The comparison as text: a formatted table shared by Markdown, HTML and the terminal (rich)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ablab.analysis.aggregate import COSTS, StudyComparison

DASH = "–"
COST_DELTA_LABELS = {
    "train_s": "Train time Δ",
    "peak_mem_gb": "Memory Δ",
    "params_m": "Params Δ",
    "infer_ms": "Inference Δ",
    "infer_ms_per_clip": "Inference/clip Δ",
    "infer_mem_gb_per_clip": "Inference mem/clip Δ",
}


def _fmt(value: float, spec: str) -> str:
    return DASH if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def _p(value: float) -> str:
    if math.isnan(value):
        return DASH
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _pct(value: float) -> str:
    return DASH if math.isnan(value) else f"{value:+.1f}%"


def direction(comparison: StudyComparison) -> str:
    """`higher is better` or `lower is better`, from the study's metric mode."""
    return "higher is better" if comparison.mode == "max" else "lower is better"


def _recorded_costs(comparison: StudyComparison) -> list[tuple[str, str, str]]:
    """The cost columns some run of the study recorded (per-clip costs exist only for generators)."""
    return [cost for cost in COSTS if comparison.table[cost[1]].notna().any()]


def formatted_table(comparison: StudyComparison) -> pd.DataFrame:
    """One row of strings per variant, with the columns every text output shows."""
    rows = []
    for r in comparison.table.itertuples():
        delta = _fmt(r.delta, "+.4f")
        if r.significant:
            delta += "*"
        notes = "; ".join(part for part in (r.notes, r.excluded) if part)
        row = {
            "Variant": r.variant,
            "Status": r.status,
            "n": str(r.n),
            f"{comparison.metric} (mean ± std)": (
                DASH if math.isnan(r.mean) else f"{r.mean:.4f} ± {_fmt(r.std, '.4f')}"
            ),
            f"{comparison.confidence:.0%} CI": (
                DASH if math.isnan(r.ci_low) else f"[{r.ci_low:.4f}, {r.ci_high:.4f}]"
            ),
            "Quality Δ": delta,
            "Quality Δ%": _pct(r.delta_pct),
            "p": _p(r.p_value) + (f" ({r.test})" if r.test and not math.isnan(r.p_value) else ""),
            "p (Holm)": _p(r.p_holm),
        }
        for _, column, label in _recorded_costs(comparison):
            row[label] = _fmt(getattr(r, column), ".4g")
            row[COST_DELTA_LABELS[column]] = (
                DASH if r.is_baseline else _pct(getattr(r, f"{column}_delta_pct"))
            )
        row["Notes"] = notes
        rows.append(row)
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
        f"({comparison.baseline_rule}). Quality Δ = variant mean − baseline mean; p from the paired t-test "
        f"when the variant ran the baseline's seeds, else Welch's t-test; Holm-corrected over {comparisons} "
        f"comparison(s); `*` marks p (Holm) < {comparison.alpha:g}. Cost Δ are relative to the baseline. "
        "Failed, diverged and unfinished runs are listed, never averaged in."
    )


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
    """The whole comparison as a Markdown document."""
    parts = [
        f"# Ablation report: {comparison.study}",
        "",
        legend(comparison),
        "",
        markdown_table(formatted_table(comparison)),
    ]
    excluded = excluded_runs(comparison)
    if len(excluded):
        parts += ["", "## Runs not averaged in", "", markdown_table(excluded)]
    if comparison.warnings:
        parts += ["", "## Warnings", "", *(f"- {w}" for w in comparison.warnings)]
    return "\n".join(parts) + "\n"


def write_tables(comparison: StudyComparison, out_dir: Path) -> list[Path]:
    """comparison_table.csv (numbers), comparison_table.md, runs.csv (one row per run)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, md_path, runs_path = (
        out_dir / name for name in ("comparison_table.csv", "comparison_table.md", "runs.csv")
    )
    comparison.table.assign(
        study=comparison.study, metric=comparison.metric, mode=comparison.mode, baseline=comparison.baseline
    ).to_csv(csv_path, index=False)
    md_path.write_text(to_markdown(comparison))
    comparison.runs.to_csv(runs_path, index=False)
    return [csv_path, md_path, runs_path]


def rich_table(comparison: StudyComparison):
    """A compact rich Table for the terminal (quality, its delta and p, cost deltas, notes); variants
    without completed runs in red, significant deltas green when better and red when worse."""
    from rich.markup import escape
    from rich.table import Table

    text = formatted_table(comparison)
    mean_column, ci_column = text.columns[3], text.columns[4]
    columns = [
        "Variant",
        "n",
        mean_column,
        ci_column,
        "Quality Δ",
        "p (Holm)",
        *(COST_DELTA_LABELS[column] for _, column, _ in _recorded_costs(comparison)),
        "Notes",
    ]
    table = Table(
        title=f"{comparison.study}: {comparison.metric} ({direction(comparison)}), "
        f"baseline {comparison.baseline}",
        title_justify="left",
    )
    short = {
        mean_column: "mean ± std",
        "Train time Δ": "Train Δ",
        "Memory Δ": "Mem Δ",
        "Inference Δ": "Infer Δ",
        "Inference/clip Δ": "Infer/clip Δ",
        "Inference mem/clip Δ": "Infer mem/clip Δ",
    }
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
        if numbers.delta_pct == numbers.delta_pct:
            cells["Quality Δ"] += f" ({_pct(numbers.delta_pct)})"
        if numbers.significant:
            colour = "green" if numbers.better else "red"
            cells["Quality Δ"] = f"[{colour}]{cells['Quality Δ']}[/{colour}]"
        if numbers.status != "completed":
            cells["Notes"] = "; ".join(p for p in (escape(numbers.status), cells["Notes"]) if p)
        style = "red" if numbers.n == 0 else ("bold" if numbers.is_baseline else None)
        table.add_row(*(cells[c] for c in columns), style=style)
    return table
