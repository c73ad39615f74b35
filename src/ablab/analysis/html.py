"""A self-contained report.html: tables and plots (PNGs inlined as base64) in one file to mail or archive."""

from __future__ import annotations

import base64
import time
from html import escape
from pathlib import Path

import pandas as pd

from ablab.analysis.aggregate import StudyComparison
from ablab.analysis.settings import run_settings, settings_frame, variant_diffs
from ablab.analysis.tables import excluded_runs, formatted_table, legend

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 1400px; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 1rem 0; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.5rem; text-align: right; }
th { background: #f2f2f2; } td.text { text-align: left; }
tr.baseline { font-weight: bold; } tr.empty { color: #b00020; }
td.better { color: #1b7f4b; font-weight: bold; } td.worse { color: #b00020; font-weight: bold; }
td.equivalent { color: #1f4e8c; font-weight: bold; }
.warning { color: #8a5300; } figure { margin: 1.5rem 0; } img { max-width: 100%; }
.verdict { background: #fff3cd; border-left: 4px solid #b8860b; padding: 0.5rem 0.8rem; font-weight: bold; }
tr.reference { color: #555; font-style: italic; } tr.below td:first-child { color: #b00020; }
figcaption { font-size: 0.9rem; color: #333; max-width: 60rem; }
code { background: #f5f5f5; padding: 0 0.2rem; }
"""
_TEXT_COLUMNS = {"Variant", "Status", "Notes", "Reason", "Folder", "Setting", "Value", "Verdict"}
_DECIDED = ("better", "worse", "equivalent")


def _markdown_code(text: str) -> str:
    """The legend's `code` spans as <code> (the only Markdown it uses)."""
    parts = escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _html_table(
    frame: pd.DataFrame,
    row_classes: list[str] | None = None,
    cell_classes: dict[tuple[int, str], str] | None = None,
) -> str:
    head = "".join(f"<th>{escape(str(c))}</th>" for c in frame.columns)
    body = []
    for i, row in enumerate(frame.itertuples(index=False)):
        cells = []
        for column, value in zip(frame.columns, row):
            classes = ["text"] if column in _TEXT_COLUMNS else []
            if cell_classes and (i, column) in cell_classes:
                classes.append(cell_classes[(i, column)])
            attr = f' class="{" ".join(classes)}"' if classes else ""
            cells.append(f"<td{attr}>{escape(str(value))}</td>")
        attr = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{attr}>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


CAPTIONS = {
    "metric_by_variant": "The compared metric per variant: the mean over seeds with its {conf} t-interval. "
    "The baseline is black, its mean dashed and its interval shaded; green variants are better than it, "
    "red ones worse, hollow ones below the best floor. Coloured lines: the references (floors that learn "
    "nothing, classical models, ceilings) on the same test split. A variant or reference far from the "
    "others sits in a panel of its own (the axis is broken), so that the rest stay readable.",
    "delta_vs_baseline": "Each variant's difference from the baseline, with the {conf} interval of the "
    "test whose p-value the table shows (paired over matched seeds, else Welch's). Solid bars are "
    "significant after Holm's correction (*), pale ones are not. Lines: where the references lie, "
    "relative to the baseline.",
    "seed_distribution": "Every seed's value per variant, with a box plot: the spread all the statistics "
    "are made of. A small n with a wide spread cannot separate small differences.",
    "val_curves": "Mean validation curves over seeds (band: ± one standard deviation), per variant: "
    "whether training had converged when it stopped.",
    "cost_vs_quality": "Quality against cost, per variant: FLOPs per sample (deterministic), latency "
    "per sample (median of repeated timings) and train time (wall clock on shared cores). A variant off "
    "the quality scale of the others is drawn at the edge with a triangle; lines are the references.",
}


def _image(path: Path, comparison: StudyComparison) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    caption = CAPTIONS.get(path.stem, "").format(conf=f"{comparison.confidence:.0%}")
    return (
        f'<figure><img alt="{escape(path.stem)}" src="data:image/png;base64,{data}">'
        f"<figcaption><b>{escape(path.name)}</b>. {escape(caption)}</figcaption></figure>"
    )


def _row_classes(comparison: StudyComparison, count: int) -> list[str]:
    classes = []
    for r in comparison.table.itertuples():
        names = ["baseline" if r.is_baseline else ("empty" if r.n == 0 else "")]
        names.append("below" if getattr(r, "below_floor", False) else "")
        classes.append(" ".join(n for n in names if n))
    return classes + ["reference"] * (count - len(classes))


def _diffs(comparison: StudyComparison) -> list[str]:
    diffs = variant_diffs(comparison)
    if not diffs:
        return []
    items = "".join(
        f"<li><code>{escape(v)}</code>: {'; '.join(f'<code>{escape(d)}</code>' for d in lines)}</li>"
        for v, lines in diffs.items()
    )
    return [
        f"<h2>What each variant changes</h2><p>Config keys that differ from the baseline's:</p><ul>{items}</ul>"
    ]


def render_html(
    comparison: StudyComparison, plots: list[Path], sources: list[Path], sections: str = ""
) -> str:
    """The report page as a string."""
    table = comparison.table
    text = formatted_table(comparison)
    cells = {
        (i, "Quality Δ"): "better" if r.better else "worse"
        for i, r in enumerate(table.itertuples())
        if r.significant
    }
    cells |= {(i, "Verdict"): r.verdict for i, r in enumerate(table.itertuples()) if r.verdict in _DECIDED}
    parts = [f"<h1>Ablation report: {escape(comparison.study)}</h1>"]
    parts += [f'<p class="verdict">{escape(v)}</p>' for v in comparison.verdicts]
    parts += [
        f"<p>{_markdown_code(legend(comparison))}</p>",
        _html_table(text, _row_classes(comparison, len(text)), cells),
        "<h2>Run settings</h2>",
        _html_table(settings_frame(run_settings(comparison))),
        *_diffs(comparison),
    ]
    excluded = excluded_runs(comparison)
    if len(excluded):
        parts += ["<h2>Runs not averaged in</h2>", _html_table(excluded)]
    if comparison.warnings:
        items = "".join(f'<li class="warning">{escape(w)}</li>' for w in comparison.warnings)
        parts += [f"<h2>Warnings</h2><ul>{items}</ul>"]
    parts += [sections, "<h2>Plots</h2>", *(_image(p, comparison) for p in plots)]
    listed = "".join(f"<li><code>{escape(str(s))}</code></li>" for s in sources)
    parts += [
        f"<h2>Sources</h2><ul>{listed}</ul>",
        f"<p>{len(comparison.runs)} run(s); generated {escape(time.strftime('%Y-%m-%d %H:%M:%S %z'))} "
        "by <code>ablab-report</code>.</p>",
    ]
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Ablation report: {escape(comparison.study)}</title><style>{_STYLE}</style></head>"
        f"<body>{''.join(parts)}</body></html>\n"
    )


def write_html(
    comparison: StudyComparison, plots: list[Path], sources: list[Path], path: Path, sections: str = ""
) -> Path:
    """Write report.html to `path`; `sections` (HTML) go before the plots."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(comparison, plots, sources, sections), encoding="utf-8")
    return path
