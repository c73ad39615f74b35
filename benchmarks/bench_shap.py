"""SHAP speed: the default hybrid model (`experiment=hybrid`, wine) explained on 100 rows against a
100-row training background (200 expected-gradient samples per row) with 2 torch threads. Target:
under 60 s on 2 CPU cores. Baseline: shap's own GradientExplainer (same estimator, a Python loop per
row, draw and class), timed on 20 rows and scaled to 100. CPU time is reported beside wall time, since
the cores may be shared."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import Result, size

ROOT = Path(__file__).resolve().parents[1]
ROWS, BACKGROUND, NSAMPLES, THREADS, TARGET_S = 100, size(100, 10), size(200, 5), 2, 60.0
REFERENCE_ROWS = size(20, 2)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _inputs() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """The default model (seeded init) and standardised wine rows: background from the training split,
    the explained rows drawn from the whole table (wine's test split has only 36)."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=hybrid"])
    torch.manual_seed(0)
    model = instantiate(cfg.model).eval()
    data = instantiate(cfg.data)
    rng = np.random.default_rng(0)
    train, _ = data.arrays("train")

    def scaled(rows: np.ndarray) -> torch.Tensor:
        return torch.from_numpy((rows - data.feature_mean) / data.feature_std)

    background = scaled(train[rng.choice(len(train), BACKGROUND, replace=False)])
    explained = scaled(data.table.features[rng.choice(len(data.table.features), ROWS, replace=False)])
    return model, background, explained


def _timed(fn) -> tuple[float, float]:
    """Wall and CPU seconds of one call."""
    cpu, started = _cpu_seconds(), time.perf_counter()
    fn()
    return time.perf_counter() - started, _cpu_seconds() - cpu


def run() -> list[Result]:
    from ablab.families.hybrid.explain.shap_values import shap_values, shap_values_reference

    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        model, background, explained = _inputs()
        shap_values_reference(model, background[:10], explained[:2], nsamples=10)  # imports, warm-up
        wall, cpu = _timed(lambda: shap_values(model, background, explained, nsamples=NSAMPLES, seed=0))
        ref_wall, ref_cpu = _timed(
            lambda: shap_values_reference(
                model, background, explained[:REFERENCE_ROWS], nsamples=NSAMPLES, seed=0
            )
        )
    finally:
        torch.set_num_threads(threads)
    scale = ROWS / REFERENCE_ROWS
    target = (
        f"< {TARGET_S:.0f} s on {THREADS} cores ({ROWS} rows, {BACKGROUND} background, {NSAMPLES} samples)"
    )
    return [
        Result("shap_default_hybrid_wall", wall, ref_wall * scale, target, wall < TARGET_S),
        Result(
            "shap_default_hybrid_cpu", cpu, ref_cpu * scale, f"CPU time; {target}", cpu < THREADS * TARGET_S
        ),
    ]
