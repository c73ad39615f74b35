"""Log an ablation report to W&B: its tables as `wandb.Table`s and its plots as `wandb.Image`s, in a
run of job_type `report` in the study's group, so the report sits beside the study's runs. Offline by
default, like the runs (`make sync` uploads it). Imports wandb only when called."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from omegaconf import OmegaConf

from ablab.errors import ConfigError
from ablab.lightning.loggers.wandb_setup import use_local_dirs, wait_for_run_file, wandb_mode
from ablab.secrets import redact

if TYPE_CHECKING:
    import pandas as pd

HYDRA_DIR = ".hydra"


class ReportLike(Protocol):
    """What a report hands over (`ablab.analysis.build.Report` is one)."""

    study: str
    report_dir: Path
    tables: Mapping[str, pd.DataFrame]
    plots: list[Path]


def _saved_config(run_dir: Path) -> Any:
    """A run's saved config with the `${hydra:...}` paths filled in from its saved hydra.yaml, so that
    paths such as `logger.wandb.cache_dir` resolve outside Hydra."""
    cfg = OmegaConf.load(run_dir / HYDRA_DIR / "config.yaml")
    hydra_yaml = run_dir / HYDRA_DIR / "hydra.yaml"
    if hydra_yaml.exists():
        runtime = OmegaConf.load(hydra_yaml).hydra.runtime
        for key, value in (("paths.root_dir", runtime.cwd), ("paths.output_dir", runtime.output_dir)):
            if OmegaConf.select(cfg, key, default=None, throw_on_resolution_failure=False) is None:
                OmegaConf.update(cfg, key, value, force_add=True)
    return cfg


def wandb_settings_of_runs(run_dirs: Iterable[Path | str]) -> dict[str, Any] | None:
    """The W&B project, entity, offline flag and cache folder the runs logged with (from their saved
    `.hydra/` configs), or None when none of them used the wandb logger."""
    for run_dir in run_dirs:
        try:
            cfg = _saved_config(Path(run_dir))
            wandb = OmegaConf.select(cfg, "logger.wandb", default=None)
        except Exception:  # no saved config, or an unreadable one: look at the next run
            continue
        if wandb is None:
            continue
        settings: dict[str, Any] = {"project": "ablab", "entity": None, "offline": True, "cache_dir": None}
        for key in settings:
            try:
                settings[key] = OmegaConf.select(wandb, key, default=settings[key])
            except Exception:  # an interpolation that only resolves inside Hydra: keep the default
                continue
        return settings
    return None


def report_to_wandb(report: ReportLike, always: bool = False) -> Path | None:
    """Log `report` to W&B with the settings its runs used (`ablab-report --wandb`); without `always`,
    only when they used the wandb logger. Returns the W&B run folder, or None when nothing was logged."""
    runs = getattr(getattr(report, "comparison", None), "runs", None)
    paths = list(runs["path"]) if runs is not None and "path" in runs else []
    settings = wandb_settings_of_runs(paths)
    if settings is None and not always:
        return None
    try:
        return log_report_to_wandb(report, **(settings or {}))
    except Exception as exc:
        raise ConfigError(
            f"logging the {report.study} report to W&B failed ({type(exc).__name__}: {exc}); the report "
            "files are written: run `wandb login` for online mode, or pass --no-wandb"
        ) from exc


def _table(frame: pd.DataFrame) -> Any:
    import wandb

    frame = frame.reset_index() if any(n is not None for n in frame.index.names) else frame
    frame = frame.rename(columns=lambda c: "/".join(map(str, c)) if isinstance(c, tuple) else str(c))
    return wandb.Table(dataframe=frame, allow_mixed_types=True)


def log_report_to_wandb(
    report: ReportLike,
    *,
    project: str = "ablab",
    entity: str | None = None,
    offline: bool = True,
    save_dir: Path | str | None = None,
    cache_dir: Path | str | None = None,
) -> Path | None:
    """Log `report` in a new W&B run (group = the study, job_type `report`, name `<study>-report`) and
    end it; return its local run folder (`<save_dir>/wandb/offline-run-*` when offline). `save_dir`
    defaults to the report folder, `cache_dir` to `.cache/wandb` in the working folder; `WANDB_MODE`
    in the environment wins over `offline`."""
    import wandb

    save_dir = Path(save_dir or report.report_dir).resolve()
    save_dir.mkdir(parents=True, exist_ok=True)
    use_local_dirs(Path(cache_dir) if cache_dir is not None else Path.cwd() / ".cache" / "wandb")
    mode = wandb_mode(offline)
    run = wandb.init(
        project=project,
        entity=entity,
        group=report.study,
        job_type="report",
        name=f"{report.study}-report",
        dir=str(save_dir),
        mode=mode,
        # Offline, W&B's banner and sync hints say nothing the report's own "W&B: <folder>" line does not.
        settings=wandb.Settings(silent=mode == "offline"),
        config=redact(
            {
                "study": report.study,
                "report_dir": str(report.report_dir),
                "tables": sorted(report.tables),
                "plots": [p.name for p in report.plots],
            }
        ),
        reinit="create_new",
    )
    try:
        logged: dict[str, Any] = {f"report/{name}": _table(frame) for name, frame in report.tables.items()}
        logged.update(
            {f"plots/{Path(p).stem}": wandb.Image(str(p), caption=Path(p).stem) for p in report.plots}
        )
        run.log(logged)
    except BaseException:
        run.finish(exit_code=1)
        raise
    run.finish()
    wait_for_run_file(run)
    return Path(run.settings.sync_dir) if run.settings.mode != "disabled" else None
