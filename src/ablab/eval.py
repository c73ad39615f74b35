"""`ablab-eval CKPT [key=value ...]`: rebuild a run from its checkpoint alone and re-run its test.

The checkpoint carries the run's resolved config (`checkpoint["ablab"]["config"]`) and the fingerprint
of the data files it was trained on, so neither the original command line nor the config tree is
needed, and a re-test on changed data is refused unless asked for (`--allow-changed-data`). Loads
with `weights_only=True`. Bad input (not a checkpoint, a truncated one, weights that do not fit the
model its config builds, `--out` a folder) ends in one line and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ablab.errors import AblabError, ConfigError, DataError, find_user_error


def load_config(ckpt_path: Path) -> DictConfig:
    """The resolved run config stored in an ablab checkpoint."""
    from ablab.tasks.checkpoints import load_checkpoint

    return OmegaConf.create(load_checkpoint(ckpt_path)["ablab"]["config"])


def eval_dir(ckpt_path: Path) -> Path:
    """Where a re-test writes its files (confusion matrix, report): `<run>/eval/`, never over the
    original run's own outputs."""
    parent = ckpt_path.resolve().parent
    return (parent.parent if parent.name == "checkpoints" else parent) / "eval"


def _check_data(config: DictConfig, stored: dict[str, Any] | None) -> None:
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


def _weights_problem(exc: RuntimeError) -> str:
    """The first line that says why a state dict does not fit, from torch's loading error."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[1] if len(lines) > 1 else (lines[0] if lines else type(exc).__name__)


def evaluate(
    ckpt_path: Path,
    overrides: list[str] | None = None,
    accelerator: str = "auto",
    allow_changed_data: bool = False,
) -> dict[str, float]:
    """Test metrics of the checkpoint's weights on its own run's test split (or as overridden)."""
    from ablab.tasks.checkpoints import load_checkpoint

    ckpt_path = Path(ckpt_path)
    checkpoint = load_checkpoint(ckpt_path)
    config = OmegaConf.create(checkpoint["ablab"]["config"])
    if overrides:
        bad = [o for o in overrides if "=" not in o]
        if bad:
            raise ConfigError(f"override {bad[0]!r} is not key=value (e.g. data.batch_size=512)")
        config = OmegaConf.merge(config, OmegaConf.from_dotlist(overrides))
    if not allow_changed_data:
        _check_data(config, checkpoint["ablab"].get("data"))
    import lightning as L

    from ablab.runs.fit import _floats, build
    from ablab.tasks.checkpoints import safe_loading

    with_overrides = f" with {' '.join(overrides)}" if overrides else ""
    L.seed_everything(int(config.seed), verbose=False)
    try:
        datamodule, task = build(config)
    except Exception as exc:
        user_error = find_user_error(exc)
        if user_error is not None:
            raise user_error from exc
        lines = str(exc).strip().splitlines()
        raise ConfigError(
            f"{ckpt_path}: cannot rebuild the run from its stored config{with_overrides} "
            f"({type(exc).__name__}: {lines[-1] if lines else ''})"
        ) from exc
    try:  # before the Trainer starts printing: a mismatch is one line
        task.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as exc:
        raise DataError(
            f"{ckpt_path}: its weights do not fit the model its config builds{with_overrides} "
            f"({_weights_problem(exc)}); drop overrides that change the model's shape, or pass the "
            "checkpoint of this run"
        ) from exc
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=1,
        # A run tested on part of its test split (trainer.limit_test_batches) is re-tested on that part.
        limit_test_batches=OmegaConf.select(config, "trainer.limit_test_batches", default=None),
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(eval_dir(ckpt_path)),
    )
    try:
        with safe_loading():
            trainer.test(
                task, datamodule=datamodule, ckpt_path=str(ckpt_path), verbose=False, weights_only=True
            )
    except RuntimeError as exc:
        problem = _weights_problem(exc)
        if problem is None:
            raise
        raise DataError(
            f"{ckpt_path}: its weights do not fit the model its config builds{with_overrides} ({problem}); "
            "drop overrides that change the model's shape, or pass the checkpoint of this run"
        ) from exc
    return _floats({k: v for k, v in trainer.callback_metrics.items() if k.startswith("test/")})


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ablab-eval", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="a .ckpt written by an ablab run")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. data.batch_size=512")
    parser.add_argument(
        "--out",
        type=Path,
        help="also write the metrics as JSON (with --predict: the predictions as CSV) to this file",
    )
    parser.add_argument(
        "--predict",
        type=Path,
        metavar="CSV",
        help="instead of the test, predict the rows of this CSV (classification runs; printed unless --out)",
    )
    parser.add_argument("--accelerator", default="auto", help="cpu, gpu or auto (default)")
    parser.add_argument(
        "--allow-changed-data",
        action="store_true",
        help="re-test even though a data file differs from the one the checkpoint was trained on",
    )
    return parser


def _check_out(out: Path | None) -> None:
    if out is not None and out.is_dir():
        raise ConfigError(f"--out {out} is a folder: give a file to write, such as {out / 'metrics.json'}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        _check_out(args.out)
        if args.predict is not None:
            return _predict(args.checkpoint, args.predict, args.out)
        metrics = evaluate(args.checkpoint, args.overrides, args.accelerator, args.allow_changed_data)
        text = json.dumps(metrics, indent=2, sort_keys=True)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text + "\n")
    except AblabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc.filename or args.out}: {exc.strerror}", file=sys.stderr)
        return 2
    print(text)
    return 0


def _predict(ckpt_path: Path, csv_path: Path, out: Path | None) -> int:
    """`--predict`: the checkpoint's class and probabilities for every row of a CSV."""
    from ablab.tasks.classification import predict_csv

    frame = predict_csv(ckpt_path, csv_path)
    if out is None:
        print(frame.to_csv(index=False), end="")
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(out, index=False)
        print(f"{len(frame)} predictions in {out}")
    return 0


def _run() -> Any:
    sys.exit(main())


if __name__ == "__main__":
    _run()
