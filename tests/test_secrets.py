"""Secrets from the environment are replaced wherever ablab records something."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from ablab import secrets
from ablab.secrets import (
    REDACTED,
    is_secret_key,
    is_secret_name,
    redact,
    register_config_secrets,
    secret_values,
)

ENV = {
    "WANDB_API_KEY": "wandb-key-0123456789",
    "hf_token": "hf_abcdefghijkl",
    "DB_PASSWORD": "correct-horse-battery",
    "AWS_SECRET": "aws/secret+value",
    "DEBUG_KEY": "1",  # too short to be a secret: left alone everywhere
    "PATH": "/usr/bin:/bin",
    "KEYBOARD": "us-international",
}


def test_secret_names_are_wandb_api_key_and_the_key_token_secret_password_suffixes() -> None:
    assert [name for name in ENV if is_secret_name(name)] == [
        "WANDB_API_KEY",
        "hf_token",
        "DB_PASSWORD",
        "AWS_SECRET",
        "DEBUG_KEY",
    ]
    assert secret_values(ENV) == [
        "correct-horse-battery",
        "wandb-key-0123456789",
        "aws/secret+value",
        "hf_abcdefghijkl",
    ]


def test_redact_replaces_secret_values_inside_nested_records() -> None:
    record = {
        "overrides": ["+token=hf_abcdefghijkl", "seed=1"],
        "error": {"message": "login failed for correct-horse-battery", "code": 1},
        "paths": ("/data/aws/secret+value/x", 3.5),
        "wandb-key-0123456789": True,
        "flag": "1",
    }
    assert redact(record, secret_values(ENV)) == {
        "overrides": [f"+token={REDACTED}", "seed=1"],
        "error": {"message": f"login failed for {REDACTED}", "code": 1},
        "paths": (f"/data/{REDACTED}/x", 3.5),
        REDACTED: True,
        "flag": "1",
    }


def test_redact_without_secrets_returns_the_value_itself() -> None:
    record = {"a": ["b"]}
    assert redact(record, []) is record


def test_config_keys_named_like_secrets_are_secrets_and_words_decide() -> None:
    secret = [
        "db_password",
        "passwd",
        "hf_token",
        "token",
        "clientSecret",
        "api_key",
        "apiKey",
        "wandb_apikey",
    ]
    secret += ["+db_password", "logger.wandb.api_key", "SSH_KEY"]  # the environment's `_KEY` rule too
    plain = ["max_tokens", "tokenizer", "secrets", "keyboard", "monitor", "cache_dir", "path"]
    assert [k for k in secret if not is_secret_key(k)] == []
    assert [k for k in plain if is_secret_key(k)] == []


def test_secret_named_config_values_are_redacted_in_structures_and_in_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = {"db_password": "abc", "data": {"path": "/x.csv", "hub_token": 12345678}, "max_tokens": 4096}
    assert redact(config, []) == {
        "db_password": REDACTED,
        "data": {"path": "/x.csv", "hub_token": REDACTED},
        "max_tokens": 4096,
    }
    monkeypatch.setattr(secrets, "_config_secrets", set())
    register_config_secrets(
        OmegaConf.create({**config, "path": "${hydra:runtime.cwd}"})
    )  # unresolvable: fine
    assert secrets._config_secrets == {"abc", "12345678"}
    assert (
        redact("connecting with 12345678 as abc") == f"connecting with {REDACTED} as abc"
    )  # too short to replace
    line = "#0 : seed=1 +db_password=abc data.path=/x.csv logger.wandb.api_key=k-123,other=1"
    assert (
        redact(line, [])
        == f"#0 : seed=1 +db_password={REDACTED} data.path=/x.csv logger.wandb.api_key={REDACTED},other=1"
    )
