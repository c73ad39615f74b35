"""What SLURM says of a study's jobs: `squeue` for those still queued or running, `sacct` for those
that ended. The study's terminal asks why jobs wait, the SLURM launcher asks which runs are still
queued or running before it submits a study again, and `ablab-status` shows each job's state.

Standard library only; a machine without SLURM simply has no states (or, asked `strict`, says so).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

# Job states in which a job still holds (or waits for) a slot: its run must not be submitted again.
ALIVE = frozenset(
    {
        "PENDING",
        "RUNNING",
        "REQUEUED",
        "REQUEUE_HOLD",
        "REQUEUE_FED",
        "CONFIGURING",
        "COMPLETING",
        "SUSPENDED",
        "RESIZING",
        "SIGNALING",
        "STAGE_OUT",
    }
)
QUEUED = frozenset({"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING"})
TIMEOUT_S = 30


class SchedulerUnavailable(RuntimeError):
    """squeue or sacct could not be asked (not installed, no controller, an error)."""


@dataclass(frozen=True)
class JobState:
    """One job's (or array task's) state as SLURM names it, and why it waits when it does."""

    state: str
    reason: str = ""

    @property
    def alive(self) -> bool:
        """Queued or running: the job will still start or finish its run."""
        return self.state in ALIVE

    @property
    def queued(self) -> bool:
        return self.state in QUEUED


def _ask(command: list[str]) -> str:
    try:
        proc = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            env=os.environ,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise SchedulerUnavailable(f"`{' '.join(command[:2])}` could not run: {exc}") from exc
    if proc.returncode != 0:
        message = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        raise SchedulerUnavailable(f"`{' '.join(command[:2])}` failed: {message}")
    return proc.stdout


def _queue() -> dict[str, JobState]:
    """This user's jobs in the queue, one line per array task (`-r`)."""
    states = {}
    for line in _ask(["squeue", "--me", "-h", "-r", "-o", "%i|%T|%r"]).splitlines():
        job_id, _, rest = line.strip().partition("|")
        state, _, reason = rest.partition("|")
        if job_id:
            reason = reason.strip()
            states[job_id] = JobState(state.strip(), "" if reason in ("None", "(null)") else reason)
    return states


def _accounting(job_ids: list[str]) -> dict[str, JobState]:
    """The final state of jobs that left the queue (`CANCELLED by 0` is `CANCELLED`)."""
    states = {}
    out = _ask(["sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j", ",".join(job_ids)])
    for line in out.splitlines():
        job_id, _, state = line.strip().partition("|")
        if job_id in job_ids and state:
            states[job_id] = JobState(state.split()[0])
    return states


def job_states(job_ids: Iterable[str], *, strict: bool = False) -> dict[str, JobState]:
    """The state of each of these jobs SLURM still knows; `strict` raises SchedulerUnavailable where
    squeue cannot be asked instead of answering with nothing."""
    wanted = sorted({str(j) for j in job_ids if j})
    if not wanted:
        return {}
    try:
        queue = _queue()
    except SchedulerUnavailable:
        if strict:
            raise
        return {}
    states = {j: queue[j] for j in wanted if j in queue}
    ended = [j for j in wanted if j not in states]
    if ended:
        with contextlib.suppress(SchedulerUnavailable):  # no accounting: ended jobs have no state
            states.update(_accounting(ended))
    return states


def pending_reasons(job_ids: list[str]) -> dict[str, int]:
    """SLURM's pending reason for each waiting task of these jobs, counted; empty without squeue."""
    counts: dict[str, int] = {}
    for state in job_states(job_ids).values():
        if state.state == "PENDING":
            reason = state.reason or "no reason given"
            counts[reason] = counts.get(reason, 0) + 1
    return counts
