"""Tabular classification data: generated motif sequences (ablab.families.hybrid.motifs, the default),
a CSV file or one of scikit-learn's bundled sets (wine, breast_cancer, digits), checked row by row, split stratified by the data seed, with a scaler fitted on the training
split only.

Features are handed out unscaled; the scaler (`feature_mean`, `feature_std`) travels with the task, so
a checkpoint maps raw features to predictions on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from ablab.errors import ConfigError, DataError, require
from ablab.lightning.csvfiles import delimiter_hint
from ablab.lightning.datamodule import DataInfo, SplitDataModule

BUNDLED = ("wine", "breast_cancer", "digits")
SOURCES = ("motifs", *BUNDLED, "csv")
SPLITS = ("train", "val", "test")


@dataclass
class Table:
    """Numeric features (N x F float32), class indices (N int64) and the names of both."""

    features: np.ndarray
    labels: np.ndarray
    feature_names: list[str]
    class_names: list[str]
    origin: str


def load_bundled(name: str) -> Table:
    """One of scikit-learn's bundled data sets (offline)."""
    from sklearn import datasets

    require(name in BUNDLED, "data.source", name, f"must be one of {', '.join(SOURCES)}")
    bunch = getattr(datasets, f"load_{name}")()
    feature_names = [str(n) for n in getattr(bunch, "feature_names", [])] or [
        f"x{i}" for i in range(bunch.data.shape[1])
    ]
    return Table(
        bunch.data.astype(np.float32),
        bunch.target.astype(np.int64),
        feature_names,
        [str(n) for n in bunch.target_names],
        origin=f"sklearn {name}",
    )


def motif_table(settings: dict[str, float], seed: int) -> Table:
    """The generated motif set (`data.motifs.*` settings), drawn from the data seed."""
    from ablab.families.hybrid.motifs import generate_motifs

    features, labels, names, classes = generate_motifs(**settings, seed=seed)
    return Table(features, labels, names, classes, origin="data.source=motifs")


def _first(bad: np.ndarray) -> int:
    """0-based position of the first True in `bad`."""
    return int(np.flatnonzero(bad)[0])


FLOAT32_MAX = float(np.finfo(np.float32).max)


def numeric_features(frame: object, columns: list[str], origin: str) -> np.ndarray:
    """The columns as float32, or a DataError naming the first column with a non-numeric, empty,
    infinite or float32-overflowing value and its first bad row (data row 1 is file line 2, after the
    header). Checked in float32, the dtype the model computes in: 1e39 is finite in float64 but inf
    once cast."""
    import pandas as pd

    out = np.empty((len(frame), len(columns)), dtype=np.float32)
    for j, name in enumerate(columns):
        raw = frame[name]
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        missing = raw.isna().to_numpy()
        if missing.any():
            row = _first(missing)
            raise DataError(
                f"{origin}: feature column {name!r} is empty (NaN) at data row {row + 1} (file line "
                f"{row + 2}): fill in or drop rows with missing values"
            )
        not_numeric = np.isnan(values)
        if not_numeric.any():
            row = _first(not_numeric)
            raise DataError(
                f"{origin}: feature column {name!r} has the non-numeric value {raw.iloc[row]!r} at data "
                f"row {row + 1} (file line {row + 2}): features must be numbers; fix the value, or leave the "
                "column out with data.feature_columns"
            )
        infinite = ~np.isfinite(values)
        if infinite.any():
            row = _first(infinite)
            raise DataError(
                f"{origin}: feature column {name!r} is infinite at data row {row + 1} (file line "
                f"{row + 2}): replace it with a finite number"
            )
        too_large = np.abs(values) > FLOAT32_MAX
        if too_large.any():
            row = _first(too_large)
            raise DataError(
                f"{origin}: feature column {name!r} holds {raw.iloc[row]} at data row {row + 1} (file line "
                f"{row + 2}), beyond float32's range (+-{FLOAT32_MAX:.4g}) that the model computes in: "
                "rescale the column (e.g. to other units or a log scale)"
            )
        out[:, j] = values
    return out


