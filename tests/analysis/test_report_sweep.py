"""The report CLI and the notebook on a tiny real HNet study (3 variants x 2 seeds), made once per module."""

from __future__ import annotations

import re
import statistics
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

from tests.conftest import ROOT, TINY_HNET, find_records, run_cli

VARIANTS = ("baseline", "no_attention", "relu")
PLOTS = {
    "metric_by_variant.png",
    "delta_vs_baseline.png",
    "seed_distribution.png",
    "cost_vs_quality.png",
    "val_curves.png",
}
# The metric against the study's one axis (`ablation`), Ablator's per-axis plot.
SHOWN = PLOTS | {"axis_ablation.png"}


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory) -> tuple[Path, list[dict]]:
    """`python train.py -m sweep=hnet` cut down to three variants, two seeds, two epochs."""
    base = tmp_path_factory.mktemp("study")
    run_cli(
        [
            "-m",
            "sweep=hnet",
            *TINY_HNET,
            f"paths.log_dir={base / 'logs'}",
            f"paths.cache_dir={base / 'cache'}",
            "seed=1,2",
            "ablation=" + ",".join(f"hnet/{v}" for v in VARIANTS),
        ]
    )
    study_dir = base / "logs" / "hnet_ablation"
    return study_dir, find_records(study_dir)


def test_report_cli_on_a_real_sweep_writes_tables_plots_and_html(tiny_study) -> None:
    study_dir, records = tiny_study
    assert len(records) == 6 and {r["status"] for r in records} == {"completed"}
    proc = run_cli([str(study_dir)], program=[sys.executable, "-m", "ablab.cli.report"])
    out = study_dir / "report"
    assert {"comparison_table.csv", "comparison_table.md", "report.html", *SHOWN} <= {
        p.name for p in out.iterdir()
    }
    assert "hnet_ablation" in proc.stdout and "no_attention" in proc.stdout

    table = pd.read_csv(out / "comparison_table.csv").set_index("variant")
    assert table.index.tolist() == list(VARIANTS) and table["n"].tolist() == [2, 2, 2]
    assert set(table["metric"]) == {"test/f1_weighted"} and set(table["baseline"]) == {"baseline"}
    for variant in VARIANTS:
        values = [r["metrics"]["test/f1_weighted"] for r in records if r["variant"] == variant]
        assert table.loc[variant, "mean"] == pytest.approx(statistics.mean(values))
        params = [r["cost"]["cost/params_m"] for r in records if r["variant"] == variant]
        assert table.loc[variant, "params_m"] == pytest.approx(statistics.mean(params))
    assert table.loc["no_attention", "params_m_delta"] < 0  # no attention layer: fewer parameters
    assert set(table.loc[["no_attention", "relu"], "test"]) == {"paired"}  # same seeds as the baseline

    html = (out / "report.html").read_text()
    assert len(re.findall(r'src="data:image/png;base64,', html)) == len(SHOWN)
    assert "n<3: low power" in (out / "comparison_table.md").read_text()
    # the experiment's report.margin is in every record and the verdicts use it
    assert {r["report"]["margin"] for r in records} == {0.005}
    assert "beyond the margin 0.005" in (out / "comparison_table.md").read_text()
    verdicts = table.loc[["no_attention", "relu"], "verdict"]
    assert all(v in ("better", "worse", "equivalent", "undecided at n = 2") for v in verdicts)
    assert table.loc["baseline", "verdict"] == "baseline" and "Verdict" in html


def test_notebook_loads_the_study_and_shows_table_and_plots(tiny_study, tmp_path, monkeypatch) -> None:
    study_dir, _ = tiny_study
    monkeypatch.setenv("ABLAB_STUDY", str(study_dir))
    monkeypatch.setenv("ABLAB_REPORT_DIR", str(tmp_path / "report"))
    notebook = nbformat.read(ROOT / "notebooks" / "ablation_report.ipynb", as_version=4)
    NotebookClient(
        notebook,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(ROOT / "notebooks")}},
    ).execute()

    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == len(SHOWN)
    shown = "\n".join(
        str(o.get("data", {}).get("text/markdown", "")) + str(o.get("text", "")) for o in outputs
    )
    assert "study hnet_ablation: test/f1_weighted (max), baseline 'baseline'" in shown
    assert all(f"| {v} |" in shown for v in VARIANTS)
    assert {p.name for p in (tmp_path / "report").iterdir()} >= SHOWN
