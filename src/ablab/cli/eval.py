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

from ablab.errors import AblabError, ConfigError


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
        from ablab.runs.evaluate import evaluate

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
    """`--predict`: the checkpoint's class and probabilities for every row of a CSV, from a task that
    predicts rows (`predict_csv`: the hybrid classifier's)."""
    from ablab.runs.checkpoints import load_run

    run = load_run(ckpt_path, with_data=False)
    if not hasattr(run.task, "predict_csv"):
        raise ConfigError(
            f"{ckpt_path}: predictions from a CSV need a classification run, not {type(run.task).__name__}"
        )
    frame = run.task.predict_csv(csv_path, run.config)
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
