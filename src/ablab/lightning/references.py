"""Floors and ceilings of a data set: what a rule that learns nothing, a classical model or an oracle
scores on the same test split with the run's own metrics, so that a report can put every number
beside them ("a number means nothing without its floor").

A family computes its references in `families/<name>/references.py` from its own data module and
metrics, and its experiment config names that function (`references._target_`); the runner calls it
once per data set after testing and keeps the result in a cache and in each run's record
(`ablab.runs.references`). The report reads them from the records and never imports torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# What a reference is, and how the report uses it:
# floor: learns nothing from the data (all zeros, the majority class, chance, a fixed rule); the
#   baseline must beat the best floor clearly, or the study cannot tell components apart.
# classical: a standard model fitted on the same training split (logistic regression, a random forest).
# ceiling: the best a prediction can be (an exact solver, the real clips themselves).
KINDS = ("floor", "classical", "ceiling")


@dataclass(frozen=True)
class Reference:
    """One reference row: its name as the report shows it, its kind, the scores it gets under the
    run's own keys (`test/<metric>`), and one line on how it is made."""

    name: str
    kind: str
    metrics: dict[str, float] = field(default_factory=dict)
    note: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"reference {self.name!r}: kind {self.kind!r} is not one of {', '.join(KINDS)}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form kept in the cache and the record."""
        return {**asdict(self), "metrics": {k: float(v) for k, v in self.metrics.items()}}


def test_metrics(values: dict[str, Any]) -> dict[str, float]:
    """`{"f1": 0.9}` -> `{"test/f1": 0.9}`: references carry the keys a run records for its test split."""
    return {f"test/{name}": float(value) for name, value in values.items()}
