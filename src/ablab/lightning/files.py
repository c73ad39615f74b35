"""Files written whole or not at all: a reader (another job, the report, a resumed run) never sees half
of one, and a crash leaves the earlier version in place."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_file(path: Path, mode: str = "w", suffix: str = ".tmp", **open_args: object) -> Iterator[IO]:
    """A handle on a temporary file beside `path`; on leaving the block it is synced and renamed over
    `path`, on an error it is removed. Readable by all, like the run's other outputs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    try:
        with os.fdopen(fd, mode, **open_args) as handle:  # type: ignore[call-overload]
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
