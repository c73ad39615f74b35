"""`ablab-ensemble <study dir>`: soft and hard votes over the AMP heads' saved test predictions.

Completed runs are found by their `results.json`; runs that differ only in the head (`model` choice)
form one ensemble: same encoder, same seed, same other choices and overrides. For each ensemble:
    soft   mean of the heads' probabilities
    hard   fraction of heads voting AMP (probability >= threshold); a tie goes to the soft vote
scored with the family's metrics (accuracy, precision, recall, f1, mcc, roc_auc, ap; the hard vote's
ranking metrics use its vote fraction). Writes `ensemble.csv` (every ensemble and every head) and
`ensemble.md` (mean ± sd over seeds) into the study folder and prints the latter.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from ablab.errors import AblabError, DataError

HEAD_GROUP = "model"
PREDICTIONS_FILE = "predictions_test.csv"
METRICS = ("accuracy", "precision", "recall", "f1", "mcc", "roc_auc", "ap")
TIE = 1e-6


def find_runs(study_dir: Path) -> list[dict[str, Any]]:
    """Completed runs under `study_dir` that saved test predictions, each with its folder in `_dir`."""
    from ablab.runs.records import CorruptRecord, read_record

    runs = []
    for path in sorted(study_dir.rglob("results.json")):
        if "previous" in path.relative_to(study_dir).parts:
            continue
        try:
            record = read_record(path)
        except CorruptRecord as exc:
            print(f"warning: skipped {exc}", file=sys.stderr)
            continue
        if record["status"] == "completed" and (path.parent / PREDICTIONS_FILE).is_file():
            runs.append({**record, "_dir": path.parent})
    return runs


def _head(record: dict[str, Any]) -> str:
    return str((record.get("choices") or {}).get(HEAD_GROUP) or record.get("variant") or record["_dir"].name)


def _ignored_fields(run_dir: Path) -> list[str]:
    """The run's `run_id.ignore` (fields that do not change results), from Hydra's saved config."""
    from omegaconf import OmegaConf

    path = run_dir / ".hydra" / "config.yaml"
    if not path.is_file():
        return []
    return [str(p) for p in OmegaConf.select(OmegaConf.load(path), "run_id.ignore", default=[]) or []]


def ensemble_key(record: dict[str, Any]) -> tuple[str, int]:
    """(the run's setting without its head, seed): runs sharing it are one ensemble. The setting is
    the group choices and the overrides that change results (as in the run's variant name)."""
    from ablab.runs.identity import variant_from_overrides

    ignore = _ignored_fields(record["_dir"])
    overrides = [o for o in record.get("overrides") or [] if o.split("=", 1)[0].lstrip("+~") != HEAD_GROUP]
    parts = {
        f"{group}={choice}"
        for group, choice in (record.get("choices") or {}).items()
        if group != HEAD_GROUP and choice is not None and not _ignored(group.replace("/", "."), ignore)
    }
    changed = variant_from_overrides(overrides, None, ignore)
    parts |= set() if changed == "default" else set(changed.split(","))
    return ";".join(sorted(parts)), int(record.get("seed") or 0)


def _ignored(key: str, patterns: list[str]) -> bool:
    return any(key == p or key.startswith(p + ".") or fnmatch.fnmatchcase(key, p) for p in patterns)


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
    """The family's metrics (ablab.tasks.binary.binary_metrics) of scores against labels."""
    import torch

    from ablab.tasks.binary import binary_metrics

    metrics = binary_metrics(threshold)
    metrics.update(torch.tensor(scores, dtype=torch.float32), torch.tensor(labels, dtype=torch.int64))
    return {k: float(v) for k, v in metrics.compute().items()}


def evaluate(study_dir: Path, threshold: float = 0.5) -> list[dict[str, Any]]:
    """One row per ensemble member and per vote: setting, seed, method, heads, n, metrics."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for record in find_runs(study_dir):
        groups[ensemble_key(record)].append(record)
    rows = []
    for (setting, seed), records in sorted(groups.items()):
        if len(records) < 2:
            continue
        members = {_head(r): read_predictions(r["_dir"] / PREDICTIONS_FILE) for r in records}
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


def main(argv: list[str] | None = None) -> int:
    """Console script `ablab-ensemble`."""
    parser = argparse.ArgumentParser(prog="ablab-ensemble", description=__doc__.split("\n")[0])
    parser.add_argument("study_dir", type=Path, help="a sweep's folder, e.g. logs/amp_heads")
    parser.add_argument("--threshold", type=float, default=0.5, help="probability counted as an AMP vote")
    parser.add_argument(
        "--out", type=Path, default=None, help="folder for ensemble.csv/.md (default: study_dir)"
    )
    args = parser.parse_args(argv)
    try:
        if not args.study_dir.is_dir():
            raise DataError(f"{args.study_dir}: no such study folder")
        rows = evaluate(args.study_dir, args.threshold)
        if not rows:
            raise DataError(
                f"{args.study_dir}: no two completed runs differing only in the head with "
                f"{PREDICTIONS_FILE}; run a sweep over model=amp/... first"
            )
    except AblabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = args.out or args.study_dir
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "ensemble.csv", rows)
    table = summary_table(rows)
    (out / "ensemble.md").write_text(table)
    print(table, end="")
    print(f"wrote {out / 'ensemble.csv'} and {out / 'ensemble.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
