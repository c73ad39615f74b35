"""The ask/tell loop of a search, run by the sweeper in the launching process: ask `n_jobs` trials,
launch them as one batch through whichever Hydra launcher is configured, tell each its run's result,
until `n_trials` more trials have run. Each trial is an ordinary run (its own folder and record); a
trial whose config ran before is skipped by the runner and its recorded result told again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ablab.errors import ConfigError
from ablab.search.choices import is_grid, pruner_config, sampler_config
from ablab.search.objectives import directions_of, objectives_of, values_of
from ablab.search.results import write_results
from ablab.search.space import SearchSpace, parse_space, trial_overrides
from ablab.search.storage import open_storage, shown, storage_spec


@dataclass
class Settings:
    """`hydra.sweeper` as the sweeper got it (conf/hydra/sweeper/optuna.yaml documents each field)."""

    study_name: str
    storage: str | None = None
    objectives: list[str] | None = None
    directions: list[str] | None = None
    n_trials: int = 20
    n_jobs: int = 1
    sampler: Any = "tpe"
    seed: int | None = None
    n_startup_trials: int | None = None
    pruner: Any = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def sampler_config(self) -> dict[str, Any]:
        return sampler_config(self.sampler, self.seed, self.n_startup_trials)

    @classmethod
    def from_config(cls, node: dict[str, Any]) -> Settings:
        def plain(value: Any) -> Any:
            return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value

        known = {k: plain(node.get(k)) for k in cls.__dataclass_fields__ if node.get(k) is not None}
        settings = cls(**known)
        for name in ("n_trials", "n_jobs"):
            value = getattr(settings, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"hydra.sweeper.{name}={value!r} is invalid: must be a positive integer")
        return settings


def _existing_trials(storage: Any, name: str) -> int:
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return 0
    return len(storage.get_all_trials(study_id, deepcopy=False))


def _sampler(config: dict[str, Any], space: SearchSpace, done: int) -> Any:
    """The configured sampler, its seed moved on by the trials the study already has: a seeded
    sampler restarts its random stream in every process, so a continued study would otherwise propose
    its first (random start-up) trials again. Still so on Optuna 5: its samplers keep a per-process
    random state seeded once, and `reseed_rng()` draws an unseeded one."""
    from hydra.utils import instantiate

    config = dict(config)
    if config.get("seed") is not None:
        config["seed"] = int(config["seed"]) + done
    if is_grid(config):
        config["search_space"] = space.grid()
    return instantiate(config)


def open_study(settings: Settings, space: SearchSpace, keys: list[str], directions: list[str], spec: str):
    """Create or continue the study; refuse one that optimises something else."""
    import optuna
    from hydra.utils import instantiate

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the study's terminal says what matters
    storage = open_storage(spec)
    done = _existing_trials(storage, settings.study_name)
    pruner = pruner_config(settings.pruner)
    study = optuna.create_study(
        study_name=settings.study_name,
        storage=storage,
        directions=directions,
        sampler=_sampler(settings.sampler_config, space, done),
        pruner=instantiate(pruner) if pruner else optuna.pruners.NopPruner(),
        load_if_exists=True,
    )
    stored = [d.name.lower() for d in study.directions]
    if stored != directions:
        raise ConfigError(
            f"study {settings.study_name!r} in {shown(spec)} optimises {stored}, this search asks {directions} "
            f"({', '.join(keys)}): give it another name (study=...) or storage (hydra.sweeper.storage=...)"
        )
    return study, done


def job_result(job_return: Any) -> tuple[dict[str, Any] | None, str | None]:
    """The run's result a job returned, or why there is none."""
    try:
        value = job_return.return_value
    except Exception as exc:  # the task function raised: Hydra keeps the exception
        return None, f"{type(exc).__name__}: {exc}"
    if not isinstance(value, dict):
        return None, "the job ended without a record (killed?)"
    return value, None


def tell(study: Any, trial: Any, job_return: Any, keys: list[str]) -> str:
    """Tell the study how the trial's run ended; returns the trial's state."""
    import optuna

    from ablab.runs.records import Status

    result, reason = job_result(job_return)
    status = (result or {}).get("status")
    for name, value in (("run_dir", (result or {}).get("run_dir")), ("status", status)):
        if value is not None:
            trial.set_user_attr(name, str(value))
    state, values = optuna.trial.TrialState.FAIL, None
    if status == Status.COMPLETED:
        values, reason = values_of(result, keys)
        if values is not None:
            state = optuna.trial.TrialState.COMPLETE
    elif status == Status.PRUNED:
        state = optuna.trial.TrialState.PRUNED
    else:
        reason = reason or ((result or {}).get("error") or {}).get("message") or str(status)
    if reason and state == optuna.trial.TrialState.FAIL:
        trial.set_user_attr("fail_reason", str(reason)[:500])
    try:
        study.tell(trial, values=values, state=state)
    except RuntimeError as exc:  # the grid sampler asks the study to stop once its grid is done
        if "Study.stop" not in str(exc):
            raise
    return state.name


def run_search(node: dict[str, Any], config: DictConfig, launcher: Any, arguments: list[str]) -> None:
    """Run `n_trials` more trials of the study, `n_jobs` at a time."""
    settings = Settings.from_config(node)
    sweep_dir = Path(str(config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    space = parse_space(settings.params, arguments)
    keys = objectives_of(settings.objectives, str(config.metric.name))
    directions = directions_of(keys, settings.directions, str(config.metric.name), str(config.metric.mode))
    if pruner_config(settings.pruner) and len(keys) > 1:
        raise ConfigError(
            f"hydra.sweeper.pruner: Optuna prunes single-objective searches only, and this one has "
            f"{len(keys)} objectives ({', '.join(keys)}): drop the pruner (hydra.sweeper.pruner=null)"
        )
    spec = storage_spec(settings.storage, sweep_dir)
    study, done = open_study(settings, space, keys, directions, spec)
    remaining = settings.n_trials
    if is_grid(settings.sampler_config):
        remaining = min(remaining, max(0, space.grid_size() - done))
    job_idx = 0
    while remaining > 0:
        trials = [study.ask(space.distributions) for _ in range(min(settings.n_jobs, remaining))]
        jobs = [[*trial_overrides(space, t.params), f"hydra.sweeper.trial={t.number}"] for t in trials]
        returns = launcher.launch(jobs, initial_job_idx=job_idx)
        job_idx += len(returns)
        remaining -= len(trials)
        for trial, job_return in zip(trials, returns):
            tell(study, trial, job_return, keys)
        write_results(sweep_dir, study, keys, directions, space, spec)
    # Through the journal, so the study's terminal prints them after the last run's line.
    from ablab.journal import append_event

    for line in write_results(sweep_dir, study, keys, directions, space, spec):
        append_event({"event": "note", "message": line})
