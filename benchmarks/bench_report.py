"""`ablab-report` speed: a full HNet-sized study (9 variants x 3 seeds, 12 epochs of curves), end to end
in a fresh process, and the heavy modules it must not import."""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.analysis.conftest import make_record, run_dir_of

from ablab.runs.records import RESULTS_FILE, write_json_atomic
from benchmarks.common import Result, size

VARIANTS = (
    "baseline",
    "no_attention",
    "mha_attention",
    "gru_layers_2",
    "gru_layers_3",
    "hidden_32",
    "hidden_64",
    "no_fc",
    "relu",
)
SEEDS = (1, 2, 3)
EPOCHS = size(12, 2)
HEAVY = ("torch", "lightning", "lightning_fabric", "wandb", "transformers")


def _write_study(root: Path) -> Path:
    for i, variant in enumerate(VARIANTS):
        for seed in SEEDS:
            value = 0.7 + 0.01 * i + 0.02 * ((seed * 7 + i * 3) % 5) / 5  # per-seed spread, not constant
            record = make_record(study="hnet_ablation", variant=variant, seed=seed, value=value)
            run_dir = run_dir_of(root, record)
            write_json_atomic(run_dir / RESULTS_FILE, record)
            rows = ["epoch,step,train/loss_epoch,val/f1_weighted,val/loss"]
            for epoch in range(EPOCHS):
                rows += [
                    f"{epoch},{epoch * 10 + 9},,{value * (epoch + 1) / EPOCHS:.4f},{2 - epoch / EPOCHS:.4f}",
                    f"{epoch},{epoch * 10 + 9},{2.1 - epoch / EPOCHS:.4f},,",
                ]
            (run_dir / "csv").mkdir()
            (run_dir / "csv" / "metrics.csv").write_text("\n".join(rows) + "\n")
    return root / "hnet_ablation"


def _report(study: Path, out: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *flags, "-m", "ablab.cli.report", str(study), "--out", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        study = _write_study(Path(tmp) / "logs")
        times, cpu = [], []
        for i in range(3):
            started, cpu_started = time.perf_counter(), _cpu_children()
            _report(study, Path(tmp) / f"out{i}")
            times.append(time.perf_counter() - started)
            cpu.append(_cpu_children() - cpu_started)
        python_started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        python_s = time.perf_counter() - python_started
        trace = _report(study, Path(tmp) / "trace", "-X", "importtime").stderr
    imported = {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in trace.splitlines()
        if line.startswith("import time:")
    }
    heavy = sorted(imported & set(HEAVY))
    wall, cpu_s = sorted(times)[1], sorted(cpu)[1]
    study_name = f"{len(VARIANTS)} variants x {len(SEEDS)} seeds"
    return [
        Result(
            f"ablab-report on {study_name}, fresh process, wall (median of 3)",
            wall,
            python_s,
            "< 8 s on 2 idle CPU cores",
            wall < 8.0,
        ),
        # CPU seconds do not grow when other jobs share the cores, unlike wall time.
        Result(f"ablab-report on {study_name}, CPU time (median of 3)", cpu_s, None, "< 5 s", cpu_s < 5.0),
        Result(
            f"heavy modules imported by the report ({', '.join(heavy) or 'none'})",
            len(heavy),
            None,
            "0",
            not heavy,
            unit="modules",
        ),
    ]
