"""From folders to report files: load studies, write tables, plots and report.html, return a `Report`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ablab.analysis.aggregate import StudyComparison, mean_curves
from ablab.analysis.collect import Warn, collect_runs, warn_stderr
from ablab.analysis.compare import compare
from ablab.analysis.html import write_html
from ablab.analysis.plots import write_plots
from ablab.analysis.tables import write_tables
from ablab.errors import DataError

REPORT_DIR = "report"


@dataclass
class Report:
    """One study's written report: what other outputs (a W&B upload, a notebook) build on.

    `tables`: "comparison" (one row per variant), "runs" (one row per run), "curves" (mean validation
    curves, long format), all pandas DataFrames. `plots`: the PNGs. `files`: everything written.
    """

    study: str
    report_dir: Path
    comparison: StudyComparison
    tables: dict[str, pd.DataFrame]
    plots: list[Path]
    files: list[Path] = field(default_factory=list)

    @property
    def html(self) -> Path:
        """The self-contained report page."""
        return self.report_dir / "report.html"

    @property
    def metric(self) -> str:
        """The compared record key, e.g. `test/f1_weighted`."""
        return self.comparison.metric

    @property
    def baseline(self) -> str:
        """The variant every other one is compared with."""
        return self.comparison.baseline


def load_studies(
    paths: Sequence[Path | str],
    *,
    baseline: str | None = None,
    metric: str | None = None,
    alpha: float = 0.05,
    margin: float | None = None,
    warn: Warn = warn_stderr,
) -> list[StudyComparison]:
    """Every study found under `paths`, compared with its baseline (DataError on bad input)."""
    runs = collect_runs(paths, warn)
    return compare(runs, baseline=baseline, metric=metric, alpha=alpha, margin=margin, warn=warn)


def load_study(path: Path | str, *, study: str | None = None, **options) -> StudyComparison:
    """The one study under `path` (or the one named `study` when the folder holds several)."""
    studies = load_studies([path], **options)
    chosen = [s for s in studies if study is None or s.study == study]
    if len(chosen) != 1:
        names = ", ".join(s.study for s in studies)
        raise DataError(f"{path} holds the studies {names}: name the one to load with study=...")
    return chosen[0]


def write_report(
    comparison: StudyComparison, out_dir: Path | str, sources: Sequence[Path | str] = ()
) -> Report:
    """Write comparison_table.csv/.md, runs.csv, the PNG plots and report.html into `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    from ablab.analysis.axes import write_axis_plots
    from ablab.analysis.search import write_search

    curves = mean_curves(comparison)
    files = write_tables(comparison, out)
    plots = write_plots(comparison, curves, out) + write_axis_plots(comparison, out)
    search_files, search_html = write_search(comparison, out)
    files += [f for f in search_files if f.suffix != ".png"]
    plots += [f for f in search_files if f.suffix == ".png"]
    html = write_html(comparison, plots, [Path(s) for s in sources], out / "report.html", search_html)
    return Report(
        study=comparison.study,
        report_dir=out,
        comparison=comparison,
        tables={"comparison": comparison.table, "runs": comparison.runs, "curves": curves},
        plots=plots,
        files=[*files, *plots, html],
    )


def make_reports(
    paths: Sequence[Path | str],
    *,
    out: Path | str | None = None,
    baseline: str | None = None,
    metric: str | None = None,
    alpha: float = 0.05,
    margin: float | None = None,
    warn: Warn = warn_stderr,
) -> list[Report]:
    """Report every study under `paths`: into `out` (default `<first path>/report`), or into
    `<out>/<study>` each when there are several studies."""
    if not paths:
        raise DataError("no folders given: pass one or more sweep or run folders (e.g. logs/hnet_ablation)")
    studies = load_studies(paths, baseline=baseline, metric=metric, alpha=alpha, margin=margin, warn=warn)
    root = Path(out) if out is not None else Path(paths[0]) / REPORT_DIR
    sources = [Path(p) for p in paths]
    if len(studies) == 1:
        return [write_report(studies[0], root, sources)]
    return [write_report(s, root / s.study, sources) for s in studies]
