"""Where a run's output goes: a study's terminal shows one line per run, each run's folder keeps all of it.

Inside a multirun, a job that trains sends everything it prints (Python, C libraries, Lightning, the
rich progress bar) to `<run>/train.log` by redirecting the process's stdout and stderr file
descriptors, so that the same holds in-process (basic launcher), in joblib workers and in SLURM jobs.
What the researcher should see in the launching terminal travels through the sweep journal as events
(`ablab.runs.watch` prints them); a single run prints to its terminal as usual and keeps its log lines
in train.log too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

from ablab.lightning.console import _REDIRECTED, announce, in_sweep, redirected

__all__ = ["announce", "in_sweep", "redirected", "route_library_logs", "run_output"]

LOG_FILE = "train.log"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Lightning's own notices that say nothing about this run: an advert and a deprecation inside Lightning.
_NOISE = ("litlogger", "isinstance(treespec, LeafSpec)")


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in _NOISE)


def route_library_logs() -> None:
    """Lightning adds its own stderr handler at import while Hydra's handler gets the same records
    through the root logger: every line appeared twice. Keep one path (the root's) and drop Lightning's
    advert and internal deprecation notices. Call after `import lightning`."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if type(handler) is logging.StreamHandler:
                logger.removeHandler(handler)
        logger.propagate = True
    noise = _DropNoise()
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _DropNoise) for f in handler.filters):
            handler.addFilter(noise)
    for text in _NOISE:
        warnings.filterwarnings("ignore", message=f".*{text.replace('(', '[(]').replace(')', '[)]')}.*")


@contextlib.contextmanager
def run_output(run_dir: Path, redirect: bool) -> Iterator[Path]:
    """While the run trains, append its log lines to `<run>/train.log`; with `redirect` (a job of a
    sweep) everything the process writes to stdout and stderr goes there instead of the terminal."""
    from ablab.runs.job_files import JobLogFile

    path = run_dir / LOG_FILE
    if redirect:
        with _redirected(path):
            yield path
        return
    handler = JobLogFile(str(path), encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter(LOG_FORMAT, datefmt="%Y-%m-%d %H:%M:%S"))
    handler.addFilter(_DropNoise())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        handler.close()


def _flush_or_drop() -> None:
    """Flush what Python still buffers for the log; what a full disk refused is dropped (written to
    /dev/null), not left in the buffer to reach the terminal once stdout and stderr point back there."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
    finally:
        os.close(devnull)


@contextlib.contextmanager
def _redirected(path: Path) -> Iterator[None]:
    """stdout and stderr (file descriptors 1 and 2, and Python's objects on them) into `path`."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError:  # a folder that cannot take the log: the run fails or completes on its own terms
        yield
        return
    saved = os.dup(1), os.dup(2)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        _REDIRECTED["now"] = True
        yield
    finally:
        _REDIRECTED["now"] = False
        _flush_or_drop()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for handle in (fd, *saved):
            os.close(handle)
