"""How the SLURM launcher records a job that SLURM ended without a result (no cluster needed): the
run it left `running` becomes `failed`, a job killed before its run started is a failed entry in the
sweep summary, and a run that finished is left alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from ablab.journal import JOURNAL_ENV, append_event, read_events
from ablab.runs.records import read_record, write_json_atomic
from ablab.runs.summary import summarise
from hydra_plugins.ablab_launchers.slurm import mark_killed

REASON = "SLURM job 7_0 ended CANCELLED without a result"


@pytest.fixture
def journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "journal.jsonl"
    monkeypatch.setenv(JOURNAL_ENV, str(path))
    return path


def _run(tmp_path: Path, name: str, status: str, job_id: str) -> Path:
    run_dir = tmp_path / name
    write_json_atomic(
        run_dir / "results.json", {"schema": 1, "status": status, "config_hash": "abc", "metrics": {}}
    )
    append_event({"run_dir": str(run_dir), "outcome": "started", "job_id": job_id})
    if status != "running":
        append_event({"run_dir": str(run_dir), "outcome": status})
    return run_dir


def test_killed_job_turns_its_running_record_into_failed(tmp_path: Path, journal: Path) -> None:
    killed = _run(tmp_path, "killed", "running", "7_0")
    other = _run(tmp_path, "other", "running", "7_1")

    mark_killed("7_0", REASON, label="SLURM job 7_0 (seed=1)")

    record = read_record(killed / "results.json")
    assert record["status"] == "failed"
    assert record["error"]["message"] == f"Killed: {REASON}"
    assert read_record(other / "results.json")["status"] == "running"
    counts, problems = summarise(read_events(journal))
    assert (counts["failed"], counts["unfinished"]) == (1, 1)
    assert any(REASON in p for p in problems)


def test_job_killed_before_its_run_started_is_a_failed_entry(tmp_path: Path, journal: Path) -> None:
    mark_killed("7_0", REASON, label="SLURM job 7_0 (seed=1)")

    counts, problems = summarise(read_events(journal))
    assert counts["failed"] == 1
    assert problems == [f"failed: SLURM job 7_0 (seed=1): {REASON}"]


def test_run_that_finished_before_the_kill_is_left_alone(tmp_path: Path, journal: Path) -> None:
    done = _run(tmp_path, "done", "completed", "7_0")

    mark_killed("7_0", REASON, label="SLURM job 7_0 (seed=1)")

    assert read_record(done / "results.json")["status"] == "completed"
    counts, _ = summarise(read_events(journal))
    assert (counts["completed"], counts["failed"]) == (1, 0)
