"""Soft and hard votes (`ablab-ensemble <study dir>`) over the AMP heads' saved test predictions.

Runs that differ only in the head (`model` choice) form one ensemble: same encoder, same seed, same
other choices and overrides (ablab.analysis.ensembles groups them). For each ensemble:
    soft   mean of the heads' probabilities
    hard   fraction of heads voting AMP (probability >= threshold); a tie goes to the soft vote
scored with the family's metrics (accuracy, precision, recall, f1, mcc, roc_auc, ap; the hard vote's
ranking metrics use its vote fraction). Writes `ensemble.csv` (every ensemble and every head) and
`ensemble.md` (mean ± sd over seeds) into the study folder and prints the latter.
"""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from ablab.errors import DataError
from ablab.families.amp.task import PREDICTIONS_FILE

HEAD_GROUP = "model"
__all__ = ["HEAD_GROUP", "PREDICTIONS_FILE", "evaluate", "read_predictions", "summary_table", "votes"]
METRICS = ("accuracy", "precision", "recall", "f1", "mcc", "roc_auc", "ap")
TIE = 1e-6


def head_of(record: dict[str, Any]) -> str:
    """The head (the `model` choice) a run of the AMP study trained."""
    return str((record.get("choices") or {}).get(HEAD_GROUP) or record.get("variant") or record["_dir"].name)


def read_predictions(path: Path) -> dict[str, tuple[int, float]]:
    """id -> (label, probability) from a run's predictions_test.csv."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    try:
        return {row["id"]: (int(row["label"]), float(row["probability"])) for row in rows}
    except (KeyError, ValueError) as exc:
        raise DataError(f"{path}: needs columns id,label,probability with numbers ({exc})") from exc


def votes(members: dict[str, dict[str, tuple[int, float]]], threshold: float) -> dict[str, Any]:
    """Labels, each head's probabilities, and the soft and hard vote scores over the shared ids."""
    ids = sorted(set.intersection(*(set(p) for p in members.values())))
    if not ids:
        raise DataError(f"ensemble of {', '.join(members)}: the heads' predictions share no sequence id")
    first = next(iter(members.values()))
    labels = [first[i][0] for i in ids]
    for head, preds in members.items():
        if any(preds[i][0] != y for i, y in zip(ids, labels)):
            raise DataError(
                f"ensemble head {head}: labels differ from the other heads' on the same ids; "
                "were these runs tested on the same data?"
            )
    heads = {head: [preds[i][1] for i in ids] for head, preds in members.items()}
    columns = list(zip(*heads.values()))
    soft = [sum(c) / len(c) for c in columns]
    hard = []
    for column, s in zip(columns, soft):
        fraction = sum(p >= threshold for p in column) / len(column)
        hard.append(fraction if fraction != 0.5 else 0.5 + (TIE if s >= threshold else -TIE))
    return {"ids": ids, "labels": labels, "heads": heads, "soft": soft, "hard": hard}


def score(labels: list[int], scores: list[float], threshold: float = 0.5) -> dict[str, float]:
    """The family's metrics (ablab.families.amp.task.binary_metrics) of scores against labels."""
    import torch

    from ablab.families.amp.task import binary_metrics

    metrics = binary_metrics(threshold)
    metrics.update(torch.tensor(scores, dtype=torch.float32), torch.tensor(labels, dtype=torch.int64))
    return {k: float(v) for k, v in metrics.compute().items()}


def evaluate(
    groups: dict[tuple[str, int], list[dict[str, Any]]], threshold: float = 0.5
) -> list[dict[str, Any]]:
    """One row per ensemble member and per vote: setting, seed, method, heads, n, metrics. `groups`
    are the study's runs by (setting without the head, seed): ablab.analysis.ensembles."""
    rows = []
    for (setting, seed), records in sorted(groups.items()):
        if len(records) < 2:
            continue
        members = {head_of(r): read_predictions(r["_dir"] / PREDICTIONS_FILE) for r in records}
        voted = votes(members, threshold)
        encoder = next((r.get("choices") or {}).get("encoder", "") for r in records)
        base = {
            "setting": setting,
            "encoder": encoder,
            "seed": seed,
            "heads": len(members),
            "n": len(voted["ids"]),
        }
        for head, probs in voted["heads"].items():
            rows.append({**base, "method": head, **score(voted["labels"], probs, threshold)})
        for method in ("soft", "hard"):
            rows.append(
                {**base, "method": f"{method} vote", **score(voted["labels"], voted[method], threshold)}
            )
    return rows


def summary_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: mean ± sd over seeds per (setting, method), votes after the heads."""
    cells: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        cells[(row["setting"], row["encoder"], row["method"])].append(row)
    settings = sorted({row["setting"] for row in rows})
    lines = [
        "| encoder | method | seeds | " + " | ".join(METRICS) + " |",
        "|---|---|---|" + "---|" * len(METRICS),
    ]
    for (setting, encoder, method), group in sorted(
        cells.items(), key=lambda kv: (kv[0][0], kv[0][2].endswith("vote"), kv[0][2])
    ):
        label = encoder if len(settings) == len({r["encoder"] for r in rows}) else f"{encoder} ({setting})"
        values = []
        for metric in METRICS:
            numbers = [r[metric] for r in group]
            mean = f"{statistics.fmean(numbers):.3f}"
            values.append(f"{mean} ± {statistics.stdev(numbers):.3f}" if len(numbers) > 1 else mean)
        bold = "**" if method.endswith("vote") else ""
        lines.append(f"| {label} | {bold}{method}{bold} | {len(group)} | " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    fields = ["setting", "encoder", "seed", "method", "heads", "n", *METRICS]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
