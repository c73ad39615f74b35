"""`ablab-train` / `python train.py`: one run, or with `-m` a study of runs (Hydra multirun)."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from ablab.runs.identity import register_resolvers

CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "conf")
register_resolvers()


def _print_config(cfg: DictConfig) -> None:
    from ablab.runs.config_tree import print_config_tree

    print_config_tree(cfg)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Run (or skip) one job; return the optimised metric for Hydra sweepers such as Optuna."""
    from ablab.errors import AblabError
    from ablab.runs.execute import _hydra_context, run

    if cfg.get("print_config"):
        _print_config(cfg)
    record = run(cfg)
    _, _, multirun = _hydra_context()
    if record["status"] != "completed" and not multirun:
        message = (record.get("error") or {}).get("message", record["status"])
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2 if message.split(":")[0] in {c.__name__ for c in _user_errors(AblabError)} else 1)
    value = record["metrics"].get(f"val/{cfg.metric.name}")
    return float(value) if value is not None else None


def _user_errors(base: type) -> list[type]:
    return [base, *(c for sub in base.__subclasses__() for c in _user_errors(sub))]


if __name__ == "__main__":
    main()
