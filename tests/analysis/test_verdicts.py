"""Verdicts on synthetic records: better/worse, equivalent within the margin, undecided with the seeds
that would decide; every figure against scipy.stats or a published value."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize
from scipy import stats as scipy_stats

from ablab.analysis import load_study, power, stats
from ablab.analysis.tables import formatted_table, to_markdown
from ablab.analysis.verdicts import effect_size, improvement, step_down, tost, wilson
from ablab.cli.report import main
from ablab.errors import DataError

BASE = {1: 0.900, 2: 0.910, 3: 0.905, 4: 0.895, 5: 0.915, 6: 0.902}


def _study(make_run, variants: dict[str, dict[int, float]], margin: float | None = 0.005, mode: str = "max"):
    for seed, value in BASE.items():
        make_run(variant="baseline", seed=seed, value=value, margin=margin, mode=mode)
    for name, values in variants.items():
        for seed, value in values.items():
            make_run(variant=name, seed=seed, value=value, margin=margin, mode=mode)


def _row(comparison, variant: str):
    return comparison.table.set_index("variant").loc[variant]


def test_clear_loss_is_worse_and_identical_within_margin_is_equivalent(make_run, tmp_path) -> None:
    worse = {s: v - 0.08 + 0.002 * (s % 2) for s, v in BASE.items()}
    same = {s: v + 0.0005 * (-1) ** s for s, v in BASE.items()}
    _study(make_run, {"no_fc": worse, "hidden_120": same})
    comparison = load_study(tmp_path / "logs")
    assert comparison.margin == 0.005
    assert _row(comparison, "no_fc")["verdict"] == "worse"
    assert _row(comparison, "hidden_120")["verdict"] == "equivalent"
    assert _row(comparison, "baseline")["verdict"] == "baseline"
    # the worse variant lost every seed: P(better) 0 with Wilson's interval of 0 of 6
    assert _row(comparison, "no_fc")["p_improve"] == 0
    assert _row(comparison, "no_fc")["p_improve_high"] == pytest.approx(wilson(0, 6)[1])
    text = formatted_table(comparison).set_index("Variant")
    assert text.loc["no_fc", "Verdict"] == "worse" and text.loc["hidden_120", "Verdict"] == "equivalent"
    assert "equivalent: two one-sided paired t-tests within ± 0.005" in to_markdown(comparison)


def test_lower_is_better_turns_the_verdict(make_run, tmp_path) -> None:
    higher = {s: v + 0.08 + 0.002 * (s % 2) for s, v in BASE.items()}
    _study(make_run, {"bigger_loss": higher}, mode="min")
    comparison = load_study(tmp_path / "logs", metric="f1_weighted")
    assert comparison.mode == "min"
    assert _row(comparison, "bigger_loss")["verdict"] == "worse"
    assert _row(comparison, "bigger_loss")["p_improve"] == 0


def test_noisy_tiny_difference_at_three_seeds_is_undecided_with_more_seeds_to_decide(
    make_run, tmp_path
) -> None:
    for seed, value in {1: 0.90, 2: 0.93, 3: 0.88}.items():
        make_run(variant="baseline", seed=seed, value=value, margin=0.005)
    for seed, value in {1: 0.92, 2: 0.91, 3: 0.90}.items():
        make_run(variant="close", seed=seed, value=value, margin=0.005)
    comparison = load_study(tmp_path / "logs")
    row = _row(comparison, "close")
    assert row["verdict"] == "undecided at n = 3"
    assert row["seeds_to_decide"] > 3
    d = np.array([0.02, -0.02, 0.02])
    # planned with the paired t-test's power at alpha / 1 comparison, the observed spread of the
    # differences, against the observed delta (beyond the margin)
    assert row["seeds_to_decide"] == power.seeds_needed(abs(d.mean()), d.std(ddof=1), 0.05, paired=True)
    text = formatted_table(comparison).set_index("Variant")
    assert (
        text.loc["close", "Verdict"] == f"undecided at n = 3 (~{int(row['seeds_to_decide'])} seeds to decide)"
    )


def test_significant_but_within_the_margin_is_not_called_better(make_run, tmp_path) -> None:
    tiny = {s: v + 0.002 + 0.0001 * (s % 2) for s, v in BASE.items()}
    _study(make_run, {"tiny": tiny}, margin=0.005)
    row = _row(load_study(tmp_path / "logs"), "tiny")
    assert row["p_difference_adj"] < 0.05  # a real difference, but one that does not matter
    assert row["verdict"] == "equivalent"
    row = _row(load_study(tmp_path / "logs", margin=0.001), "tiny")  # a smaller margin: it matters
    assert row["verdict"] == "better" and math.isnan(row["seeds_to_decide"])
    _study(make_run, {"tiny": tiny}, margin=None)  # the same runs recorded without a margin
    no_margin = load_study(tmp_path / "logs")
    assert no_margin.margin is None and _row(no_margin, "tiny")["verdict"] == "better"
    assert math.isnan(_row(no_margin, "tiny")["p_equivalence"])


def test_runs_that_disagree_on_the_margin_name_the_fix(make_run, tmp_path) -> None:
    make_run(variant="baseline", seed=1, value=0.9, margin=0.005)
    make_run(variant="baseline", seed=2, value=0.91, margin=0.01)
    make_run(variant="other", seed=1, value=0.9, margin=0.005)
    with pytest.raises(DataError, match=r"different report.margin values \[0.005, 0.01\].*--margin"):
        load_study(tmp_path / "logs")
    assert load_study(tmp_path / "logs", margin=0.02).margin == 0.02


def test_margin_on_the_command_line(make_run, tmp_path, capsys) -> None:
    same = {s: v + 0.0005 * (-1) ** s for s, v in BASE.items()}
    _study(make_run, {"hidden_120": same}, margin=None)
    assert main([str(tmp_path / "logs"), "--margin", "-1"]) == 2
    assert "--margin=-1.0 must be positive" in capsys.readouterr().err
    assert main([str(tmp_path / "logs"), "--margin", "0.005", "--no-wandb"]) == 0
    assert "equivalent" in capsys.readouterr().out
    table = (tmp_path / "logs" / "report" / "comparison_table.csv").read_text()
    assert "equivalent" in table and "p_equivalence_adj" in table and "effect_size" in table
    html = (tmp_path / "logs" / "report" / "report.html").read_text()
    assert '<td class="text equivalent">equivalent</td>' in html


def test_effect_size_interval_inverts_scipy_noncentral_t() -> None:
    d = np.array([0.02, 0.011, 0.03, 0.017, 0.024])
    dz, low, high = effect_size(d)
    n, t = len(d), d.mean() / d.std(ddof=1) * math.sqrt(len(d))
    assert dz == pytest.approx(d.mean() / d.std(ddof=1))
    for bound, tail in ((low, 0.975), (high, 0.025)):
        root = optimize.brentq(lambda nc, tail=tail: scipy_stats.nct.cdf(t, n - 1, nc) - tail, -50, 50)
        expected = root / math.sqrt(n)
        assert bound == pytest.approx(expected, rel=1e-6)


def test_wilson_interval_matches_scipy_and_a_published_value() -> None:
    # Newcombe (1998), Statistics in Medicine 17, table I: 81 of 263 -> 0.2553 to 0.3662
    assert wilson(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    for k, n in ((0, 3), (7, 10), (10, 10)):
        expected = scipy_stats.binomtest(k, n).proportion_ci(0.95, method="wilson")
        assert wilson(k, n) == pytest.approx((expected.low, expected.high))
    share, low, high = improvement(np.array([0.1, -0.1, 0.0, 0.2]), "max")
    assert share == 2.5 / 4 and low < share < high  # a tie counts half


def test_tost_is_the_larger_of_two_one_sided_t_tests() -> None:
    d = np.array([0.001, -0.002, 0.0015, 0.0005, -0.001])
    lower = scipy_stats.ttest_1samp(d, -0.005, alternative="greater").pvalue
    upper = scipy_stats.ttest_1samp(d, 0.005, alternative="less").pvalue
    assert tost(d, 0.005) == pytest.approx(max(lower, upper))


def test_minimum_detectable_effect_matches_the_noncentral_t_power() -> None:
    # statsmodels' TTestPower is not installed here: the MDE is checked against scipy.stats.nct's
    # power of the paired t-test (what TTestPower computes), and against the seeds it needs
    se, df = power.paired_se(1.0, 10)
    mde = power.detectable(se, df, 0.05)
    crit = scipy_stats.t.ppf(0.975, df)
    nc = mde / se
    achieved = scipy_stats.nct.sf(crit, df, nc) + scipy_stats.nct.cdf(-crit, df, nc)
    assert achieved == pytest.approx(0.8, abs=1e-6)
    assert power.seeds_needed(mde * 1.001, 1.0, 0.05, paired=True) == 10
    assert power.seeds_needed(mde * 0.99, 1.0, 0.05, paired=True) == 11


def test_step_down_is_holm_for_one_family_and_shaffer_for_disjoint_pairs() -> None:
    p = [0.01, 0.04, 0.03, float("nan")]
    assert step_down(np.array(p), [0, 1, 2, 3]) == pytest.approx(stats.holm(p), nan_ok=True)
    # two comparisons, each with a difference and an equivalence p-value (at most one true per pair):
    # sorted: 0.01 (pair 0) x2, 0.011 (pair 0) x2 (pair 0 still open), then pair 0 is used up, so
    # 0.02 and 0.03 (pair 1) x1; Holm over the four would multiply by 4, 3, 2, 1
    adjusted = step_down(np.array([0.01, 0.011, 0.02, 0.03]), [0, 0, 1, 1])
    assert adjusted == pytest.approx([0.02, 0.022, 0.022, 0.03])
    assert stats.holm([0.01, 0.011, 0.02, 0.03]) == pytest.approx([0.04] * 4)
    # the leading axis holds independent studies (the simulation's batch)
    batch = step_down(np.array([[0.01, 0.011, 0.02, 0.03], [0.03, 0.02, 0.011, 0.01]]), [0, 0, 1, 1])
    assert batch[1] == pytest.approx([0.03, 0.022, 0.022, 0.02])


@pytest.mark.parametrize(
    ("experiment", "margin"), [("hnet", 0.005), ("hybrid", 0.01), ("amp", 0.005), ("text2sign", 0.016)]
)
def test_each_experiment_sets_its_margin_outside_the_run_identity(experiment, margin, tmp_path) -> None:
    from hydra import compose, initialize_config_dir

    from ablab.runs.identity import config_hash, register_resolvers
    from tests.conftest import ROOT

    register_resolvers()
    common = [f"experiment={experiment}", f"paths.cache_dir={tmp_path}"]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg, other, reseeded = (
            compose("train", overrides=[*common, *extra]) for extra in ([], ["report.margin=0.5"], ["seed=2"])
        )
    assert cfg.report.margin == margin
    assert config_hash(cfg) == config_hash(other)  # a new margin re-judges, never re-runs
    assert config_hash(cfg) != config_hash(reseeded)
