"""`ablab-eval CKPT [key=value ...]`: rebuild a run from its checkpoint alone and re-run its test.

The checkpoint carries the run's resolved config (`checkpoint["ablab"]["config"]`), so neither the
original command line nor the config tree is needed. Loads with `weights_only=True`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ablab.errors import AblabError, ConfigError, DataError


def load_config(ckpt_path: Path) -> DictConfig:
    """The resolved run config stored in an ablab checkpoint."""
    import torch

    if not ckpt_path.is_file():
        raise DataError(f"{ckpt_path}: no such checkpoint file; pass a .ckpt from <run>/checkpoints/")
    checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    stored = checkpoint.get("ablab", {}).get("config") if isinstance(checkpoint, dict) else None
    if stored is None:
        raise DataError(
            f"{ckpt_path}: not an ablab checkpoint (no stored config); it cannot be rebuilt alone"
        )
    return OmegaConf.create(stored)


def eval_dir(ckpt_path: Path) -> Path:
    """Where a re-test writes its files (confusion matrix, report): `<run>/eval/`, never over the
    original run's own outputs."""
    parent = ckpt_path.resolve().parent
    return (parent.parent if parent.name == "checkpoints" else parent) / "eval"


def evaluate(
    ckpt_path: Path, overrides: list[str] | None = None, accelerator: str = "auto"
) -> dict[str, float]:
    """Test metrics of the checkpoint's weights on its own run's test split (or as overridden)."""
    import lightning as L

    from ablab.runs.fit import _floats, build

    config = load_config(ckpt_path)
    if overrides:
        bad = [o for o in overrides if "=" not in o]
        if bad:
            raise ConfigError(f"override {bad[0]!r} is not key=value (e.g. data.batch_size=512)")
        config = OmegaConf.merge(config, OmegaConf.from_dotlist(overrides))
    L.seed_everything(int(config.seed), verbose=False)
    datamodule, task = build(config)
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
    trainer.test(task, datamodule=datamodule, ckpt_path=str(ckpt_path), verbose=False, weights_only=True)
    return _floats({k: v for k, v in trainer.callback_metrics.items() if k.startswith("test/")})


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ablab-eval", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="a .ckpt written by an ablab run")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. data.batch_size=512")
    parser.add_argument(
        "--out",
        type=Path,
        help="also write the metrics as JSON (with --predict: the predictions as CSV) here",
    )
    parser.add_argument(
        "--predict",
        type=Path,
        metavar="CSV",
        help="instead of the test, predict the rows of this CSV (classification runs; printed unless --out)",
    )
    parser.add_argument("--accelerator", default="auto", help="cpu, gpu or auto (default)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.predict is not None:
            return _predict(args.checkpoint, args.predict, args.out)
        metrics = evaluate(args.checkpoint, args.overrides, args.accelerator)
    except AblabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(metrics, indent=2, sort_keys=True)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
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