def encode_labels(
    raw: object, class_names: list[str] | None, origin: str, label_column: str
) -> tuple[np.ndarray, list[str]]:
    """Class indices 0..K-1 and the class names: given names are matched as text (or used as the names
    of integer labels 0..K-1); otherwise the sorted distinct labels name the classes."""
    import pandas as pd

    missing = raw.isna().to_numpy()
    if missing.any():
        row = _first(missing)
        raise DataError(
            f"{origin}: label column {label_column!r} is empty at data row {row + 1} (file line {row + 2}): "
            "every row needs a label"
        )
    text = raw.astype(str).str.strip()
    numeric = pd.to_numeric(raw, errors="coerce")
    is_integer = bool(numeric.notna().all() and (numeric == numeric.round()).all())
    if class_names is not None:
        names = [str(n) for n in class_names]
        lookup = {name: i for i, name in enumerate(names)}
        if is_integer and not text.isin(lookup).all():
            codes = numeric.to_numpy().astype(np.int64)
            bad = (codes < 0) | (codes >= len(names))
        else:
            codes = text.map(lookup).to_numpy(dtype=np.float64, na_value=np.nan)
            bad = np.isnan(codes)
        if bad.any():
            row = _first(bad)
            raise DataError(
                f"{origin}: label {raw.iloc[row]!r} at data row {row + 1} (file line {row + 2}) is not one of "
                f"data.class_names {names} (nor an index 0..{len(names) - 1}): fix the label or the class names"
            )
        return codes.astype(np.int64), names
    if is_integer:
        values = numeric.to_numpy().astype(np.int64)
        distinct = np.unique(values)
        return np.searchsorted(distinct, values).astype(np.int64), [str(v) for v in distinct]
    distinct = sorted(text.unique())
    return np.searchsorted(np.array(distinct), text.to_numpy()).astype(np.int64), distinct


