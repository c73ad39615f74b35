"""Tabular data: bundled sets, CSV reading, stratified seeded splits, the training-only scaler, and one
clear line for each kind of bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ablab.errors import ConfigError, DataError
from ablab.families.hybrid.data import TabularDataModule, read_csv_table


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n")
    return path


def balanced_csv(
    path: Path, rows_per_class: int = 10, classes: tuple[str, ...] = ("ant", "bee", "cat")
) -> Path:
    rng = np.random.default_rng(0)
    lines = ["width,height,species,weight"]
    for i in range(rows_per_class * len(classes)):
        name = classes[i % len(classes)]
        w, h, g = rng.normal(size=3).round(3) + classes.index(name)
        lines.append(f"{w},{h},{name},{g}")
    return write_csv(path, "\n".join(lines))


def test_wine_split_is_stratified_and_fixed_by_the_data_seed() -> None:
    data = TabularDataModule(source="wine", num_features=13, num_classes=3, seed=0)
    sizes = {split: len(rows) for split, rows in data.indices.items()}
    assert sizes == {"train": 115, "val": 27, "test": 36}
    everything = np.concatenate(list(data.indices.values()))
    assert sorted(everything.tolist()) == list(range(178))
    overall = np.bincount(data.table.labels) / 178
    for split, rows in data.indices.items():
        share = np.bincount(data.table.labels[rows], minlength=3) / len(rows)
        assert np.abs(share - overall).max() < 1.5 / len(rows) + 1e-9, split
    again = TabularDataModule(source="wine", seed=0)
    other = TabularDataModule(source="wine", seed=1)
    assert all(np.array_equal(data.indices[s], again.indices[s]) for s in data.indices)
    assert not np.array_equal(data.indices["test"], other.indices["test"])


def test_scaler_is_fitted_on_the_training_rows_only() -> None:
    data = TabularDataModule(source="wine")
    train, _ = data.arrays("train")
    np.testing.assert_allclose(data.feature_mean, train.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(data.feature_std, train.std(axis=0), rtol=1e-6)
    assert not np.allclose(data.feature_mean, data.table.features.mean(axis=0), rtol=1e-4)


def test_loaders_hand_out_raw_float_features_and_class_indices() -> None:
    data = TabularDataModule(source="wine", batch_size=8)
    x, y = next(iter(data.test_dataloader()))
    assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.shape == (8, 13)
    test_x, _ = data.arrays("test")
    np.testing.assert_array_equal(x.numpy(), test_x[:8])
    assert sum(len(b[0]) for b in data.train_dataloader()) == 115


@pytest.mark.parametrize(("source", "features", "classes"), [("breast_cancer", 30, 2), ("digits", 64, 10)])
def test_other_bundled_sets(source: str, features: int, classes: int) -> None:
    data = TabularDataModule(source=source, num_features=features, num_classes=classes)
    assert (data.num_features, data.num_classes) == (features, classes)
    assert len(data.feature_names) == features and len(data.class_names) == classes
    assert np.all(data.feature_std > 0)  # constant pixels of digits scale by 1, not by 0


def test_csv_with_text_labels_feature_columns_and_class_names(tmp_path: Path) -> None:
    path = balanced_csv(tmp_path / "zoo.csv")
    table = read_csv_table(path, "species")
    assert table.feature_names == ["width", "height", "weight"]
    assert table.class_names == ["ant", "bee", "cat"]
    assert table.labels[:3].tolist() == [0, 1, 2]
    ordered = read_csv_table(path, "species", ["weight", "width"], ["cat", "bee", "ant"])
    assert ordered.feature_names == ["weight", "width"] and ordered.labels[:3].tolist() == [2, 1, 0]
    data = TabularDataModule(
        source="csv",
        path=str(path),
        label_column="species",
        num_features=3,
        num_classes=3,
        val_fraction=0.2,
        test_fraction=0.2,
    )
    assert {s: len(r) for s, r in data.indices.items()} == {"train": 18, "val": 6, "test": 6}
    assert all(
        np.bincount(data.table.labels[r]).tolist() == [2, 2, 2]
        for s, r in data.indices.items()
        if s != "train"
    )


def test_integer_labels_become_indices_and_names(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", "a,label\n" + "\n".join(f"{i},{5 + i % 2 * 2}" for i in range(8)))
    table = read_csv_table(path)
    assert table.class_names == ["5", "7"] and table.labels.tolist() == [0, 1] * 4
    named = read_csv_table(write_csv(tmp_path / "u.csv", "a,label\n1,0\n2,1\n3,1"), class_names=["no", "yes"])
    assert named.labels.tolist() == [0, 1, 1] and named.class_names == ["no", "yes"]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.csv: file not found; set data.path"):
        TabularDataModule(source="csv", path=str(tmp_path / "nope.csv"))


def test_missing_label_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", "a,b\n1,2")
    with pytest.raises(DataError, match=r"no label column 'label' \(columns: a, b\); set data.label_column"):
        read_csv_table(path)


def test_non_numeric_feature_names_the_column_and_first_bad_row(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", "a,b,label\n1,2,x\n1,oops,y\n3,also bad,x")
    with pytest.raises(
        DataError, match=r"column 'b' has the non-numeric value 'oops' at data row 2 \(file line 3\)"
    ):
        read_csv_table(path)


def test_nan_feature_names_the_column_and_first_bad_row(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", "a,b,label\n1,2,x\n2,3,y\n,4,x\nnan,5,y")
    with pytest.raises(DataError, match=r"column 'a' is empty \(NaN\) at data row 3 \(file line 4\)"):
        read_csv_table(path)


def test_single_class(tmp_path: Path) -> None:
    path = balanced_csv(tmp_path / "one.csv", classes=("ant",))
    with pytest.raises(
        DataError, match="every row has the same class \\('ant'\\); a classifier needs at least two"
    ):
        TabularDataModule(source="csv", path=str(path), label_column="species")


def test_too_few_rows_for_the_split(tmp_path: Path) -> None:
    path = balanced_csv(tmp_path / "small.csv", rows_per_class=2)
    with pytest.raises(
        DataError, match=r"6 rows are too few for a stratified split .* smallest, 'ant', has 2 rows"
    ):
        TabularDataModule(source="csv", path=str(path), label_column="species", num_features=3, num_classes=3)


def test_declared_counts_must_match_the_file(tmp_path: Path) -> None:
    path = balanced_csv(tmp_path / "zoo.csv")
    with pytest.raises(DataError, match=r"has 3 classes but data.num_classes=2 .*: set data.num_classes=3"):
        TabularDataModule(source="csv", path=str(path), label_column="species", num_features=3, num_classes=2)
    with pytest.raises(DataError, match=r"has 3 feature columns but data\.num_features=4"):
        TabularDataModule(source="csv", path=str(path), label_column="species", num_features=4, num_classes=3)
    with pytest.raises(
        DataError, match=r"zoo.csv has 3 feature columns and 3 classes: set data.num_features=3 "
    ):
        TabularDataModule(source="csv", path=str(path), label_column="species")
    with pytest.raises(DataError, match=r"sklearn wine has 3 classes but data.num_classes=4"):
        TabularDataModule(source="wine", num_classes=4)


def test_bad_settings_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"data\.source='iris'"):
        TabularDataModule(source="iris")
    with pytest.raises(ConfigError, match=r"data\.path=None is invalid"):
        TabularDataModule(source="csv")
    with pytest.raises(ConfigError, match="must be < 1"):
        TabularDataModule(val_fraction=0.5, test_fraction=0.5)


@pytest.mark.parametrize("value", ["1e39", "-1e308"])
def test_a_value_beyond_float32_names_its_file_row_and_column(tmp_path: Path, value: str) -> None:
    """Finite in float64, infinite once cast to the float32 the model computes in."""
    path = write_csv(tmp_path / "t.csv", f"a,b,label\n1,2,x\n3,{value},y\n5,6,x")
    with pytest.raises(DataError) as caught:
        read_csv_table(path)
    assert str(caught.value) == (
        f"{path}: feature column 'b' holds {float(value)} at data row 2 (file line 3), beyond float32's range "
        "(+-3.403e+38) that the model computes in: rescale the column (e.g. to other units or a log scale)"
    )
    assert read_csv_table(write_csv(tmp_path / "ok.csv", "a,b,label\n1,3e38,x\n2,-3e38,y")).features[
        :, 1
    ].tolist() == [
        pytest.approx(3e38),
        pytest.approx(-3e38),
    ]


def test_large_features_still_scale_to_finite_values(tmp_path: Path) -> None:
    """Squares of 1e20 overflow float32: the scaler is fitted in float64."""
    rows = "\n".join(f"{i * 1e20},{i % 2},{'xy'[i % 2]}" for i in range(1, 31))
    data = TabularDataModule(
        source="csv",
        path=str(write_csv(tmp_path / "t.csv", "a,b,label\n" + rows)),
        num_features=2,
        num_classes=2,
    )
    assert np.isfinite(data.feature_std).all() and np.isfinite(data.feature_mean).all()
    assert data.feature_std[0] > 1e20


def test_a_semicolon_separated_file_gets_a_hint_about_the_delimiter(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", "a;b;label\n1;2;x\n3;4;y")
    with pytest.raises(DataError) as caught:
        read_csv_table(path)
    assert str(caught.value) == (
        f"{path}: no label column 'label' (columns: a;b;label); the file looks ';'-separated, but CSV "
        "files here are comma-separated: save it with commas"
    )
    with pytest.raises(DataError, match="looks ';'-separated"):
        read_csv_table(path, label_column=None, feature_columns=["a", "b"])  # --predict reads it too


def test_the_motif_set_is_balanced_deterministic_and_beyond_a_linear_model() -> None:
    from sklearn.linear_model import LogisticRegression

    from ablab.families.hybrid.motifs import CLASSES, generate_motifs

    features, labels, names, classes = generate_motifs(rows=800, seed=3)
    again, _, _, _ = generate_motifs(rows=800, seed=3)
    assert np.array_equal(features, again) and classes == list(CLASSES) and len(names) == 48
    assert np.bincount(labels).tolist() == [200, 200, 200, 200]
    # Motifs at random places with zero sum: a linear model on the raw features stays far from solving it.
    model = LogisticRegression(max_iter=2000).fit(features[:600], labels[:600])
    assert model.score(features[600:], labels[600:]) < 0.55
    with pytest.raises(ConfigError, match=r"data\.motifs\.length"):
        generate_motifs(length=20, min_gap=16)
