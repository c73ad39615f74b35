"""Instantiate the dict-of-components config groups (callbacks, loggers) without silent drops."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig

from ablab.errors import ConfigError


def instantiate_group(
    group: DictConfig | None, group_name: str, extra: Callable[[DictConfig], dict[str, Any]] | None = None
) -> list[Any]:
    """One object per entry; `null` entries are switched off, entries without `_target_` are errors.
    `extra(entry)` gives arguments the config cannot hold (a logger's tracked run)."""
    from hydra.utils import instantiate

    if not group:
        return []
    objects = []
    for name, entry in group.items():
        if entry is None:
            continue
        if not isinstance(entry, DictConfig) or "_target_" not in entry:
            raise ConfigError(
                f"{group_name}.{name} has no _target_: give it one, or set {group_name}.{name}=null to drop it"
            )
        more = extra(entry) if extra else {}
        # Objects go in after Hydra is done: it would turn them into configs and instantiate what they hold.
        objects.append(instantiate(entry, _partial_=True)(**more) if more else instantiate(entry))
    return objects
