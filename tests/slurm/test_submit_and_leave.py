"""A SLURM study submitted without waiting (`hydra.launcher.wait=false`) and followed with
`ablab-status`, against the real single-node SLURM (tests/slurm/cluster.sh): the command returns once
the jobs are queued; the status shows them queued, then running, then completed; a second submission
while they run adds nothing; the report at the end equals the blocking sweep's of the same study
(tests/slurm/conftest.py). A sleeping callback slows each epoch down so that the jobs can be watched;
it changes no result."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, TINY_HNET, find_records, run_cli
from tests.slurm.test_slurm_sweep import SLOW, SLURM, drain, journal_events, sacct, slurm_env, submit

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

NAME = "ablab-left_study"
# 4 jobs, 2 at a time on the test node; a few seconds of sleep per epoch keep each job queued or
# running long enough to be watched and submitted again.
ARGS = ["-m", "study=left_study", "ablation=hnet/baseline,hnet/no_attention", "seed=1,2", *TINY_HNET]
ARGS += ["+callbacks.slow.seconds=4", *SLOW, *SLURM]


def journal_lines(study: Path) -> list[dict]:
    return [
        json.loads(line)
        for path in sorted((study / ".journal").glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


QUALITY = ("variant", "is_baseline", "n", "mean", "std", "ci_low", "ci_high", "delta", "p_paired", "p_holm")


def status_rows(study: Path, cluster: dict[str, str]) -> dict[tuple[str, str], dict[str, str]]:
    """`ablab-status` as typed, its table read back: (variant, seed) -> status, job and state."""
    out = run_cli(
        [str(study)], program=[sys.executable, "-m", "ablab.cli.status"], env=slurm_env(cluster), timeout=60
    )
    rows = {}
    for line in out.stdout.splitlines():
        line = line.strip()
        cells = [c.strip() for c in line[1:-1].split("│")] if line.startswith("│") else []
        if len(cells) == 7 and cells[0].startswith("hnet/"):
            rows[cells[0], cells[1]] = {"status": cells[2].split(" (")[0], "job": cells[3], "state": cells[4]}
    return rows


@pytest.fixture(scope="module")
def left(
    slurm_cluster: dict[str, str], blocking_study: dict, tmp_path_factory: pytest.TempPathFactory
) -> dict:
    """Submit without waiting, watch the study to its end, submit again meanwhile (after the blocking
    sweep: the node runs two jobs at a time)."""
    tmp = tmp_path_factory.mktemp("left_study")
    paths = [f"paths.log_dir={tmp / 'logs'}", f"paths.cache_dir={tmp / 'cache'}"]
    study = tmp / "logs" / "left_study"
    seen: list[dict] = []
    try:
        started = time.perf_counter()
        first = submit([*ARGS, *paths, "hydra.launcher.wait=false"], slurm_cluster)
        returned_after = time.perf_counter() - started
        completed_on_return = [r for r in find_records(study) if r["status"] == "completed"]
        second = None
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            rows = status_rows(study, slurm_cluster)
            seen.append(rows)
            if second is None and any(r["status"] == "running" for r in rows.values()):
                # The same study again, blocking this time, while its jobs are queued or running.
                second = subprocess.Popen(
                    [sys.executable, str(ROOT / "train.py"), *ARGS, *paths],
                    cwd=ROOT,
                    env=slurm_env(slurm_cluster),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            if len(rows) == 4 and all(r["status"] == "completed" for r in rows.values()):
                break
            time.sleep(0.5)
        second_output = second.communicate(timeout=120) if second is not None else None
    finally:
        drain(slurm_cluster, NAME)
    return {
        "study": study,
        "first": first,
        "returned_after": returned_after,
        "completed_on_return": completed_on_return,
        "second": second,
        "second_output": second_output,
        "seen": seen,
        "tmp": tmp,
    }


def test_submitting_without_waiting_returns_once_the_jobs_are_queued(left) -> None:
    assert left["completed_on_return"] == []
    assert "slurm: submitted 4 job(s)" in left["first"].stderr
    assert "not waiting for the jobs" in left["first"].stderr
    assert f"status: ablab-status {left['study']}" in left["first"].stderr
    print(f"wait=false submission of 4 jobs returned after {left['returned_after']:.1f} s")


def test_status_shows_the_jobs_queued_then_running_then_completed(left) -> None:
    order = ["queued", "running", "completed"]
    for run in left["seen"][-1]:
        statuses = [rows[run]["status"] for rows in left["seen"] if run in rows]
        changes = [s for i, s in enumerate(statuses) if i == 0 or s != statuses[i - 1]]
        assert changes[-1] == "completed" and changes == sorted(changes, key=order.index), (run, statuses)
    seen = [(r["status"], r["state"]) for rows in left["seen"] for r in rows.values()]
    assert (
        ("queued", "PENDING") in seen
        and ("running", "RUNNING") in seen
        and ("completed", "COMPLETED") in seen
    )
    final = left["seen"][-1]
    assert len(final) == 4 and len({r["job"] for r in final.values()}) == 4


def test_a_second_submission_while_they_run_adds_nothing_and_waits_for_their_jobs(
    left, slurm_cluster
) -> None:
    assert left["second"] is not None, "the study ended before it could be submitted again"
    _, stderr = left["second_output"]
    assert left["second"].returncode == 0, stderr[-3000:]
    assert "slurm: submitted 0 job(s); " in stderr
    submitted = [e for e in journal_lines(left["study"]) if e.get("event") == "submitted"]
    assert [len(e["jobs"]) for e in submitted] == [4, 0]
    adopted = len(submitted[1]["already"])
    assert adopted >= 2, "the second submission came too late to find jobs still queued or running"
    assert f"{adopted} still queued or running from an earlier submission (not submitted again)" in stderr
    # The blocking submission waited for the adopted jobs and counted them as they ended.
    assert f"{adopted} completed / {4 - adopted} skipped / 0 failed" in stderr
    # SLURM ran four jobs in all, and each run trained once, in one attempt.
    job_ids = {j["job_id"] for j in submitted[0]["jobs"]}
    started = [e for e in journal_events(left["study"]) if e["outcome"] == "started"]
    assert sorted(e["job_id"] for e in started) == sorted(job_ids)
    assert all(r["attempt"] == 1 for r in find_records(left["study"]))
    assert {row[0] for row in sacct(slurm_cluster, "--name", NAME, "-o", "JobID")} >= job_ids


def test_the_report_at_the_end_equals_a_blocking_sweeps(left, blocking_study) -> None:
    assert "4 completed / 0 skipped / 0 failed" in blocking_study["proc"].stderr
    tables = []
    for n, study in enumerate((left["study"], blocking_study["sweep_dir"])):
        out = left["tmp"] / f"report-{n}"
        proc = run_cli(
            [str(study), "--out", str(out), "--no-wandb"], program=[sys.executable, "-m", "ablab.cli.report"]
        )
        assert "not finished yet" not in proc.stdout
        with (out / "comparison_table.csv").open() as handle:
            tables.append([{k: row[k] for k in QUALITY} for row in csv.DictReader(handle)])
    assert tables[0] == tables[1] and [row["n"] for row in tables[0]] == ["2", "2"]
