"""What a search leaves in its study folder besides the runs, rewritten after every batch:

- `search.json`: the study's name, storage (password hidden), objectives, directions and search
  space (Optuna's distribution JSON), which the report reads for its search plots;
- `optimization_results.yaml`: the best trial (single objective) or the Pareto front (several), with
  each trial's parameters and values.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from ablab.search.space import SearchSpace
from ablab.search.storage import shown

SEARCH_FILE = "search.json"
RESULTS_FILE = "optimization_results.yaml"


def _params(trial: Any) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items())


def write_results(
    sweep_dir: Path, study: Any, keys: list[str], directions: list[str], space: SearchSpace, spec: str
) -> list[str]:
    """Write both files; return the lines that tell the user how the search stands."""
    import optuna
    import yaml

    from ablab.lightning.files import atomic_file
    from ablab.runs.records import write_json_atomic

    trials = study.get_trials(deepcopy=False)
    states = Counter(t.state.name.lower() for t in trials)
    write_json_atomic(
        sweep_dir / SEARCH_FILE,
        {
            "study": study.study_name,
            "storage": shown(spec),
            "objectives": keys,
            "directions": directions,
            "space": {
                k: optuna.distributions.distribution_to_json(d) for k, d in space.distributions.items()
            },
            "sampler": type(study.sampler).__name__,
            "pruner": type(study.pruner).__name__,
            "states": dict(states),
        },
    )
    counted = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    results: dict[str, Any] = {
        "name": study.study_name,
        "storage": shown(spec),
        "objectives": keys,
        "directions": directions,
        "n_trials": len(trials),
        "states": dict(states),
    }
    lines = [f"search {study.study_name}: {len(trials)} trials ({counted}) in {shown(spec)}"]
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if complete and len(keys) == 1:
        best = study.best_trial
        results.update(best_trial=best.number, best_params=dict(best.params), best_value=best.value)
        lines.append(f"  best: trial {best.number}, {keys[0]} {best.value:.4g} ({_params(best)})")
    elif complete:
        front = sorted(study.best_trials, key=lambda t: t.values)
        results["best_trials"] = [
            {"number": t.number, "params": dict(t.params), "values": dict(zip(keys, t.values))} for t in front
        ]
        lines.append(
            f"  Pareto front ({' vs '.join(keys)}): {len(front)} of {len(complete)} completed trials"
        )
        lines += [
            f"    trial {t.number}: {', '.join(f'{k} {v:.4g}' for k, v in zip(keys, t.values))} ({_params(t)})"
            for t in front
        ]
    with atomic_file(sweep_dir / RESULTS_FILE) as handle:
        yaml.safe_dump(results, handle, sort_keys=False)
    return lines
