"""Run identity: a hash of the result-relevant config, the variant name, and the run folder.

Registered as OmegaConf resolvers so that Hydra's own `hydra.run.dir` / `hydra.sweep.subdir` use them:
parallel jobs never collide and a re-run of a sweep lands in the same folders. Imports only omegaconf,
so `--cfg job` and `--help` stay fast.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from typing import Any

from omegaconf import DictConfig, OmegaConf

HASH_LENGTH = 10
# Overrides that never name a variant: the seed is a replicate of it, the rest do not change results.
_NOT_VARIANT = ("seed", "sweep", "ablation", "hparams_search", "experiment")


def _matches(key: str, patterns: list[str]) -> bool:
    return any(key == p or key.startswith(p + ".") or fnmatch.fnmatchcase(key, p) for p in patterns)


def _strip(node: Any, patterns: list[str], prefix: str = "") -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            dotted = f"{prefix}{key}"
            if not _matches(dotted, patterns):
                out[key] = _strip(value, patterns, dotted + ".")
        return out
    if isinstance(node, list):
        return [_strip(v, patterns, prefix) for v in node]
    return node


def identity_dict(cfg: DictConfig) -> dict[str, Any]:
    """The config that determines a run's results: unresolved (interpolations are part of the config,
    and what they point at is hashed too) and without the ignored fields (`run_id.ignore`)."""
    container = OmegaConf.to_container(cfg, resolve=False, enum_to_str=True)
    ignore = list(container.get("run_id", {}).get("ignore", []))
    return _strip(container, ignore)


def config_hash(cfg: DictConfig) -> str:
    """Stable short hash of `identity_dict(cfg)`."""
    text = json.dumps(identity_dict(cfg), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_LENGTH]


def _sanitize(text: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_.=," else "_" for c in text.replace("/", "."))
    return safe[:120] or "default"


def variant_from_overrides(overrides: list[str], ablation: str | None, ignore: list[str]) -> str:
    """The ablation's name if one is chosen, else the overrides that change results, else `default`."""
    if ablation:
        return _sanitize(ablation.split("/")[-1])
    kept = []
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        dotted = key.replace("/", ".")
        if key.split("/")[0] in _NOT_VARIANT or _matches(dotted, ignore):
            continue
        kept.append(override.lstrip("+~"))
    return _sanitize(",".join(sorted(kept))) if kept else "default"


def _hydra_variant(*, _root_: DictConfig) -> str:
    from hydra.core.hydra_config import HydraConfig

    hydra = HydraConfig.get()
    ablation = hydra.runtime.choices.get("ablation")
    ignore = list(OmegaConf.select(_root_, "run_id.ignore", default=[]))
    return variant_from_overrides(list(hydra.overrides.task), ablation, ignore)


def _run_folder(*, _root_: DictConfig) -> str:
    seed = OmegaConf.select(_root_, "seed", default=None)
    return f"seed{seed}-{config_hash(_root_)}" if seed is not None else config_hash(_root_)


def register_resolvers() -> None:
    """Make `${ablab.variant:}`, `${ablab.run_folder:}` and `${ablab.run_hash:}` available; idempotent."""
    for name, fn in (
        ("ablab.variant", _hydra_variant),
        ("ablab.run_folder", _run_folder),
        ("ablab.run_hash", lambda *, _root_: config_hash(_root_)),
    ):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
