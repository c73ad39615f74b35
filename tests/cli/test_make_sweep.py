"""`make sweep` (the README's first command) runs a study and leaves its report."""

from __future__ import annotations

import json

from tests.conftest import ROOT, TINY_CSV, find_records, run_cli


def test_make_sweep_runs_the_study_and_writes_the_report(tmp_path) -> None:
    args = [
        *TINY_CSV,
        f"paths.log_dir={tmp_path}/logs",
        f"paths.cache_dir={tmp_path}/cache",
        "seed=1,2",
        "ablation=hnet/baseline,hnet/no_attention",
    ]
    proc = run_cli(
        ["sweep", "SWEEP=hnet", f"ARGS={' '.join(args)}"],
        program=["make", "-s", "-C", str(ROOT)],
        timeout=900,
    )
    study = tmp_path / "logs" / "hnet_ablation"
    records = find_records(study)
    assert sorted((r["variant"], r["seed"]) for r in records) == [
        ("baseline", 1),
        ("baseline", 2),
        ("no_attention", 1),
        ("no_attention", 2),
    ]
    report = study / "report"
    for name in ("comparison_table.csv", "comparison_table.md", "report.html"):
        assert (report / name).is_file(), name
    assert list(report.glob("*.png"))
    assert "no_attention" in (report / "comparison_table.md").read_text()
    assert "4 completed / 0 skipped / 0 failed / 0 diverged" in proc.stderr
    assert all(
        json.loads((r["_dir"] / "results.json").read_text())["study"] == "hnet_ablation" for r in records
    )
