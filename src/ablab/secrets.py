"""Keep secrets out of everything a run writes: folder names, config dumps, results.json, checkpoints,
logs, the console and the W&B files.

A secret is
- the value of `WANDB_API_KEY` or of any environment variable whose name ends in `_KEY`, `_TOKEN`,
  `_SECRET` or `_PASSWORD`; a config may read one (`${oc.env:HF_TOKEN}`) to use it;
- the value of any config key whose name marks it as one: a word `password`, `passwd`, `secret` or
  `token`, `api_key` / `apikey`, or the environment rules above (`db_password`, `hf_token`,
  `clientSecret`, `wandb_api_key`). Names are split into words, so `max_tokens` and `tokenizer` are
  not secrets: the brief's `*token*` read as a substring would redact the ESM encoders' `max_tokens`
  and break every checkpoint that stores it.

Whatever ablab records goes through `redact`: a secret-named key's value becomes `<redacted>`, as does
every `key=value` of a secret-named key in a string (overrides, command lines, Hydra's log lines), and
every occurrence of a known secret value (environment secrets, and the config's own secrets once
`register_config_secrets` has seen the config).
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import sys
from collections.abc import Mapping
from typing import Any

SECRET_NAMES = ("WANDB_API_KEY",)
SECRET_SUFFIXES = ("_KEY", "_TOKEN", "_SECRET", "_PASSWORD")
SECRET_WORDS = ("password", "passwd", "secret", "token", "apikey")
REDACTED = "<redacted>"
# Shorter values ("1", "yes") are flags, not secrets; replacing them everywhere would garble records.
MIN_SECRET_LENGTH = 6

_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
# `key=value` as in overrides and command lines (`+db_password=x`, `logger.wandb.api_key=x`).
_ASSIGNMENT = re.compile(r"(?P<key>[\w.+~/-]+)=(?P<value>[^\s,'\"\]]+)")
_config_secrets: set[str] = set()


def is_secret_name(name: str) -> bool:
    """Whether an environment variable of this name holds a secret."""
    upper = name.upper()
    return upper in SECRET_NAMES or upper.endswith(SECRET_SUFFIXES)


def is_secret_key(key: str) -> bool:
    """Whether a config key (the last part of a dotted key) names a secret."""
    name = str(key).rsplit(".", 1)[-1].rsplit("/", 1)[-1].lstrip("+~")
    words = [w.lower() for w in _WORD.findall(name)]
    joined = [a + b for a, b in itertools.pairwise(words)]
    return is_secret_name(name) or any(w in SECRET_WORDS for w in words + joined)


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """The secret values in `environ` (default: this process's environment, plus the config secrets
    registered in this process), longest first."""
    env = os.environ if environ is None else environ
    values = {v for k, v in env.items() if is_secret_name(k) and len(v) >= MIN_SECRET_LENGTH}
    if environ is None:
        values |= _config_secrets
    return sorted(values, key=len, reverse=True)


def register_config_secrets(cfg: Any) -> None:
    """Remember the config's secret values for every later `redact` in this process. Each secret-named
    key is resolved alone: a config with `${hydra:...}` paths outside Hydra still registers."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    def walk(node: Any) -> None:
        if isinstance(node, DictConfig):
            for key in node:
                if is_secret_key(str(key)):
                    try:
                        value = node[key]
                    except Exception:  # an interpolation that cannot resolve here holds no value yet
                        continue
                    if isinstance(value, str | int | float) and not isinstance(value, bool):
                        _config_secrets.add(str(value))
                else:
                    walk(node._get_node(key))
        elif isinstance(node, ListConfig):
            for index in range(len(node)):
                walk(node._get_node(index))

    walk(cfg if OmegaConf.is_config(cfg) else OmegaConf.create(cfg))


def _redact_text(original: str, secrets: list[str]) -> str:
    text = _ASSIGNMENT.sub(
        lambda m: f"{m['key']}={REDACTED}" if is_secret_key(m["key"]) else m.group(0), original
    )
    for secret in secrets:
        if len(secret) >= MIN_SECRET_LENGTH:
            text = text.replace(secret, REDACTED)
    return original if text == original else text


def redact(value: Any, secrets: list[str] | None = None) -> Any:
    """`value` (nested dicts, lists, tuples, strings) with every secret replaced: a copy where
    something changed, else `value` itself."""
    secrets = secret_values() if secrets is None else secrets
    if isinstance(value, str):
        return _redact_text(value, secrets)
    if isinstance(value, Mapping):
        out = {
            redact(k, secrets): REDACTED
            if is_secret_key(str(k)) and v not in (None, "")
            else redact(v, secrets)
            for k, v in value.items()
        }
        same = list(out) == list(value) and all(out[k] is value[k] for k in value)
        return value if same else out
    if isinstance(value, list | tuple):
        items = [redact(v, secrets) for v in value]
        return value if all(a is b for a, b in zip(items, value)) else type(value)(items)
    return value


def redact_argv() -> None:
    """Replace secrets in this process's `sys.argv`: W&B and others record the command line."""
    sys.argv[:] = [redact(a) for a in sys.argv]


class _RedactingRecord(logging.LogRecord):
    """A log record whose message has its secrets replaced, whichever handler writes it."""

    def getMessage(self) -> str:
        return redact(super().getMessage())


def redact_logging() -> None:
    """Make every log record of this process redact its message (Hydra's launcher logs each job's
    overrides; Lightning and W&B log paths and settings). Idempotent."""
    logging.setLogRecordFactory(_RedactingRecord)
