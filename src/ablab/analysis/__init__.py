"""Ablation analysis: collect run records, aggregate over seeds, compare with the baseline, report.

    from ablab.analysis import load_study, write_report
    study = load_study("logs/hnet_ablation")      # a StudyComparison; study.table is a DataFrame
    report = write_report(study, "logs/hnet_ablation/report")   # tables, plots, report.html

`make_reports(paths)` does both for every study under `paths` (what `ablab-report` runs) and returns
`Report` objects (tables as DataFrames, plot paths, study, report_dir) for further outputs such as W&B.
Imports neither torch nor lightning.
"""

from ablab.analysis.aggregate import StudyComparison, mean_curves
from ablab.analysis.build import Report, load_studies, load_study, make_reports, write_report
from ablab.analysis.collect import Run, collect_runs, read_curves
from ablab.analysis.compare import compare
from ablab.analysis.tables import formatted_table, rich_table, to_markdown

__all__ = [
    "Report",
    "Run",
    "StudyComparison",
    "collect_runs",
    "compare",
    "formatted_table",
    "load_studies",
    "load_study",
    "make_reports",
    "mean_curves",
    "read_curves",
    "rich_table",
    "to_markdown",
    "write_report",
]
