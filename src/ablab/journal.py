"""A sweep's journal: one JSON line per job event, appended by the jobs (in any process or on any node
that sees the file system) and read by the sweep's summary at the end and by `ablab-status` any time."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

JOURNAL_ENV = "ABLAB_SWEEP_JOURNAL"


def append_event(event: dict[str, Any]) -> None:
    """Append `event` to the current sweep's journal, if a sweep is running; O_APPEND keeps lines whole.
    Each line carries its wall-clock `time`, from which `ablab-status` dates a study's runs later."""
    path = os.environ.get(JOURNAL_ENV)
    if not path:
        return
    line = (json.dumps({"time": round(time.time(), 3), **event}, sort_keys=True, default=str) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_events(path: Path) -> list[dict[str, Any]]:
    """All complete lines of a journal; a torn last line (a job killed mid-write) is ignored."""
    if not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events
