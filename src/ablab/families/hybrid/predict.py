"""Predictions of a trained classifier for the rows of a CSV (`ablab-eval CKPT --predict rows.csv`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


def predict_frame(task: Any, csv_path: str | Path, label_column: str | None) -> Any:
    """A DataFrame: `prediction` (class name), `p_<class>` probabilities, and `label` when the CSV has
    the training label column. The CSV needs the task's feature columns (by name; others are ignored)."""
    import pandas as pd

    from ablab.families.hybrid.data import read_csv_table

    header = pd.read_csv(csv_path, nrows=0).columns if Path(csv_path).is_file() else []
    has_label = label_column is not None and label_column in header
    table = read_csv_table(
        csv_path,
        label_column if has_label else None,
        task.feature_names,
        task.class_names if has_label else None,
    )
    with torch.no_grad():
        probs = task.predict_proba(torch.from_numpy(table.features)).numpy()
    frame = pd.DataFrame({"prediction": [task.class_names[i] for i in probs.argmax(axis=1)]})
    for j, name in enumerate(task.class_names):
        frame[f"p_{name}"] = probs[:, j]
    if has_label:
        frame.insert(0, "label", [task.class_names[i] for i in table.labels])
    return frame
