"""The classical references every tabular family shares: the majority class, a logistic regression and
a random forest, fitted on the standardised training split (scikit-learn; nothing here to write by
hand). Each returns class probabilities for the test rows, which the family scores with its own
metrics."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Fitted = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def majority(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray) -> np.ndarray:
    """The training split's class frequencies for every test row: its top class is the majority."""
    counts = np.bincount(train_y, minlength=int(train_y.max()) + 1).astype(np.float64)
    return np.tile(counts / counts.sum(), (len(test_x), 1))


def logistic_regression(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray) -> np.ndarray:
    """L2-regularised logistic regression (C=1, lbfgs) on standardised features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    return model.fit(train_x, train_y).predict_proba(test_x)


def random_forest(trees: int = 300, seed: int = 0) -> Fitted:
    """A seeded random forest of `trees` trees."""

    def fit(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray) -> np.ndarray:
        from sklearn.ensemble import RandomForestClassifier

        model = RandomForestClassifier(n_estimators=trees, random_state=seed, n_jobs=1)
        return model.fit(train_x, train_y).predict_proba(test_x)

    return fit


def classical_models(trees: int = 300, seed: int = 0) -> list[tuple[str, str, Fitted, str]]:
    """(name, kind, fit, note) of the three references."""
    return [
        ("majority class", "floor", majority, "the training split's most frequent class for every row"),
        ("logistic regression", "classical", logistic_regression, "scikit-learn, standardised features"),
        (
            "random forest",
            "classical",
            random_forest(trees, seed),
            f"scikit-learn, {trees} trees, seed {seed}",
        ),
    ]
