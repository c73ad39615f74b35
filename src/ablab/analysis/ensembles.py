"""Runs of a study that differ in one config group only, grouped: the members of an ensemble
(`ablab-ensemble`: AMP heads). Reads records and the runs' saved configs, no torch."""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from ablab.runs.identity import matches, override_key, variant_from_overrides
from ablab.runs.records import CorruptRecord, read_record


def find_runs(study_dir: Path, needs: str) -> list[dict[str, Any]]:
    """Completed runs under `study_dir` with the file `needs` in their folder, each with its folder in
    `_dir`."""
    runs = []
    for path in sorted(study_dir.rglob("results.json")):
        if "previous" in path.relative_to(study_dir).parts:
            continue
        try:
            record = read_record(path)
        except CorruptRecord as exc:
            print(f"warning: skipped {exc}", file=sys.stderr)
            continue
        if record["status"] == "completed" and (path.parent / needs).is_file():
            runs.append({**record, "_dir": path.parent})
    return runs


def _ignored_fields(run_dir: Path) -> list[str]:
    """The run's `run_id.ignore` (fields that do not change results), from its saved config."""
    from omegaconf import OmegaConf

    path = run_dir / ".hydra" / "config.yaml"
    if not path.is_file():
        return []
    return [str(p) for p in OmegaConf.select(OmegaConf.load(path), "run_id.ignore", default=[]) or []]


def setting_without(record: dict[str, Any], group: str) -> tuple[str, int]:
    """(the run's setting without `group`, seed): runs sharing it differ in `group` alone. The setting
    is the group choices and the overrides that change results (as in the run's variant name)."""
    ignore = _ignored_fields(record["_dir"])
    overrides = [o for o in record.get("overrides") or [] if override_key(o) != group]
    parts = {
        f"{name}={choice}"
        for name, choice in (record.get("choices") or {}).items()
        if name != group and choice is not None and not matches(name.replace("/", "."), ignore)
    }
    changed = variant_from_overrides(overrides, None, ignore)
    parts |= set() if changed == "default" else set(changed.split(","))
    return ";".join(sorted(parts)), int(record.get("seed") or 0)


def runs_differing_in(study_dir: Path, group: str, needs: str) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """The study's completed runs (with `needs`) by their setting without `group` and their seed."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for record in find_runs(study_dir, needs):
        groups[setting_without(record, group)].append(record)
    return dict(groups)
