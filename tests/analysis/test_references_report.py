"""The report beside its references: floors as rows, the verdict on a baseline that does not beat its
floor, variants below the floor marked, what the study could detect, cost deltas with intervals."""

from __future__ import annotations

from pathlib import Path

import pytest
from scipy import stats as scipy_stats

from ablab.analysis import load_study, write_report


def _references(floor: float, ceiling: float) -> dict:
    return {
        "key": "k1",
        "rows": [
            {"name": "all zeros", "kind": "floor", "metrics": {"test/f1_weighted": floor - 0.1}, "note": ""},
            {"name": "chord rule", "kind": "floor", "metrics": {"test/f1_weighted": floor}, "note": ""},
            {"name": "oracle", "kind": "ceiling", "metrics": {"test/f1_weighted": ceiling}, "note": ""},
        ],
    }


def _study(make_run, tmp_path: Path, base: dict[int, float], floor: float) -> Path:
    refs = _references(floor, 0.996)
    for seed, value in base.items():
        make_run(variant="baseline", seed=seed, value=value, references=refs)
    for seed, value in {1: 0.85, 2: 0.86, 3: 0.84}.items():
        make_run(variant="broken", seed=seed, value=value, references=refs)
    for seed, (value, train_s) in {1: (0.905, 11.0), 2: (0.915, 13.0), 3: (0.9, 12.0)}.items():
        cost = {"cost/train_s": train_s, "cost/flops": 3000.0, "cost/params_m": 0.5}
        make_run(variant="wider", seed=seed, value=value, references=refs, cost=cost)
    return tmp_path / "logs" / "toy"


def test_a_baseline_at_its_floor_is_called_out_and_variants_below_it_are_marked(make_run, tmp_path) -> None:
    study = _study(make_run, tmp_path, {1: 0.89, 2: 0.90, 3: 0.895}, floor=0.894)
    comparison = load_study(study, warn=lambda _: None)
    assert comparison.verdicts[0].startswith("the baseline does not beat chord rule: this study cannot tell")
    refs = comparison.references.set_index("name")["value"]
    assert refs.to_dict() == pytest.approx({"all zeros": 0.794, "chord rule": 0.894, "oracle": 0.996})
    table = comparison.table.set_index("variant")
    assert table.loc["broken", "below_floor"] and "below chord rule (0.8940)" in table.loc["broken", "notes"]
    assert not table.loc["wider", "below_floor"]
    out = tmp_path / "report"
    write_report(comparison, out)
    markdown = (out / "comparison_table.md").read_text()
    assert markdown.index("the baseline does not beat chord rule") < markdown.index("| broken")
    assert "chord rule" in (out / "references.csv").read_text()
    assert "chord rule" in (out / "report.html").read_text()


def test_a_baseline_well_above_its_floor_gets_no_verdict(make_run, tmp_path) -> None:
    study = _study(make_run, tmp_path, {1: 0.95, 2: 0.96, 3: 0.955}, floor=0.894)
    comparison = load_study(study, warn=lambda _: None)
    assert not any("does not beat" in v for v in comparison.verdicts)


def test_the_power_hint_and_paired_cost_intervals_follow_the_seeds(make_run, tmp_path) -> None:
    study = _study(make_run, tmp_path, {1: 0.90, 2: 0.91, 3: 0.905}, floor=0.5)
    comparison = load_study(study, warn=lambda _: None)
    hint = next(v for v in comparison.verdicts if v.startswith("with 3 seeds and this spread"))
    assert "the smallest difference this study can detect at 80% power is" in hint
    wider = comparison.table.set_index("variant").loc["wider"]
    assert wider["test"] == "paired"
    # train time 11/13/12 against the baseline's 10/10/10: the paired t-interval of the difference
    d = [1.0, 3.0, 2.0]
    low, high = scipy_stats.t.interval(0.95, 2, loc=2.0, scale=scipy_stats.sem(d))
    assert wider["train_s_delta_pct_low"] == pytest.approx(low / 10 * 100)
    assert wider["train_s_delta_pct_high"] == pytest.approx(high / 10 * 100)
    # FLOPs are deterministic: the interval is the point
    assert wider["flops_delta_pct_low"] == wider["flops_delta_pct_high"] == pytest.approx(200.0)
