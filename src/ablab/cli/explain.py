"""`ablab-explain CKPT [--n-samples N] [--out DIR]`: SHAP, Grad-CAM and attention maps of a trained
hybrid classifier, rebuilt from its checkpoint alone, as PNG files (and W&B images when the run logged
to W&B).

Background rows come from the run's training split, explained rows from its test split, both
standardised with the checkpoint's scaler.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ablab.errors import AblabError, ConfigError

SHAP_EXPLAINERS = ("captum", "shap")


def default_out_dir(ckpt_path: Path) -> Path:
    """`<run>/explain` for `<run>/checkpoints/<name>.ckpt`, else `explain/` beside the checkpoint."""
    run_dir = ckpt_path.parent.parent if ckpt_path.parent.name == "checkpoints" else ckpt_path.parent
    return run_dir / "explain"


def _wandb_loggers(config: dict[str, Any], run_dir: Path) -> list[Any]:
    """The run's W&B logger(s), rebuilt from its config; they continue the run's own W&B run when its
    id is on record (`ablab.runs.tracking.RUN_ID_FILE` in the run folder)."""
    from hydra.utils import instantiate

    from ablab.runs.tracking import RUN_ID_FILE

    id_file = run_dir / RUN_ID_FILE
    run_id = id_file.read_text().strip() if id_file.is_file() else ""
    resume = {"id": run_id, "resume": "allow"} if run_id else {}
    entries = (config.get("logger") or {}).values()
    return [
        instantiate({**e, **resume})
        for e in entries
        if isinstance(e, dict) and str(e.get("_target_", "")).endswith("WandbLogger")
    ]


def _finish(logger: Any) -> None:
    """End the W&B run the images went to (ablab's logger waits for its files)."""
    if hasattr(logger, "finish_run"):
        logger.finish_run({})
    else:
        logger.experiment.finish()


def explain_checkpoint(
    ckpt_path: str | Path,
    out_dir: str | Path | None = None,
    n_samples: int = 5,
    shap_samples: int = 100,
    background: int = 100,
    nsamples: int = 200,
    seed: int = 0,
    gradcam_block: int = -1,
    log_to_wandb: bool = True,
    shap_explainer: str = "captum",
) -> dict[str, Any]:
    """Write every explanation of the checkpoint's model into `out_dir`; returns the summary that is
    also written there as `summary.json` (rankings, Grad-CAM means, files). `shap_explainer="shap"`
    computes the SHAP values with shap's own GradientExplainer (same estimator, slower)."""
    from ablab.runs.checkpoints import load_checkpoint

    for name, value in (
        ("--n-samples", n_samples),
        ("--shap-samples", shap_samples),
        ("--background", background),
        ("--nsamples", nsamples),
    ):
        if value < 1:
            raise ConfigError(f"{name}={value} is invalid: must be >= 1")
    if shap_explainer not in SHAP_EXPLAINERS:
        raise ConfigError(
            f"--shap-explainer={shap_explainer!r} is invalid: use {' or '.join(SHAP_EXPLAINERS)}"
        )
    ckpt_path = Path(ckpt_path)
    load_checkpoint(ckpt_path)  # a wrong path fails here, before the heavy imports

    from ablab.families.hybrid.explain.figures import log_images
    from ablab.families.hybrid.explain.report import ExplainSettings, explain_model
    from ablab.runs.checkpoints import load_run

    run = load_run(ckpt_path)
    out = Path(out_dir) if out_dir is not None else default_out_dir(ckpt_path)
    settings = ExplainSettings(
        n_samples, shap_samples, background, nsamples, seed, gradcam_block, shap_explainer
    )
    try:
        summary, images = explain_model(run.task, run.datamodule, out, settings)
    except ConfigError as exc:
        raise ConfigError(f"{ckpt_path}: {exc}") from exc
    summary = {"checkpoint": str(ckpt_path), **summary}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if log_to_wandb:
        from omegaconf import OmegaConf

        loggers = _wandb_loggers(OmegaConf.to_container(run.config), default_out_dir(ckpt_path).parent)
        log_images(loggers, {f"explain/{k}": v for k, v in images.items()})
        for logger in loggers:
            _finish(logger)
    return summary


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ablab-explain",
        description="SHAP, Grad-CAM and attention maps of a trained hybrid classifier, rebuilt from its "
        "checkpoint alone, as PNG files in <run>/explain/ (and W&B images when the run logged to W&B). "
        "Background rows come from the run's training split, explained rows from its test split.",
    )
    parser.add_argument("checkpoint", type=Path, help="a .ckpt written by a hybrid run")
    parser.add_argument(
        "--n-samples",
        type=int,
        default=5,
        help="test rows with their own waterfall, Grad-CAM and attention plots (default 5)",
    )
    parser.add_argument("--out", type=Path, help="output folder (default: <run>/explain)")
    parser.add_argument(
        "--shap-samples",
        type=int,
        default=100,
        help="test rows for the SHAP summaries (default 100, or all of the test split)",
    )
    parser.add_argument(
        "--background", type=int, default=100, help="training rows as the SHAP background (default 100)"
    )
    parser.add_argument(
        "--nsamples", type=int, default=200, help="expected-gradient samples per explained row (default 200)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seeds the row choice and SHAP's sampling")
    parser.add_argument(
        "--gradcam-block",
        type=int,
        default=-1,
        help="CNN block for Grad-CAM, 0-based (default -1: the last; 0 gives the finest map)",
    )
    parser.add_argument(
        "--shap-explainer",
        choices=SHAP_EXPLAINERS,
        default="captum",
        help="captum's GradientShap (default) or shap's own GradientExplainer (the same expected "
        "gradients, slower)",
    )
    parser.add_argument("--no-wandb", action="store_true", help="do not send images to the run's W&B logger")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Console script: explanations into the run folder; user errors as one line, exit 2."""
    import matplotlib

    matplotlib.use("Agg")
    args = _parser().parse_args(argv)
    try:
        summary = explain_checkpoint(
            args.checkpoint,
            args.out,
            args.n_samples,
            args.shap_samples,
            args.background,
            args.nsamples,
            args.seed,
            args.gradcam_block,
            not args.no_wandb,
            args.shap_explainer,
        )
    except AblabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = args.out or default_out_dir(args.checkpoint)
    print(f"{len(summary['files'])} figures in {out}; SHAP ranking: {', '.join(summary['shap_ranking'][:5])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
