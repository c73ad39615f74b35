"""Re-test a run from its checkpoint alone (`ablab-eval CKPT`), on the data it was trained on.

The checkpoint carries the run's resolved config and the fingerprint of the data files it was trained
on, so neither the original command line nor the config tree is needed, and a re-test on changed data
is refused unless asked for. Files a re-test writes (a confusion matrix, a report) go to `<run>/eval/`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ablab.errors import DataError
from ablab.runs.checkpoints import _weights_problem, load_run, safe_loading


def eval_dir(ckpt_path: Path) -> Path:
    """Where a re-test writes its files: `<run>/eval/`, never over the original run's own outputs."""
    parent = ckpt_path.resolve().parent
    return (parent.parent if parent.name == "checkpoints" else parent) / "eval"


def check_data(config: DictConfig, stored: dict[str, Any] | None) -> None:
    """A DataError when a data file differs from the one the checkpoint was trained and tested on."""
    from ablab.runs.fingerprint import changed_files, data_fingerprint

    current = data_fingerprint(config)
    changed = changed_files(stored, current)
    if not changed:
        return
    field = changed[0]
    then = (stored or {}).get("files", {}).get(field, {})
    now = (current or {}).get("files", {}).get(field, {})
    path = now.get("path") or then.get("path")

    def digest(entry: dict[str, Any]) -> str:
        value = entry.get("sha256") or entry.get("sha256_sampled")
        return f"sha256 {value[:12]}" if value else "absent" if not entry else "listed files differ"

    raise DataError(
        f"{field}={path} is not the data this checkpoint was trained on ({digest(then)} then, "
        f"{digest(now)} now): its test rows would not be the run's; restore the file, or pass "
        "--allow-changed-data to test on it anyway"
    )


def evaluate(
    ckpt_path: Path,
    overrides: list[str] | None = None,
    accelerator: str = "auto",
    allow_changed_data: bool = False,
) -> dict[str, float]:
    """Test metrics of the checkpoint's weights on its own run's test split (or as overridden)."""
    import lightning as L

    from ablab.runs.fit import _floats

    ckpt_path = Path(ckpt_path)
    run = load_run(ckpt_path, overrides)
    if not allow_changed_data:
        check_data(run.config, run.checkpoint["ablab"].get("data"))
    L.seed_everything(int(run.config.seed), verbose=False)
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=1,
        # A run tested on part of its test split (trainer.limit_test_batches) is re-tested on that part.
        limit_test_batches=OmegaConf.select(run.config, "trainer.limit_test_batches", default=None),
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(eval_dir(ckpt_path)),
    )
    try:
        with safe_loading():
            trainer.test(
                run.task,
                datamodule=run.datamodule,
                ckpt_path=str(ckpt_path),
                verbose=False,
                weights_only=True,
            )
    except RuntimeError as exc:
        raise DataError(
            f"{ckpt_path}: its weights do not fit the model its config builds ({_weights_problem(exc)}); "
            "drop overrides that change the model's shape, or pass the checkpoint of this run"
        ) from exc
    return _floats({k: v for k, v in trainer.callback_metrics.items() if k.startswith("test/")})
