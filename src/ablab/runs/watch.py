"""The launching terminal of a study: one line per finished run, a progress bar with an ETA, and what a
SLURM queue is waiting for.

Reads the sweep journal, which every job appends to wherever it runs (in-process, joblib workers,
SLURM nodes that share the file system), so the same lines appear under every launcher. Runs in a
thread of the launching process and writes to a copy of its stderr taken before any job started:
a job of the basic launcher redirects the process's own stderr into its train.log meanwhile.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ablab.lightning.console import display_path
from ablab.runs.records import ENDS, Outcome
from ablab.runs.scheduler import pending_reasons

OUTCOMES = ENDS
POLL_S = 0.5
# Skipped runs that arrive together are one line: a re-run of a finished study stays short.
SKIP_GROUP_S = 2.0
SLURM_CHECK_S = 15.0
REASON_WIDTH = 120


def duration(seconds: float) -> str:
    """`0.4 s`, `41 s`, `6.5 min`, `2.1 h`."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 100:
        return f"{seconds:.0f} s"
    if seconds < 6000:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def run_label(event: dict[str, Any]) -> str:
    """`hnet/relu seed 2`, from a journal event of a job."""
    variant = event.get("variant")
    if variant is None:
        return display_path(event.get("run_dir", "?"))
    family = event.get("family")
    label = f"{family}/{variant}" if family else str(variant)
    return f"{label} seed {event['seed']}" if event.get("seed") is not None else label


def first_line(text: str | None) -> str:
    """The first line of a reason, cut to the width of one terminal line."""
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= REASON_WIDTH else line[: REASON_WIDTH - 1] + "…"


def run_line(event: dict[str, Any]) -> str:
    """What one finished run says: its outcome, its metric and how long it took."""
    parts = [run_label(event), f" {event['outcome']}"]
    if event["outcome"] == Outcome.COMPLETED and event.get("metric") and event.get("value") is not None:
        parts.append(f" {event['metric']} {event['value']:.4g}")
    elif event["outcome"] in (Outcome.FAILED, Outcome.DIVERGED, Outcome.OOM):
        parts.append(f" {first_line(event.get('reason'))}")
    elif event["outcome"] == Outcome.PRUNED and isinstance(event.get("pruned"), dict):
        pruned = event["pruned"]
        shown = f" {pruned['metric']} {pruned['value']:.4g}" if pruned.get("value") is not None else ""
        parts.append(f" after epoch {pruned['epochs']}{shown}")
    if event.get("wall_time_s") is not None:
        parts.append(f" ({duration(float(event['wall_time_s']))})")
    return " ".join(parts)


def eta_seconds(left: int, durations: list[float], at_once: int) -> float | None:
    """Seconds until `left` more runs finish: the mean duration of the runs that trained so far, for
    as many at a time as ran at once. None before any run has trained."""
    if not durations:
        return None
    return max(0.0, left * (sum(durations) / len(durations)) / max(1, at_once))


@dataclass
class Progress:
    """Counts of a study folded from its journal events, and its ETA from the runs that trained. The
    study's terminal folds events as they arrive; `ablab-status` folds a whole journal afterwards."""

    total: int | None
    done: int = 0
    trained: int = 0
    running: set[str] = field(default_factory=set)
    durations: list[float] = field(default_factory=list)
    peak_running: int = 0

    def apply(self, event: dict[str, Any]) -> str | None:
        """Fold in one journal event; return its outcome when it started or ended a run."""
        outcome = event.get("outcome")
        run_dir = str(event.get("run_dir", ""))
        if outcome == Outcome.STARTED:
            self.running.add(run_dir)
            self.peak_running = max(self.peak_running, len(self.running))
            return outcome
        if outcome not in OUTCOMES:
            return None
        self.running.discard(run_dir)
        self.done += 1
        if outcome != Outcome.SKIPPED:
            self.trained += 1
            if isinstance(event.get("wall_time_s"), int | float):
                self.durations.append(float(event["wall_time_s"]))
        return outcome

    def eta_s(self, left: int | None = None) -> float | None:
        """Seconds left: the `left` runs still to finish (default: all not done of `total`)."""
        if left is None:
            if self.total is None:
                return None
            left = self.total - self.done
        return eta_seconds(left, self.durations, self.peak_running)

    def status(self) -> str:
        count = f"{self.done}/{self.total}" if self.total else str(self.done)
        eta = self.eta_s()
        text = f"{count} done, {len(self.running)} running"
        return f"{text}, ETA {duration(eta)}" if eta is not None and self.done < (self.total or 0) else text


