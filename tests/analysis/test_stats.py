"""The report's statistics equal scipy.stats' on constructed samples; Holm equals a hand computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from ablab.analysis import stats

BASE = [0.801, 0.812, 0.795, 0.808, 0.799]
BETTER = [0.842, 0.851, 0.838, 0.849, 0.840]
NOISY = [0.70, 0.95, 0.78, 0.91, 0.66, 0.88]


@pytest.mark.parametrize("values", [BASE, NOISY, [1.0, 3.0], [2.5, 2.5, 2.6]])
@pytest.mark.parametrize("confidence", [0.95, 0.9])
def test_summary_matches_numpy_and_scipy_t_interval(values, confidence) -> None:
    summary = stats.summarize(values, confidence)
    x = np.asarray(values)
    low, high = scipy_stats.t.interval(confidence, len(x) - 1, loc=x.mean(), scale=scipy_stats.sem(x))
    assert summary.n == len(x)
    assert summary.mean == pytest.approx(x.mean(), rel=1e-12)
    assert summary.std == pytest.approx(x.std(ddof=1), rel=1e-12)
    assert (summary.ci_low, summary.ci_high) == pytest.approx((low, high), rel=1e-10)


def test_summary_of_known_sample_by_hand() -> None:
    # mean 2, std 1 (ddof=1), n 3: CI half-width = t(0.975, 2) / sqrt(3) = 4.302653 / 1.732051
    summary = stats.summarize([1.0, 2.0, 3.0])
    assert (summary.mean, summary.std) == (2.0, 1.0)
    assert summary.ci_high - 2.0 == pytest.approx(4.302652729911275 / math.sqrt(3), rel=1e-9)


def test_summary_of_one_or_no_value_has_no_spread() -> None:
    one = stats.summarize([0.7])
    assert one.n == 1 and one.mean == 0.7 and math.isnan(one.std) and math.isnan(one.ci_low)
    assert stats.summarize([]).n == 0 and math.isnan(stats.summarize([]).mean)


@pytest.mark.parametrize(
    ("a", "b"), [(BETTER, BASE), (NOISY, BASE), (BASE[:3], NOISY), ([1.0, 2.0], [4.0, 9.0, 1.5])]
)
def test_welch_matches_scipy_ttest_ind_unequal_variances(a, b) -> None:
    ours = stats.welch(a, b)
    theirs = scipy_stats.ttest_ind(a, b, equal_var=False)
    assert ours.statistic == pytest.approx(theirs.statistic, rel=1e-10)
    assert ours.pvalue == pytest.approx(theirs.pvalue, rel=1e-9)
    assert ours.df == pytest.approx(theirs.df, rel=1e-10)
    low, high = stats.welch_interval(a, b)
    expected = theirs.confidence_interval(0.95)
    assert (low, high) == pytest.approx((expected.low, expected.high), rel=1e-9)


@pytest.mark.parametrize(("a", "b"), [(BETTER, BASE), (NOISY[:5], BASE), ([1.0, 2.0], [1.5, 2.9])])
def test_paired_matches_scipy_ttest_rel(a, b) -> None:
    ours = stats.paired(a, b)
    theirs = scipy_stats.ttest_rel(a, b)
    assert ours.statistic == pytest.approx(theirs.statistic, rel=1e-10)
    assert ours.pvalue == pytest.approx(theirs.pvalue, rel=1e-9)
    assert ours.df == len(a) - 1


def test_tests_are_undefined_without_spread_or_replicates() -> None:
    assert math.isnan(stats.welch([0.5], BASE).pvalue)
    assert math.isnan(stats.welch([0.5, 0.5], [0.6, 0.6]).pvalue)
    assert math.isnan(stats.paired([1.0, 2.0], [0.5, 1.5]).pvalue)  # constant difference
    with pytest.raises(ValueError, match="equal lengths"):
        stats.paired([1.0, 2.0], [1.0])


def test_holm_matches_a_hand_computed_example() -> None:
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> running max 0.06
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_caps_at_one_and_skips_undefined_p_values() -> None:
    adjusted = stats.holm([math.nan, 0.2, 0.6])
    assert math.isnan(adjusted[0])
    assert adjusted[1:] == pytest.approx([0.4, 0.6])  # m = 2: the NaN is not a comparison
    assert stats.holm([0.5, 0.7]) == [1.0, 1.0]
    assert stats.holm([]) == []
    assert stats.holm([0.03]) == [0.03]
