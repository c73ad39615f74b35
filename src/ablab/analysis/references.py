"""A study's floors and ceilings, read from its records (the runner computed them on the same test
split with the same metrics: `ablab.runs.references`), and what they say about the study: whether the
baseline beats the best rule that learns nothing by a clear margin, which variants fall below it.

"Clearly" means: the whole confidence interval of the baseline's mean lies beyond the floor, and the
baseline closes at least `CLEAR_SHARE` of the room between the floor and the ceiling (where the study
has a ceiling). Below that, differences between components are differences between models that have
not learned the task.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pandas as pd

from ablab.analysis.collect import Run

CLEAR_SHARE = 0.10
COLUMNS = ["name", "kind", "note", "value"]


def reference_rows(runs: list[Run], baseline: str, metric: str) -> tuple[pd.DataFrame, list[str]]:
    """The references of the data the baseline read (the key most of its completed runs share), with
    the compared metric as `value`; and notes on variants whose runs read other data."""
    keyed = [r for r in runs if r.status == "completed" and r.references and r.references.get("rows")]
    if not keyed:
        return pd.DataFrame(columns=COLUMNS), []
    own = [r for r in keyed if r.variant == baseline] or keyed
    key = Counter(r.references.get("key") for r in own).most_common(1)[0][0]
    chosen = next(r.references for r in own if r.references.get("key") == key)
    rows: list[dict[str, Any]] = []
    for ref in chosen["rows"]:
        value = (ref.get("metrics") or {}).get(metric)
        if value is None:
            continue
        metrics = {k: float(v) for k, v in (ref.get("metrics") or {}).items()}
        rows.append(
            {
                "name": ref["name"],
                "kind": ref["kind"],
                "note": ref.get("note", ""),
                "value": float(value),
                **metrics,
            }
        )
    other = sorted({r.variant for r in keyed if r.references.get("key") != key})
    notes = (
        [
            f"variants {', '.join(other)} read other data than the baseline: the reference rows are the baseline's"
        ]
        if other
        else []
    )
    frame = pd.DataFrame(rows) if rows else pd.DataFrame(columns=COLUMNS)
    return frame, notes


def best(references: pd.DataFrame, kind: str, mode: str) -> pd.Series | None:
    """The best reference of a kind (highest for `max`, lowest for `min`), or None."""
    rows = references[references["kind"] == kind] if len(references) else references
    if not len(rows):
        return None
    return rows.loc[rows["value"].idxmax() if mode == "max" else rows["value"].idxmin()]


def _beyond(value: float, bound: float, mode: str) -> float:
    """How far `value` lies beyond `bound` in the better direction."""
    return value - bound if mode == "max" else bound - value


def beats_clearly(row: pd.Series, floor: float, ceiling: float | None, mode: str) -> bool:
    """The baseline's CI side towards the floor lies beyond it, and it closes CLEAR_SHARE of the room."""
    margin = _beyond(row["mean"], floor, mode)
    near = row["ci_low"] if mode == "max" else row["ci_high"]
    if margin <= 0 or (not math.isnan(near) and _beyond(near, floor, mode) <= 0):
        return False
    room = _beyond(ceiling, floor, mode) if ceiling is not None else math.nan
    return not room > 0 or margin >= CLEAR_SHARE * room


def verdicts(table: pd.DataFrame, references: pd.DataFrame, mode: str) -> list[str]:
    """What the references say of the baseline, for above the table."""
    base = table[table["is_baseline"]].iloc[0]
    floor, classical, ceiling = (best(references, k, mode) for k in ("floor", "classical", "ceiling"))
    if floor is None or math.isnan(base["mean"]):
        return []
    out = []
    top = None if ceiling is None else float(ceiling["value"])
    if not beats_clearly(base, float(floor["value"]), top, mode):
        out.append(
            f"the baseline does not beat {floor['name']}: this study cannot tell components apart; train "
            f"longer or larger (baseline {base['mean']:.4f}, {floor['name']} {floor['value']:.4f}"
            + (f", {ceiling['name']} {top:.4f})" if top is not None else ")")
        )
    if classical is not None and _beyond(float(classical["value"]), base["mean"], mode) >= 0:
        out.append(
            f"{classical['name']} scores {classical['value']:.4f} on the same split, at least the baseline's "
            f"{base['mean']:.4f}: the network adds nothing over a classical model on this data"
        )
    return out


def mark_below_floor(table: pd.DataFrame, references: pd.DataFrame, mode: str) -> None:
    """`below_floor` per variant (its mean worse than the best floor), with a note."""
    floor = best(references, "floor", mode)
    table["below_floor"] = False
    if floor is None:
        return
    below = table["mean"].notna() & (table["mean"].map(lambda m: _beyond(m, float(floor["value"]), mode)) < 0)
    table["below_floor"] = below
    note = f"below {floor['name']} ({floor['value']:.4f})"
    table.loc[below, "notes"] = table.loc[below, "notes"].map(lambda n: f"{n}; {note}" if n else note)
