"""Adaptive seeding against fixed seeds on the shipped HNet study (`sweep=hnet`, 9 variants, two jobs
at a time): the runs, the wall time and the verdicts of `sweep.seeds=auto` (looks at 3, 5, 7, 9, 10
seeds) against fixed 3 and fixed 10 seeds, each design in its own folder so that nothing is reused.

At the study's own size (make sweep's: 9,000 training problems, 20 epochs) the three designs take
about an hour and a half on 2 cores. `ABLAB_BENCH_ADAPTIVE=reduced` runs them at 300 problems and 3
epochs (minutes), where the baseline is below its chord-rule floor: the costs and the agreement of
the designs are measured, the verdicts say nothing about HNet.

Targets: adaptive seeding spends no more runs than fixed 10 and reaches no verdict that contradicts
fixed 10's (better where fixed 10 says worse, or the reverse).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import QUIET, SMOKE, Result

ROOT = Path(__file__).resolve().parents[1]
REDUCED = ["data.train_per_case=100", "data.val_per_case=20", "data.test_per_case=20", "trainer.max_epochs=3"]
TINY = [*REDUCED, "data.train_per_case=20", "trainer.max_epochs=1", "ablation=hnet/baseline,hnet/no_fc"]
DESIGNS = {
    "fixed 3": ["seed=1,2,3"],
    "fixed 10": ["seed=range(1,11)"],
    "auto": ["sweep.seeds=auto"],
}
OPPOSITE = {"better": "worse", "worse": "better"}


def _size() -> list[str]:
    if SMOKE:
        return [*TINY, "sweep.seeds_max=3"]
    return REDUCED if os.environ.get("ABLAB_BENCH_ADAPTIVE") == "reduced" else []


def _study(log_dir: Path, design: list[str]) -> tuple[float, object]:
    """Run the study with `design` in `log_dir`; its wall time and its comparison."""
    from ablab.analysis.build import load_study

    command = [
        sys.executable,
        str(ROOT / "train.py"),
        "-m",
        "sweep=hnet",
        *QUIET,
        "logger=csv",
        *_size(),
        *design,
        f"paths.log_dir={log_dir}",
        f"paths.cache_dir={log_dir.parent / 'cache'}",  # the data set, generated once for all designs
    ]
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, capture_output=True, check=True)
    seconds = time.perf_counter() - started
    return seconds, load_study(log_dir / "hnet_ablation", warn=lambda _: None)


def _verdicts(comparison) -> dict[str, str]:
    table = comparison.table
    return dict(zip(table.loc[~table["is_baseline"], "variant"], table.loc[~table["is_baseline"], "verdict"]))


def run() -> list[Result]:
    from ablab.analysis.references import best

    outcomes = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, design in DESIGNS.items():
            seconds, comparison = _study(Path(tmp) / name.replace(" ", "_"), design)
            runs = int((comparison.runs["status"] == "completed").sum())
            base = comparison.table[comparison.table["is_baseline"]].iloc[0]
            floor = best(comparison.references, "floor", comparison.mode)
            shown = "-" if floor is None else f"{floor['value']:.4f}"
            outcomes[name] = (runs, seconds, _verdicts(comparison))
            print(f"  {name}: {runs} runs, {seconds:.0f} s; baseline {base['mean']:.4f} (best floor {shown})")
    variants = sorted(outcomes["fixed 10"][2])
    for variant in variants:
        print(
            f"    {variant:>16}: " + " | ".join(f"{n} {o[2].get(variant, '-')}" for n, o in outcomes.items())
        )
    auto_runs, auto_s, auto_verdicts = outcomes["auto"]
    ten_runs, ten_s, ten_verdicts = outcomes["fixed 10"]
    contradictions = sum(OPPOSITE.get(auto_verdicts.get(v, "")) == ten_verdicts[v] for v in variants)
    decided = sum(v in ("better", "worse", "equivalent") for v in auto_verdicts.values())
    print(f"  adaptive seeding decided {decided} of {len(variants)} comparisons")
    three_runs = outcomes["fixed 3"][0]
    return [
        Result(
            "adaptive seeding: runs against fixed 10",
            auto_runs,
            ten_runs,
            "<= fixed 10's",
            auto_runs <= ten_runs,
            "runs",
        ),
        Result(
            "adaptive seeding: wall time against fixed 10",
            auto_s,
            ten_s,
            "<= 1.05 x fixed 10's",
            auto_s <= 1.05 * ten_s,
        ),
        Result(
            "adaptive seeding: runs against fixed 3",
            auto_runs,
            three_runs,
            ">= fixed 3's (its first look)",
            auto_runs >= three_runs,
            "runs",
        ),
        Result(
            "adaptive seeding: verdicts contradicting fixed 10",
            contradictions,
            None,
            "0",
            contradictions == 0,
            "variants",
        ),
    ]
