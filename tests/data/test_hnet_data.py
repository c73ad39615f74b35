"""The HNet generator: optimal targets, consistent permutations, inactive slots, caching."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ablab.errors import ConfigError
from ablab.families.hnet.data import INACTIVE, HNetDataModule, generate, make_sample, unit_vectors

RESOLUTIONS = [1, 2, 3, 4, 5, 10, 15, 20, 30]


def brute_force_min_cost(block: np.ndarray) -> float:
    """Smallest total distance over every full matching of the smaller side."""
    n_rows, n_cols = block.shape
    if n_rows <= n_cols:
        return min(
            sum(block[i, p[i]] for i in range(n_rows)) for p in itertools.permutations(range(n_cols), n_rows)
        )
    return brute_force_min_cost(block.T)


@pytest.mark.parametrize("max_len", [2, 3, 4])
def test_target_is_the_optimal_assignment_of_the_active_block(max_len: int) -> None:
    rng = np.random.default_rng(7)
    for n_refs, n_preds in itertools.product(range(max_len + 1), repeat=2):
        for _ in range(5):
            sample = make_sample(rng, n_refs, n_preds, max_len, RESOLUTIONS)
            rows, cols = sample.active_rows, sample.active_cols
            assert rows.sum() == n_refs and cols.sum() == n_preds
            block = sample.dist[np.ix_(rows, cols)].astype(np.float64)
            chosen = sample.target[np.ix_(rows, cols)]
            assert chosen.sum() == min(n_refs, n_preds)
            assert (chosen.sum(axis=0) <= 1).all() and (chosen.sum(axis=1) <= 1).all()
            if n_refs and n_preds:
                assert (block * chosen).sum() == pytest.approx(brute_force_min_cost(block), abs=1e-5)


def test_inactive_rows_and_columns_have_no_association() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        n_refs, n_preds = rng.integers(0, 4, size=2)
        sample = make_sample(rng, int(n_refs), int(n_preds), 3, RESOLUTIONS)
        assert sample.target[~sample.active_rows].sum() == 0
        assert sample.target[:, ~sample.active_cols].sum() == 0
        inactive = ~np.outer(sample.active_rows, sample.active_cols)
        values = sample.dist[inactive]
        # Distractors: 10, or uniform in [-100, 100] with [-1, 1] replaced by 10.
        assert ((values == INACTIVE) | (np.abs(values) > 1)).all()


def test_distances_and_targets_are_permuted_together() -> None:
    """Active slots land at random positions, and the target stays optimal for the permuted D."""
    rng = np.random.default_rng(11)
    first_row_active = [make_sample(rng, 1, 3, 3, RESOLUTIONS).active_rows[0] for _ in range(300)]
    assert 0.15 < np.mean(first_row_active) < 0.9  # not always slot 0: rows were permuted
    for _ in range(100):
        sample = make_sample(rng, 3, 3, 3, RESOLUTIONS)
        assert (sample.dist * sample.target).sum() == pytest.approx(
            brute_force_min_cost(sample.dist), abs=1e-5
        )


def test_distances_are_chords_on_the_unit_sphere() -> None:
    points = unit_vectors(np.array([0.0, 90.0, 180.0]), np.array([0.0, 0.0, 0.0]))
    np.testing.assert_allclose(np.linalg.norm(points, axis=-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(points[0] - points[2]), 2.0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(points[0] - points[1]), np.sqrt(2.0), atol=1e-12)


def test_generation_is_deterministic_by_seed() -> None:
    a, b, c = (
        generate(2, 20, RESOLUTIONS, 5),
        generate(2, 20, RESOLUTIONS, 5),
        generate(2, 20, RESOLUTIONS, 6),
    )
    np.testing.assert_array_equal(a["dist"], b["dist"])
    assert a["dist"].shape == (9 * 20, 2, 2)
    assert not np.array_equal(a["dist"], c["dist"])


def test_cache_returns_identical_data_without_regenerating(tmp_path) -> None:
    kwargs = dict(max_len=2, train_per_case=30, val_per_case=10, test_per_case=10, cache_dir=tmp_path)
    first = HNetDataModule(**kwargs)
    first.prepare_data()
    first.setup()
    files = sorted(tmp_path.glob("*.npz"))
    assert len(files) == 3
    stamps = [f.stat().st_mtime_ns for f in files]
    second = HNetDataModule(**kwargs)
    second.prepare_data()
    second.setup()
    assert [f.stat().st_mtime_ns for f in files] == stamps
    for split in ("train", "val", "test"):
        for x, y in zip(first.splits[split].tensors, second.splits[split].tensors):
            assert (x == y).all()
    # The weighted F1's sample weights: frequency of ones per cell in the training targets.
    expected = first.splits["train"].tensors[1].numpy().mean(axis=0)
    np.testing.assert_allclose(first.cell_weights.numpy(), expected)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_len": 0}, "data.max_len"),
        ({"max_len": 11}, "data.max_len"),
        ({"train_per_case": -1}, "data.train_per_case"),
        ({"batch_size": 0}, "data.batch_size"),
        ({"resolutions": []}, "data.resolutions"),
    ],
)
def test_invalid_values_name_the_field_and_range(kwargs: dict, field: str, tmp_path) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        HNetDataModule(cache_dir=tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())  # nothing generated
