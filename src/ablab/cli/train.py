"""`ablab-train` / `python train.py`: one run, or with `-m` a study of runs (Hydra multirun)."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from ablab.runs.identity import register_resolvers

# The package's conf/: a link to the checkout's conf/ folder, a copy of it in an installed package.
CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")
register_resolvers()


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> dict:
    """Run (or skip) one job; return what a sweeper needs of its record (the Optuna sweeper tells its
    trial the status, metrics and costs)."""
    from ablab.runs.context import hydra_context
    from ablab.runs.execute import run, sweeper_value

    record = run(cfg)
    if not hydra_context().multirun:
        _say_how_it_ended(cfg, record)
    return sweeper_value(record, cfg.paths.output_dir)


def _say_how_it_ended(cfg: DictConfig, record: dict) -> None:
    """A single run's last line: its test metric and folder, or its one error line and the exit code
    its kind of error gets (2: the user can fix it)."""
    from ablab.errors import exit_code
    from ablab.lightning.console import display_path
    from ablab.runs.records import Status

    if record["status"] != Status.COMPLETED:
        error = record.get("error") or {}
        print(f"error: {error.get('message', record['status'])}", file=sys.stderr)
        raise SystemExit(exit_code(error.get("kind")))
    key = f"test/{cfg.metric.name}"
    value = record["metrics"].get(key)
    shown = f"{value:.4g}" if isinstance(value, int | float) else "n/a"
    earlier = "skipped (completed earlier): " if record.get("skipped") else ""
    print(f"{earlier}{key} = {shown} · results in {display_path(cfg.paths.output_dir)}", file=sys.stderr)


if __name__ == "__main__":
    main()
