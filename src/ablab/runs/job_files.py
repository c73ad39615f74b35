"""What Hydra itself would write into run and sweep folders, written by ablab instead: only for a run
that actually runs, and with secrets redacted.

Hydra saves `.hydra/{config,hydra,overrides}.yaml` and opens the job's log file before any job code
runs, and its launcher logs the next job's overrides into the previous job's log. So a skipped or busy
run had its `.hydra/` rewritten (a re-run under another logger made it disagree with the record) and
its log appended to, and every one of those files held secrets typed as overrides. conf/hydra sets
`hydra.output_subdir: null` and a delayed log file; `write_hydra_files` writes the same three files
once `ablab.runs.execute` has decided to run, and the `JobFiles` callback keeps the rest in line.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from ablab.secrets import redact, redact_argv, redact_logging, register_config_secrets

HYDRA_DIR = ".hydra"
MULTIRUN_FILE = "multirun.yaml"


def _write_text(path: Path, text: str) -> None:
    from ablab.lightning.files import atomic_file

    with atomic_file(path, encoding="utf-8") as handle:
        handle.write(text)


def _yaml(container: Any) -> str:
    return OmegaConf.to_yaml(OmegaConf.create(redact(container)))


def write_hydra_files(run_dir: Path, cfg: DictConfig) -> None:
    """`.hydra/config.yaml` (the job's config, unresolved), `hydra.yaml` and `overrides.yaml`, as Hydra
    writes them, secrets redacted. Outside Hydra (tests calling `run` directly) there is nothing to
    write."""
    from ablab.runs.context import hydra_context

    hydra = hydra_context().node
    if hydra is None:
        return
    folder = run_dir / HYDRA_DIR
    _write_text(folder / "config.yaml", _yaml(OmegaConf.to_container(cfg, resolve=False)))
    _write_text(folder / "hydra.yaml", _yaml({"hydra": OmegaConf.to_container(hydra, resolve=False)}))
    _write_text(folder / "overrides.yaml", _yaml(OmegaConf.to_container(hydra.overrides.task)))


def _redact_multirun_file(sweep_dir: Path) -> None:
    """Hydra's basic sweeper saves the whole config, overrides included, as `<sweep>/multirun.yaml`."""
    path = sweep_dir / MULTIRUN_FILE
    if not path.is_file():
        return
    container = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    redacted = redact(container)
    if redacted is not container:
        _write_text(path, OmegaConf.to_yaml(OmegaConf.create(redacted)))


class JobLogFile(logging.FileHandler):
    """The job's log file (`hydra.job_logging.handlers.file`), opened at its first line; a line it
    cannot write (a full disk, a read-only folder) costs one warning for the whole job instead of a
    traceback per line: the record and the sweep summary say what went wrong."""

    def __init__(
        self, filename: str, mode: str = "a", encoding: str | None = None, delay: bool = True
    ) -> None:
        super().__init__(filename, mode, encoding, delay)
        self._warned = False

    def handleError(self, record: logging.LogRecord) -> None:
        if not self._warned:
            self._warned = True
            error = sys.exc_info()[1]
            reason = getattr(error, "strerror", None) or error
            print(
                f"warning: cannot write the log {self.baseFilename} ({reason}); its lines are lost",
                file=sys.stderr,
            )


def _close_log_files_under(folder: Path) -> None:
    """Detach and close logging's file handlers writing under `folder`: after its job ends, nothing
    (such as the launcher's line about the next job) goes into that run's log."""
    loggers = [logging.getLogger(), *(v for v in logging.Logger.manager.loggerDict.values())]
    for logger in loggers:
        for handler in list(getattr(logger, "handlers", [])):
            if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename).is_relative_to(folder):
                logger.removeHandler(handler)
                handler.close()


def _protect(config: DictConfig) -> None:
    register_config_secrets(config)
    redact_logging()
    redact_argv()


class JobFiles(Callback):
    """Hydra callback: secrets out of logs, the command line and `multirun.yaml`; a sweep folder that
    cannot be written stops the sweep with one line; a finished job's log file is closed."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _protect(config)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _protect(config)
        sweep_dir = Path(str(config.hydra.sweep.dir))
        try:
            sweep_dir.mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=sweep_dir).close()
        except OSError as exc:
            print(
                f"error: cannot write to the sweep folder {sweep_dir} ({exc.strerror}): no run started; "
                "make it writable or set paths.log_dir to a writable folder",
                file=sys.stderr,
            )
            raise SystemExit(1) from None

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        _protect(config)
        from ablab.runs.context import hydra_context

        if hydra_context().multirun:
            # A read-only or full sweep folder: the sweep's end tries again.
            with contextlib.suppress(OSError):
                _redact_multirun_file(Path(str(config.hydra.sweep.dir)))

    def on_job_end(self, config: DictConfig, **kwargs: Any) -> None:
        _close_log_files_under(Path(str(config.hydra.runtime.output_dir)))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            _redact_multirun_file(Path(str(config.hydra.sweep.dir)))
        except OSError as exc:
            print(f"warning: could not redact {MULTIRUN_FILE} ({exc.strerror})", file=sys.stderr)
