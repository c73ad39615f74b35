"""Keep secrets out of everything a run writes: config dumps, results.json, logs and the W&B config.

A secret is the value of `WANDB_API_KEY` or of any environment variable whose name ends in `_KEY`,
`_TOKEN`, `_SECRET` or `_PASSWORD`. A config may read one (`${oc.env:HF_TOKEN}`) to use it; whatever
ablab records goes through `redact`, which replaces every occurrence of such a value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

SECRET_NAMES = ("WANDB_API_KEY",)
SECRET_SUFFIXES = ("_KEY", "_TOKEN", "_SECRET", "_PASSWORD")
REDACTED = "<redacted>"
# Shorter values ("1", "yes") are flags, not secrets; replacing them everywhere would garble records.
MIN_SECRET_LENGTH = 6


def is_secret_name(name: str) -> bool:
    """Whether an environment variable of this name holds a secret."""
    upper = name.upper()
    return upper in SECRET_NAMES or upper.endswith(SECRET_SUFFIXES)


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """The secret values in `environ` (default: this process's environment), longest first."""
    env = os.environ if environ is None else environ
    values = {v for k, v in env.items() if is_secret_name(k) and len(v) >= MIN_SECRET_LENGTH}
    return sorted(values, key=len, reverse=True)


def redact(value: Any, secrets: list[str] | None = None) -> Any:
    """A copy of `value` (nested dicts, lists, tuples, strings) with every secret value replaced."""
    secrets = secret_values() if secrets is None else secrets
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, Mapping):
        return {redact(k, secrets): redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v, secrets) for v in value)
    return value
