"""Run identity: a hash of the result-relevant config and of the data files it reads, the variant
name, and the run folder.

Registered as OmegaConf resolvers so that Hydra's own `hydra.run.dir` / `hydra.sweep.subdir` use them:
parallel jobs never collide and a re-run of a sweep lands in the same folders. Imports only omegaconf,
so `--cfg job` and `--help` stay fast.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ablab.runs.fingerprint import data_fingerprint
from ablab.secrets import is_secret_key

HASH_LENGTH = 10
# Overrides that never name a variant: the seed is a replicate of it, the rest do not change results.
_NOT_VARIANT = ("seed", "sweep", "ablation", "hparams_search", "experiment")


def matches(key: str, patterns: list[str]) -> bool:
    return any(key == p or key.startswith(p + ".") or fnmatch.fnmatchcase(key, p) for p in patterns)


def _strip(node: Any, patterns: list[str], prefix: str = "") -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            dotted = f"{prefix}{key}"
            if not matches(dotted, patterns) and not is_secret_key(str(key)):
                out[key] = _strip(value, patterns, dotted + ".")
        return out
    if isinstance(node, list):
        return [_strip(v, patterns, prefix) for v in node]
    return node


def identity_dict(cfg: DictConfig) -> dict[str, Any]:
    """What determines a run's results: the config unresolved (interpolations are part of the config,
    and what they point at is hashed too), without the ignored fields (`run_id.ignore`) and secrets,
    plus the fingerprint of the data files it reads (`run_id.inputs`), so changed data is a new run."""
    container = OmegaConf.to_container(cfg, resolve=False, enum_to_str=True)
    ignore = list(container.get("run_id", {}).get("ignore", []))
    identity = _strip(container, ignore)
    data = data_fingerprint(cfg)
    if data is not None:
        identity["_data"] = data["hash"]
    return identity


def config_hash(cfg: DictConfig) -> str:
    """Stable short hash of `identity_dict(cfg)`."""
    text = json.dumps(identity_dict(cfg), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_LENGTH]


MAX_NAME = 120


def _sanitize(text: str) -> str:
    """A folder-safe name; a long one is cut and suffixed with a hash of the whole, so two different
    variants never share a name."""
    safe = "".join(c if c.isalnum() or c in "-_.=," else "_" for c in text.replace("/", "."))
    if len(safe) > MAX_NAME:
        safe = f"{safe[: MAX_NAME - 11]}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"
    return safe or "default"


@functools.cache
def _override_parser() -> Any:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create()


@functools.lru_cache(maxsize=4096)
def override_key(override: str) -> str:
    """The key (or config group) an override sets, without Hydra's `+`, `++` or `~`: Hydra's own
    parser reads it. An override it cannot parse counts by its text before `=`."""
    try:
        return str(_override_parser().parse_override(override).key_or_group)
    except Exception:  # e.g. an override stored by an older run that Hydra no longer accepts
        return override.split("=", 1)[0].lstrip("+~")


def without_prefix(override: str) -> str:
    """`+x=1` as `x=1`: how a variant name or a tag shows an override."""
    key = override_key(override)
    _, sep, value = override.partition("=")
    return f"{key}{sep}{value}"


def variant_from_overrides(
    overrides: list[str], ablation: str | None, ignore: list[str], swept: list[str] | None = None
) -> str:
    """The ablation's name if one is chosen, else the result-changing overrides (in a multirun only the
    swept ones: constant overrides are the study's setting, not a variant), else `default`."""
    if ablation:
        return _sanitize(ablation.split("/")[-1])
    kept = []
    for override in overrides:
        key = override_key(override)
        dotted = key.replace("/", ".")
        if key.split("/")[0] in _NOT_VARIANT or matches(dotted, ignore) or is_secret_key(dotted):
            continue
        if swept is not None and key not in swept:
            continue
        kept.append(without_prefix(override))
    return _sanitize(",".join(sorted(kept))) if kept else "default"


def _hydra_variant(*, _root_: DictConfig) -> str:
    """The variant of the run whose config is `_root_`: inside a job its own Hydra state, in the SLURM
    launcher (which composes each job's config to find its run folder) the composed job's."""
    from ablab.runs.context import hydra_context

    context = hydra_context(_root_)
    ignore = list(OmegaConf.select(_root_, "run_id.ignore", default=[]))
    swept = context.swept if context.multirun else None
    return variant_from_overrides(context.overrides, context.ablation, ignore, swept)


def _study(*, _root_: DictConfig) -> str:
    """The default study name: the family for a single run, the family and the swept keys for a plain
    multirun (`hnet-model.attention`). Sweep configs name their study instead."""
    from ablab.runs.context import hydra_context
    from ablab.runs.study import study_name

    context = hydra_context(_root_)
    if not context.multirun:
        return str(_root_.family)
    return study_name(str(_root_.family), context.swept or [])


def _run_folder(*, _root_: DictConfig) -> str:
    seed = OmegaConf.select(_root_, "seed", default=None)
    return f"seed{seed}-{config_hash(_root_)}" if seed is not None else config_hash(_root_)


def launch_dir() -> str:
    """The folder the command was started in. `${hydra:runtime.cwd}` says the same inside a job, but
    cannot be resolved where the sweeper computes `hydra.sweep.dir` (HydraConfig is not set there yet),
    which made every multirun without an explicit `paths.log_dir` fail before its first job."""
    import os

    from ablab.runs.context import hydra_context

    return hydra_context().cwd or os.getcwd()


def register_resolvers() -> None:
    """Make `${ablab.study:}`, `${ablab.variant:}`, `${ablab.run_folder:}`, `${ablab.run_hash:}` and
    `${ablab.launch_dir:}` available; idempotent."""
    for name, fn in (
        ("ablab.launch_dir", launch_dir),
        ("ablab.study", _study),
        ("ablab.variant", _hydra_variant),
        ("ablab.run_folder", _run_folder),
        ("ablab.run_hash", lambda *, _root_: config_hash(_root_)),
    ):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
