"""The search part of a report, for a study a search ran (its folder holds `search.json`): Optuna's
fANOVA importance of each searched parameter per objective, and for a Pareto search the front (its
trials listed, drawn against all completed ones). Rebuilt from the runs' records into an in-memory
study (one trial per run), so the report needs no access to the search's storage, and a config that
two trials shared counts once."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ablab.analysis.aggregate import StudyComparison
from ablab.analysis.axes import axis_value, study_folder
from ablab.runs.records import RESULTS_FILE, CorruptRecord, read_record

SEARCH_FILE = "search.json"


@dataclass
class SearchReport:
    """What the report shows of a search: importances (objective -> parameter -> share), the front."""

    objectives: list[str]
    directions: list[str]
    importances: dict[str, dict[str, float]] = field(default_factory=dict)
    front: pd.DataFrame = field(default_factory=pd.DataFrame)
    runs: pd.DataFrame = field(default_factory=pd.DataFrame)
    warnings: list[str] = field(default_factory=list)


def read_search(folder: Path | None) -> dict[str, Any] | None:
    try:
        return json.loads((folder / SEARCH_FILE).read_text()) if folder else None
    except (OSError, ValueError):
        return None


def _typed(text: str | None, distribution: Any) -> Any:
    """An override's text as the distribution's value; None when it is not one of its values."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if text is None:
        return None
    if isinstance(distribution, CategoricalDistribution):
        return next((c for c in distribution.choices if str(c) == text.strip("'\"")), None)
    number = float(text)
    return int(number) if isinstance(distribution, IntDistribution) else number


def _trials(comparison: StudyComparison, space: dict[str, Any], keys: list[str]) -> pd.DataFrame:
    """One row per completed run: its trial number, parameters and objective values."""
    rows = []
    for row in comparison.runs[comparison.runs["status"] == "completed"].itertuples():
        try:
            record = read_record(Path(row.path) / RESULTS_FILE)
        except CorruptRecord:
            continue
        found = {**(record.get("cost") or {}), **(record.get("metrics") or {})}
        values = [float(found.get(k, math.nan)) for k in keys]
        params = {k: _typed(axis_value(record, k), d) for k, d in space.items()}
        if all(math.isfinite(v) for v in values) and None not in params.values():
            trial = (record.get("trial") or {}).get("number")
            rows.append({"trial": trial, "variant": row.variant, "params": params, **dict(zip(keys, values))})
    return pd.DataFrame(rows)


def search_report(comparison: StudyComparison) -> SearchReport | None:
    """The search's importances and front; None for a study no search ran."""
    import optuna

    data = read_search(study_folder(comparison))
    if not data:
        return None
    space = {k: optuna.distributions.json_to_distribution(v) for k, v in data["space"].items()}
    keys, directions = list(data["objectives"]), list(data["directions"])
    report = SearchReport(keys, directions, runs=_trials(comparison, space, keys))
    if len(report.runs) < 2:
        report.warnings.append(f"{len(report.runs)} completed trial(s): no importances or front to show")
        return report
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=directions)
    for run in report.runs.itertuples():
        values = [report.runs.at[run.Index, k] for k in keys]
        study.add_trial(optuna.trial.create_trial(params=run.params, distributions=space, values=values))
    for i, key in enumerate(keys):
        try:
            report.importances[key] = optuna.importance.get_param_importances(
                study,
                evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0),
                target=lambda t, i=i: t.values[i],
            )
        except (ValueError, RuntimeError) as exc:
            report.warnings.append(f"no fANOVA importances for {key}: {exc}")
    if len(keys) > 1:
        numbers = {t.number for t in study.best_trials}
        report.front = report.runs.iloc[sorted(numbers)].sort_values(keys[0]).reset_index(drop=True)
    return report


def front_table(report: SearchReport) -> pd.DataFrame:
    """The Pareto front as the report lists it: trial, run, objective values, parameters."""
    rows = []
    for run in report.front.itertuples():
        params = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in run.params.items()
        )
        values = {k: report.front.at[run.Index, k] for k in report.objectives}
        trial = "" if pd.isna(run.trial) else int(run.trial)
        rows.append({"Trial": trial, "Variant": run.variant, **values, "Parameters": params})
    return pd.DataFrame(rows)


def plot_importances(report: SearchReport, study: str, path: Path) -> Path:
    """fANOVA importance of each parameter, one panel per objective."""
    from ablab.analysis.plots import _figure, _save

    keys = list(report.importances)
    figure = _figure(5.5 * len(keys), 0.5 * max(len(v) for v in report.importances.values()) + 1.8)
    for ax, key in zip(figure.subplots(1, len(keys), squeeze=False)[0], keys):
        shares = report.importances[key]
        names = list(shares)[::-1]
        ax.barh(names, [shares[n] for n in names], color="#2a9d8f")
        ax.set_xlabel("fANOVA importance (share of variance)")
        ax.set_title(f"{study}: what moves {key}")
    return _save(figure, path)


def plot_front(report: SearchReport, study: str, path: Path) -> Path:
    """Every completed trial on the first two objectives, the Pareto front drawn and labelled."""
    from ablab.analysis.plots import _figure, _save

    x, y = report.objectives[:2]
    figure = _figure(6.5, 4.8)
    ax = figure.add_subplot()
    ax.scatter(report.runs[x], report.runs[y], color="#8d99ae", s=22, label="completed trials")
    ax.step(report.front[x], report.front[y], where="post", color="#e76f51", linewidth=1.2)
    ax.scatter(report.front[x], report.front[y], color="#e76f51", s=40, zorder=3, label="Pareto front")
    for run in report.front.itertuples():
        if not pd.isna(run.trial):
            ax.annotate(f"#{int(run.trial)}", (report.front.at[run.Index, x], report.front.at[run.Index, y]),
                        xytext=(4, 4), textcoords="offset points", fontsize=8)  # fmt: skip
    ax.set_xlabel(f"{x} ({report.directions[0]})")
    ax.set_ylabel(f"{y} ({report.directions[1]})")
    ax.set_title(f"{study}: Pareto front ({len(report.front)} of {len(report.runs)} trials)")
    ax.legend(fontsize=8)
    return _save(figure, path)


def write_search(comparison: StudyComparison, out_dir: Path) -> tuple[list[Path], str]:
    """The search's plots, pareto_front.csv and an HTML section; nothing for a study no search ran."""
    from html import escape

    from ablab.analysis.html import _html_table

    report = search_report(comparison)
    if report is None:
        return [], ""
    files: list[Path] = []
    parts = ["<h2>Search</h2>", f"<p>objectives: {escape(', '.join(report.objectives))} "
             f"({escape(', '.join(report.directions))}); {len(report.runs)} completed trial(s)</p>"]  # fmt: skip
    if report.importances:
        files.append(plot_importances(report, comparison.study, out_dir / "param_importances.png"))
    if not report.front.empty:
        table = front_table(report)
        table.to_csv(out_dir / "pareto_front.csv", index=False)
        files += [
            plot_front(report, comparison.study, out_dir / "pareto_front.png"),
            out_dir / "pareto_front.csv",
        ]
        parts += [f"<h3>Pareto front: {len(table)} trial(s)</h3>", _html_table(table.round(6))]
    parts += [f'<p class="warning">{escape(w)}</p>' for w in report.warnings]
    return files, "".join(parts)
