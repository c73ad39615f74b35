"""Secrets from the environment are replaced wherever ablab records something."""

from __future__ import annotations

from ablab.secrets import REDACTED, is_secret_name, redact, secret_values

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