def read_csv_table(
    path: str | Path,
    label_column: str | None = "label",
    feature_columns: list[str] | None = None,
    class_names: list[str] | None = None,
) -> Table:
    """Read and check a CSV: features are `feature_columns` (default: every column but the label).
    With `label_column=None` (prediction) the labels are all -1."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found; set data.path to an existing CSV file")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV file ({str(exc).splitlines()[0]})") from exc
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    hint = delimiter_hint(columns)
    if label_column is not None and label_column not in columns:
        fix = hint or "; set data.label_column to one of them"
        raise DataError(f"{path}: no label column {label_column!r} (columns: {', '.join(columns)}){fix}")
    if hint:
        raise DataError(f"{path}: one column only ({columns[0]!r}){hint}")
    if feature_columns is None:
        feature_columns = [c for c in columns if c != label_column]
    else:
        feature_columns = [str(c) for c in feature_columns]
        absent = [c for c in feature_columns if c not in columns]
        if absent:
            raise DataError(
                f"{path}: feature column(s) {', '.join(map(repr, absent))} not in the file (columns: "
                f"{', '.join(columns)}); fix data.feature_columns"
            )
        if label_column in feature_columns:
            raise ConfigError(f"data.feature_columns includes the label column {label_column!r}; remove it")
    if not feature_columns:
        raise DataError(f"{path}: no feature columns besides the label {label_column!r}")
    if len(frame) == 0:
        raise DataError(f"{path}: the file has a header but no rows")
    features = numeric_features(frame, feature_columns, str(path))
    if label_column is None:
        return Table(
            features,
            np.full(len(frame), -1, dtype=np.int64),
            feature_columns,
            [str(n) for n in class_names or []],
            origin=str(path),
        )
    labels, names = encode_labels(frame[label_column], class_names, str(path), label_column)
    return Table(features, labels, feature_columns, names, origin=str(path))


def require_two_classes(counts: np.ndarray, class_names: list[str], origin: str) -> None:
    """A DataError when the rows hold fewer than two classes."""
    present = np.flatnonzero(counts)
    if len(present) < 2:
        only = class_names[present[0]] if len(present) else "?"
        raise DataError(
            f"{origin}: every row has the same class ({only!r}); a classifier needs at least two classes"
        )


def split_indices(
    labels: np.ndarray,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    origin: str,
    class_names: list[str],
) -> dict[str, np.ndarray]:
    """Stratified train/val/test row indices, the same for a given seed; a DataError when the rows are
    too few for every class to reach every split."""
    from sklearn.model_selection import train_test_split

    n = len(labels)
    counts = np.bincount(labels, minlength=len(class_names))
    present = np.flatnonzero(counts)
    require_two_classes(counts, class_names, origin)
    n_test, n_val = math.ceil(test_fraction * n), math.ceil(val_fraction * n)
    n_train = n - n_test - n_val
    smallest = int(present[np.argmin(counts[present])])
    k = len(present)
    if counts[smallest] < 3 or min(n_test, n_val, n_train) < k:
        raise DataError(
            f"{origin}: {n} rows are too few for a stratified split with data.val_fraction={val_fraction} "
            f"and data.test_fraction={test_fraction} ({k} classes, the smallest, {class_names[smallest]!r}, "
            f"has {counts[smallest]} rows): every class needs at least 3 rows and every split at least {k}; "
            "add rows or change the fractions"
        )
    rows = np.arange(n)
    rest, test = train_test_split(rows, test_size=n_test, stratify=labels, random_state=seed)
    train, val = train_test_split(rest, test_size=n_val, stratify=labels[rest], random_state=seed + 1)
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


@dataclass(frozen=True)
class TabularDataInfo(DataInfo):
    """The training split's feature mean and spread (the task's scaler), and the names of the features
    and classes."""

    feature_mean: np.ndarray
    feature_std: np.ndarray
    feature_names: list[str]
    class_names: list[str]


class TabularDataModule(SplitDataModule):
    """Reads and checks the table at construction (errors surface before the model is built), splits
    it by the data seed (fixed across a study) and fits the scaler on the training rows. The declared
    `num_features` / `num_classes` (which the model is built from) are checked against the table; a CSV
    needs them."""

    def __init__(
        self,
        source: str = "motifs",
        path: str | None = None,
        label_column: str = "label",
        feature_columns: list[str] | None = None,
        class_names: list[str] | None = None,
        num_features: int | None = None,
        num_classes: int | None = None,
        val_fraction: float = 0.15,
        test_fraction: float = 0.2,
        batch_size: int = 16,
        num_workers: int = 0,
        seed: int = 0,
        motifs: dict[str, float] | None = None,
    ) -> None:
        super().__init__()
        require(source in SOURCES, "data.source", source, f"must be one of {', '.join(SOURCES)}")
        require(0.0 < val_fraction < 1.0, "data.val_fraction", val_fraction, "must be in (0, 1)")
        require(0.0 < test_fraction < 1.0, "data.test_fraction", test_fraction, "must be in (0, 1)")
        require(
            val_fraction + test_fraction < 1.0,
            "data.val_fraction + data.test_fraction",
            val_fraction + test_fraction,
            "must be < 1 to leave training rows",
        )
        require(batch_size >= 1, "data.batch_size", batch_size, "must be >= 1")
        if source == "csv":
            require(bool(path), "data.path", path, "is needed with data.source=csv: the CSV file to read")
            table = read_csv_table(
                path,
                label_column,
                list(feature_columns) if feature_columns else None,
                list(class_names) if class_names else None,
            )
        elif source == "motifs":
            table = motif_table(dict(motifs or {}), seed)
        else:
            table = load_bundled(source)
        self.table = table
        self.feature_names, self.class_names = table.feature_names, table.class_names
        self.num_features, self.num_classes = len(table.feature_names), len(table.class_names)
        require_two_classes(
            np.bincount(table.labels, minlength=self.num_classes), self.class_names, table.origin
        )
        if source == "csv" and (num_features is None or num_classes is None):
            raise DataError(
                f"{table.origin} has {self.num_features} feature columns and {self.num_classes} classes: set "
                f"data.num_features={self.num_features} data.num_classes={self.num_classes} (the model is "
                "built from them)"
            )
        for field, expected, actual, what in (
            ("data.num_features", num_features, self.num_features, "feature columns"),
            ("data.num_classes", num_classes, self.num_classes, "classes"),
        ):
            if expected is not None and expected != actual:
                raise DataError(
                    f"{table.origin} has {actual} {what} but {field}={expected} (the model is built from it): "
                    f"set {field}={actual}"
                )
        self.indices = split_indices(
            table.labels, val_fraction, test_fraction, seed, table.origin, table.class_names
        )
        # In float64: squares of large float32 features overflow float32, and the scaler is cast back.
        train = table.features[self.indices["train"]].astype(np.float64)
        std = train.std(axis=0)
        self.feature_mean = train.mean(axis=0).astype(np.float32)
        self.feature_std = np.where(std > 0, std, 1.0).astype(np.float32)
        self.batch_size, self.num_workers = batch_size, num_workers

    def info(self) -> DataInfo:
        return TabularDataInfo(
            self.feature_mean, self.feature_std, list(self.feature_names), list(self.class_names)
        )

    def arrays(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Raw features and class indices of one split."""
        rows = self.indices[split]
        return self.table.features[rows], self.table.labels[rows]

    def dataset(self, split: str) -> TensorDataset:
        features, labels = self.arrays(split)
        return TensorDataset(torch.from_numpy(features), torch.from_numpy(labels))
