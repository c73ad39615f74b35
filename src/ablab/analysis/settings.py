"""What a reader of a report needs beside the numbers: how each variant's config differs from the
baseline's (read from the runs' `.hydra/config.yaml`, unresolved, as the user wrote it), and the
settings every run shared (epochs, data size, batch size, learning rate, seeds).

Reads YAML with omegaconf only: no torch, no lightning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ablab.analysis.aggregate import StudyComparison

CONFIG = Path(".hydra") / "config.yaml"
# Keys that differ between any two runs without changing what is compared.
_SKIP = (
    "seed",
    "variant",
    "study",
    "paths",
    "hydra",
    "logger",
    "run_id",
    "sweep",
    "force_rerun",
    "print_config",
)
_SHOWN = 48


def read_config(run_dir: Path) -> dict[str, Any] | None:
    """A run's composed config (unresolved), or None where it cannot be read."""
    from omegaconf import OmegaConf

    try:
        return OmegaConf.to_container(OmegaConf.load(run_dir / CONFIG), resolve=False)
    except Exception:
        return None


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": 1}}` -> `{"a.b": 1}`; lists stay values."""
    if not isinstance(node, dict):
        return {prefix.rstrip("."): node}
    out: dict[str, Any] = {}
    for key, value in node.items():
        out.update(flatten(value, f"{prefix}{key}."))
    return out


def _skipped(key: str, ignore: list[str]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in (*_SKIP, *ignore))


def _short(value: Any) -> str:
    text = str(value)
    if isinstance(value, str) and value.count(".") >= 2 and " " not in value:  # a _target_: its class
        text = value.rsplit(".", 1)[-1]
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def config_diff(base: dict[str, Any], other: dict[str, Any]) -> list[str]:
    """`key: baseline -> variant` for every result-relevant key that differs."""
    ignore = list((base.get("run_id") or {}).get("ignore") or [])
    a, b = flatten(base), flatten(other)
    lines = []
    for key in sorted(set(a) | set(b)):
        if _skipped(key, ignore) or a.get(key) == b.get(key):
            continue
        lines.append(f"{key}: {_short(a.get(key, '(unset)'))} → {_short(b.get(key, '(unset)'))}")
    return lines


def _first_config(comparison: StudyComparison, variant: str) -> dict[str, Any] | None:
    runs = comparison.runs[(comparison.runs["variant"] == variant) & comparison.runs["included"]]
    for path in runs["path"]:
        config = read_config(Path(path))
        if config is not None:
            return config
    return None


def variant_diffs(comparison: StudyComparison) -> dict[str, list[str]]:
    """Each variant's config difference from the baseline; empty where no config could be read."""
    base = _first_config(comparison, comparison.baseline)
    if base is None:
        return {}
    out = {}
    for variant in comparison.table["variant"]:
        if variant == comparison.baseline:
            continue
        other = _first_config(comparison, variant)
        if other is not None:
            out[variant] = config_diff(base, other) or ["(no difference in the config)"]
    return out


def run_settings(comparison: StudyComparison) -> dict[str, str]:
    """The baseline's settings: seeds, epochs (allowed and trained), data sizes, batch size, learning
    rate, and how many runs completed."""
    table, runs = comparison.table, comparison.runs
    base = table[table["is_baseline"]].iloc[0]
    flat = flatten(_first_config(comparison, comparison.baseline) or {})
    settings = {"seeds": base["seeds"] or "–"}
    done = runs[runs["included"]]
    epochs = done["epochs"].dropna().astype(int) if "epochs" in done else pd.Series(dtype=int)
    trained = (
        "–"
        if epochs.empty
        else f"{epochs.min()}" + (f"–{epochs.max()}" if epochs.max() != epochs.min() else "")
    )
    limit = flat.get("trainer.max_epochs")
    settings["epochs"] = f"{trained} trained" + (f" (max_epochs {limit})" if limit is not None else "")
    if flat.get("trainer.max_steps") not in (None, -1):
        settings["epochs"] += f", max_steps {flat['trainer.max_steps']}"
    sizes = [s for s in done.get("data_sizes", pd.Series(dtype=str)) if s]
    if sizes:
        settings["data (samples)"] = sizes[0]
    for key, label in (("data.batch_size", "batch size"), ("task.optimizer.lr", "learning rate")):
        if key in flat:
            settings[label] = str(flat[key])
    settings["runs"] = f"{int(table['n'].sum())} completed of {int(table['n_runs'].sum())}"
    return settings


def settings_frame(settings: dict[str, str]) -> pd.DataFrame:
    """The settings as a two-column table."""
    return pd.DataFrame({"Setting": list(settings), "Value": list(settings.values())})