class StudyWatch:
    """Tails a sweep journal in a thread and prints the study's progress to `terminal`."""

    def __init__(self, journal: Path, terminal: TextIO, total: int | None) -> None:
        self.journal = journal
        self.terminal = terminal
        self.progress = Progress(total=total)
        self._offset = 0
        self._rest = b""
        self._skipped: list[dict[str, Any]] = []
        self._last_skip = 0.0
        self._notes: set[str] = set()
        self._slurm_jobs: dict[str, float] = {}
        self._slurm_said: str | None = None
        self._slurm_checked = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ablab-study-watch", daemon=True)
        self._bar: Any = None
        self._lock = threading.Lock()

    def start(self) -> None:
        self._start_bar()
        self._thread.start()

    def stop(self) -> None:
        """Print what is left in the journal and end the bar."""
        self._stop.set()
        self._thread.join(timeout=10)
        with self._lock:
            self._read()
            self._flush_skipped()
            if self._bar is not None:
                self._bar.stop()
                self._bar = None

    def _loop(self) -> None:
        while not self._stop.wait(POLL_S):
            with self._lock:
                try:
                    self._read()
                    if self._skipped and time.monotonic() - self._last_skip > SKIP_GROUP_S:
                        self._flush_skipped()
                    self._check_slurm()
                    self._refresh_bar()
                except Exception as exc:  # the study goes on whatever the display does
                    self._say(f"warning: progress display: {exc}")

    def _read(self) -> None:
        try:
            with open(self.journal, "rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except OSError:
            return
        self._offset += len(chunk)
        data = self._rest + chunk
        *lines, self._rest = data.split(b"\n")
        for line in lines:
            try:
                self._on_event(json.loads(line))
            except (ValueError, KeyError, TypeError):
                continue

    def _on_event(self, event: dict[str, Any]) -> None:
        if event.get("event") == "note":
            message = str(event.get("message", ""))
            if message not in self._notes:
                self._notes.add(message)
                self._flush_skipped()
                self._say(f"  {message}")
            return
        if event.get("event") == "submitted":
            for job_id in event.get("job_ids", []):
                self._slurm_jobs.setdefault(str(job_id), time.monotonic())
            return
        outcome = self.progress.apply(event)
        if outcome == Outcome.STARTED:
            if event.get("job_id"):
                self._slurm_jobs.pop(str(event["job_id"]), None)
            return
        if outcome is None:
            return
        if outcome == Outcome.SKIPPED:
            self._skipped.append(event)
            self._last_skip = time.monotonic()
            return
        self._flush_skipped()
        self._say(f"{self._count()} {run_line(event)}{self._eta_suffix()}")

    def _count(self, first: int | None = None) -> str:
        total = self.progress.total
        done = self.progress.done if first is None else f"{first}-{self.progress.done}"
        return f"[{done}/{total}]" if total else f"[{done}]"

    def _eta_suffix(self) -> str:
        if self._bar is not None:
            return ""  # the bar shows it
        eta = self.progress.eta_s()
        return f" · ETA {duration(eta)}" if eta is not None and eta > 0 else ""

    def _flush_skipped(self) -> None:
        if not self._skipped:
            return
        skipped, self._skipped = self._skipped, []
        if len(skipped) == 1:
            self._say(f"{self._count()} {run_line(skipped[0])} (completed earlier)")
            return
        first = self.progress.done - len(skipped) + 1
        self._say(f"{self._count(first)} {len(skipped)} runs skipped (completed earlier)")

    def _say(self, line: str) -> None:
        if self._bar is not None:
            self._bar.console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            self.terminal.write(line + "\n")
            self.terminal.flush()

    def _start_bar(self) -> None:
        """A live bar only on a terminal; a log (CI, `| tee`) gets the ETA on each run's line."""
        if not self.terminal.isatty():
            return
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn

        console = Console(file=self.terminal)
        self._bar = Progress(
            TextColumn("[bold]study"),
            BarColumn(),
            TextColumn("{task.description}"),
            console=console,
            transient=True,
        )
        self._task = self._bar.add_task(self.progress.status(), total=self.progress.total)
        self._bar.start()

    def _refresh_bar(self) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=self.progress.done, description=self.progress.status())

    def _check_slurm(self) -> None:
        """Within a minute of submitting, say why SLURM jobs that have not started are waiting."""
        now = time.monotonic()
        waiting = [j for j, since in self._slurm_jobs.items() if now - since >= SLURM_CHECK_S]
        if not waiting or now - self._slurm_checked < SLURM_CHECK_S:
            return
        self._slurm_checked = now
        reasons = pending_reasons(waiting)
        if not reasons:
            return
        text = ", ".join(f"{n} pending ({reason})" for reason, n in sorted(reasons.items()))
        if text != self._slurm_said:
            self._slurm_said = text
            self._say(f"  slurm: {text}; `squeue -j {','.join(waiting)}` for details")
