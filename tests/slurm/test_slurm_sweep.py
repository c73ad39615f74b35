"""`hydra/launcher=slurm` against a real single-node SLURM (tests/slurm/cluster.sh): every job goes
through sbatch, re-submitting skips completed runs, a cancelled job is a failed run within a bounded
time, and a job over its time limit is requeued and resumes from its checkpoint.

Every submitting step runs under a timeout; jobs a test leaves behind are cancelled by its study name.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, TINY_HNET, cli_env, find_records, run_cli

pytestmark = pytest.mark.slurm

HERE = Path(__file__).parent
# One CPU per job (two run at once here), CSV logging only; jobs start in the project root.
SLURM = [
    "hydra/launcher=slurm",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.timeout_min=10",
    "logger=csv",
]
# Makes a job's fresh attempt slow (sleeping) until it resumes from a checkpoint (slow_epochs.py).
SLOW = ["+callbacks.slow._target_=slow_epochs.SlowUntilResumed", "callbacks.early_stopping=null"]
SUBMIT_TIMEOUT_S = 240


def slurm_env(cluster: dict[str, str]) -> dict[str, str]:
    return cli_env(**cluster, PYTHONPATH=str(HERE))


def sacct(cluster: dict[str, str], *args: str) -> list[list[str]]:
    """sacct rows (allocations only, every attempt with -D) as lists of fields."""
    out = subprocess.run(
        ["sacct", "-n", "-X", "-P", *args],
        capture_output=True,
        text=True,
        check=True,
        env=slurm_env(cluster),
        timeout=30,
    ).stdout
    return [line.split("|") for line in out.splitlines() if line]


def journal_events(sweep_dir: Path) -> list[dict]:
    """The jobs' events (a run started, completed, ...), without the launcher's `submitted` ones."""
    events = [
        json.loads(line)
        for path in sorted((sweep_dir / ".journal").glob("*.jsonl"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    return [e for e in events if "outcome" in e]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def cluster_state(cluster: dict[str, str]) -> str:
    """The node and the queue with SLURM's reasons, for a failure message."""
    env = slurm_env(cluster)
    commands = (
        ["sinfo", "-N", "-o", "%N %t %C %E"],
        ["squeue", "-o", "%i %j %T %r %C %M"],
        ["scontrol", "show", "node"],
    )
    return "\n".join(
        subprocess.run(c, capture_output=True, text=True, env=env, timeout=30).stdout for c in commands
    )


def submit(args: list[str], cluster: dict[str, str]) -> subprocess.CompletedProcess:
    """A sweep through SLURM under a timeout; when it runs out, say what the cluster was doing."""
    try:
        return run_cli(args, env=slurm_env(cluster), timeout=SUBMIT_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(
            f"sweep still running after {SUBMIT_TIMEOUT_S} s; cluster:\n"
            f"{cluster_state(cluster)}\nstdout:\n{exc.stdout}"
        ) from exc


def drain(cluster: dict[str, str], name: str, timeout: float = 30) -> None:
    """Wait until the jobs named `name` have left the queue (a job lingers a few seconds after its result
    is in); cancel those still there after `timeout` (a sweep that timed out leaves them running)."""
    env = slurm_env(cluster)

    def queued() -> str:
        return subprocess.run(
            ["squeue", "-h", f"--name={name}"], capture_output=True, text=True, env=env, timeout=30
        ).stdout.strip()

    deadline = time.monotonic() + timeout
    while queued() and time.monotonic() < deadline:
        time.sleep(0.5)
    subprocess.run(["scancel", f"--name={name}"], env=env, timeout=30, capture_output=True)


@pytest.fixture
def cancel_jobs(slurm_cluster: dict[str, str]) -> Iterator[list[str]]:
    """Job names (ablab-<study>) whose jobs are drained or cancelled when the test ends."""
    names: list[str] = []
    yield names
    for name in names:
        drain(slurm_cluster, name)


@pytest.fixture
def study(blocking_study: dict) -> dict:
    """The blocking sweep of tests/slurm/conftest.py (`run_blocking_study`), which other modules
    compare with."""
    return blocking_study


def run_blocking_study(slurm_cluster: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A tiny HNet study (2 variants x 2 seeds) submitted once through sbatch; tests read its result."""
    tmp = tmp_path_factory.mktemp("slurm_study")
    args = [
        "-m",
        "study=slurm_study",
        "ablation=hnet/baseline,hnet/no_attention",
        "seed=1,2",
        f"paths.log_dir={tmp / 'logs'}",
        f"paths.cache_dir={tmp / 'cache'}",
        *TINY_HNET,
        *SLURM,
    ]
    started = time.perf_counter()
    try:
        proc = submit(args, slurm_cluster)
    finally:
        drain(slurm_cluster, "ablab-slurm_study")
    return {
        "args": args,
        "proc": proc,
        "seconds": time.perf_counter() - started,
        "sweep_dir": tmp / "logs" / "slurm_study",
        "tmp": tmp,
    }


def test_study_runs_every_job_through_sbatch(study: dict, slurm_cluster: dict[str, str]) -> None:
    records = find_records(study["sweep_dir"])
    assert sorted((r["variant"], r["seed"]) for r in records) == [
        ("baseline", 1),
        ("baseline", 2),
        ("no_attention", 1),
        ("no_attention", 2),
    ]
    assert all(r["status"] == "completed" for r in records), [r.get("error") for r in records]
    assert "4 completed / 0 skipped / 0 failed" in study["proc"].stderr

    # Each run was one task of a SLURM job array, and SLURM accounted every task as COMPLETED.
    job_ids = {e["job_id"] for e in journal_events(study["sweep_dir"]) if e["outcome"] == "started"}
    assert len(job_ids) == 4 and all("_" in j for j in job_ids), job_ids
    states = {row[0]: row[1] for row in sacct(slurm_cluster, "-j", ",".join(job_ids), "-o", "JobID,State")}
    assert states == dict.fromkeys(job_ids, "COMPLETED")
    print(f"4-job study through sbatch: {study['seconds']:.1f} s")


def test_report_works_on_the_slurm_study(study: dict) -> None:
    out = study["tmp"] / "report"
    run_cli(
        [str(study["sweep_dir"]), "--out", str(out)],
        program=[sys.executable, "-m", "ablab.cli.report"],
        timeout=120,
    )
    with (out / "comparison_table.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(row["variant"] for row in rows) == ["baseline", "no_attention"]
    assert (out / "report.html").exists()


def test_resubmitted_study_skips_completed_runs(study: dict, slurm_cluster: dict[str, str]) -> None:
    before = {str(r["_dir"]): r["finished_at"] for r in find_records(study["sweep_dir"])}
    started = time.perf_counter()
    try:
        proc = submit(study["args"], slurm_cluster)
    finally:
        drain(slurm_cluster, "ablab-slurm_study")
    assert "0 completed / 4 skipped / 0 failed" in proc.stderr
    after = {str(r["_dir"]): r["finished_at"] for r in find_records(study["sweep_dir"])}
    assert after == before
    print(f"re-submitted 4-job study (all skipped): {time.perf_counter() - started:.1f} s")


def test_cancelled_job_is_reported_failed(
    slurm_cluster: dict[str, str], tmp_path: Path, cancel_jobs: list[str]
) -> None:
    cancel_jobs.append("ablab-slurm_cancel")
    sweep_dir = tmp_path / "logs" / "slurm_cancel"
    args = [
        "-m",
        "study=slurm_cancel",
        "seed=1",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"paths.cache_dir={tmp_path / 'cache'}",
        *TINY_HNET,
        "trainer.max_epochs=30",
        "+callbacks.slow.seconds=2",
        *SLOW,
        *SLURM,
    ]
    command = [sys.executable, str(ROOT / "train.py"), *args]
    with subprocess.Popen(
        command,
        cwd=ROOT,
        env=slurm_env(slurm_cluster),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as sweep:
        try:
            # Cancel once the job is training: it has written its first checkpoint.
            wait_for(lambda: list(sweep_dir.rglob("last.ckpt")), 120, "the job's first checkpoint")
            job_id = next(e["job_id"] for e in journal_events(sweep_dir) if e["outcome"] == "started")
            subprocess.run(["scancel", job_id], env=slurm_env(slurm_cluster), check=True, timeout=30)
            cancelled = time.perf_counter()
            _, stderr = sweep.communicate(timeout=120)
        finally:
            if sweep.poll() is None:
                sweep.kill()
    waited = time.perf_counter() - cancelled
    assert sweep.returncode == 1, stderr[-3000:]
    assert "0 completed / 0 skipped / 1 failed" in stderr
    (record,) = find_records(sweep_dir)
    assert record["status"] == "failed"
    assert record["error"]["message"].startswith(("Cancelled", "Killed")), record["error"]["message"]
    assert sacct(slurm_cluster, "-j", job_id, "-o", "State")[0][0].startswith("CANCELLED")
    print(f"scancel -> sweep reported the failure after {waited:.1f} s")


def test_job_over_time_limit_is_requeued_and_resumes(
    slurm_cluster: dict[str, str], tmp_path: Path, cancel_jobs: list[str]
) -> None:
    cancel_jobs.append("ablab-slurm_timeout")
    sweep_dir = tmp_path / "logs" / "slurm_timeout"
    # A 1-minute limit. SLURM signals 5 s before it, or up to 30 s earlier (its timer runs every 30 s):
    # 25-55 s into the job, after its first checkpoints. submitit requeues the job, and the requeued
    # attempt resumes from last.ckpt at full speed (one more requeue if its own signal comes first).
    args = [
        "-m",
        "study=slurm_timeout",
        "seed=1",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"paths.cache_dir={tmp_path / 'cache'}",
        *TINY_HNET,
        "trainer.max_epochs=25",
        "+callbacks.slow.seconds=3",
        *SLOW,
        *SLURM,
        "hydra.launcher.timeout_min=1",
        "hydra.launcher.signal_delay_s=5",
        "hydra.launcher.max_num_timeout=5",
    ]
    started = time.perf_counter()
    proc = submit(args, slurm_cluster)
    assert "1 completed / 0 skipped / 0 failed" in proc.stderr

    (record,) = find_records(sweep_dir)
    assert record["status"] == "completed"
    assert record["attempt"] >= 2
    assert record["resumed_from"] and record["resumed_from"].endswith("checkpoints/last.ckpt")
    assert record["epochs"] == 25
    # Both attempts' epochs are in metrics.csv: the resumed attempt appended to the first one's rows.
    with (record["_dir"] / "csv" / "metrics.csv").open() as handle:
        logged = {int(row["epoch"]) for row in csv.DictReader(handle) if row.get("val/f1_weighted")}
    assert logged == set(range(25))
    job_id = next(e["job_id"] for e in journal_events(sweep_dir) if e["outcome"] == "started")
    drain(slurm_cluster, "ablab-slurm_timeout")
    # slurmdbd records the end of the last attempt asynchronously: wait until it has.
    deadline = time.monotonic() + 60
    while True:
        attempts = [row[0] for row in sacct(slurm_cluster, "-D", "-j", job_id, "-o", "State")]
        if attempts[-1] not in ("RUNNING", "PENDING", "COMPLETING") or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert attempts[0] == "REQUEUED" and attempts[-1] == "COMPLETED", attempts
    print(f"time limit -> requeue -> resume: {time.perf_counter() - started:.1f} s, attempts {attempts}")


def test_two_task_job_trains_ddp_on_lightnings_slurm_path(
    slurm_cluster: dict[str, str], tmp_path: Path, cancel_jobs: list[str]
) -> None:
    cancel_jobs.append("ablab-slurm_ddp")
    sweep_dir = tmp_path / "logs" / "slurm_ddp"
    # Two tasks on the node; trainer.devices follows SLURM_NTASKS_PER_NODE (2) inside the job, so
    # Lightning uses the two processes srun started instead of starting its own.
    args = [
        "-m",
        "study=slurm_ddp",
        "seed=1",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"paths.cache_dir={tmp_path / 'cache'}",
        *TINY_HNET,
        *SLURM,
        "hydra.launcher.tasks_per_node=2",
        "trainer.accelerator=cpu",
    ]
    # The job needs the whole node: let the previous tests' jobs finish leaving it first.
    env = slurm_env(slurm_cluster)
    wait_for(
        lambda: (
            subprocess.run(
                ["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, env=env, timeout=30
            ).stdout.strip()
            == "idle"
        ),
        60,
        "an idle node",
    )
    proc = submit(args, slurm_cluster)
    assert "1 completed / 0 skipped / 0 failed" in proc.stderr

    (record,) = find_records(sweep_dir)
    assert record["status"] == "completed" and record["epochs"] == 2
    assert not (record["_dir"] / "previous").exists()
    # Rank zero alone wrote the journal, the record and the metrics; rank one trained along.
    events = [e["outcome"] for e in journal_events(sweep_dir)]
    assert events == ["started", "completed"]
    with (record["_dir"] / "csv" / "metrics.csv").open() as handle:
        epochs = [row["epoch"] for row in csv.DictReader(handle) if row.get("val/f1_weighted")]
    assert epochs == ["0", "1"]
    job_id = next(e["job_id"] for e in journal_events(sweep_dir) if e["outcome"] == "started")
    logs = {p.name: p.read_text() for p in (sweep_dir / ".submitit" / job_id).glob("*_log.*")}
    rank_one = logs[f"{job_id}_1_log.out"] + logs[f"{job_id}_1_log.err"]
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in rank_one


def test_pending_jobs_show_the_schedulers_reason_within_a_minute(
    slurm_cluster: dict[str, str], tmp_path: Path, cancel_jobs: list[str]
) -> None:
    """A job SLURM holds back (here: not before an hour from now) must not look like a hang."""
    cancel_jobs.append("ablab-pending_study")
    args = [
        "-m",
        "study=pending_study",
        "seed=1",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"paths.cache_dir={tmp_path / 'cache'}",
        *TINY_HNET,
        *SLURM,
        "+hydra.launcher.additional_parameters.begin=now+3600",
    ]
    sweep = subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=ROOT,
        env=slurm_env(slurm_cluster),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    started = time.monotonic()
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(sweep.stderr.readline, "")), daemon=True)
    reader.start()
    try:
        said = wait_for(
            lambda: [line for line in lines if "slurm: 1 pending (BeginTime)" in line],
            timeout=75,
            what="the pending reason",
        )
    finally:
        sweep.kill()
        sweep.wait()
    assert said and time.monotonic() - started < 80, "".join(lines)


def test_an_adaptive_study_submits_each_look_as_a_batch_of_slurm_jobs(
    slurm_cluster: dict[str, str], cancel_jobs: list[str], tmp_path: Path
) -> None:
    cancel_jobs.append("ablab-hnet-ablation")
    args = [
        "-m",
        "ablation=hnet/baseline,hnet/no_attention",
        "sweep.seeds=auto",
        "sweep.seeds_initial=2",
        "sweep.seeds_max=3",
        "sweep.seeds_step=1",
        *SLURM,
        *TINY_HNET,
        f"paths.log_dir={tmp_path / 'logs'}",
        f"paths.cache_dir={tmp_path / 'cache'}",
    ]
    proc = submit(args, slurm_cluster)
    assert "on SLURM" in proc.stderr and "adaptive seeds: stopped after look" in proc.stderr
    study = tmp_path / "logs" / "hnet-ablation"
    block = json.loads((study / "study.json").read_text())["adaptive"]
    records = find_records(study)
    assert block["runs"] == len(records) in (4, 6) and all(r["status"] == "completed" for r in records)
    assert all(r["look"] == (1 if r["seed"] <= 2 else 2) for r in records)
    started = [e for e in journal_events(study) if e["outcome"] == "started"]
    assert len(started) == len(records) and all("_" in e["job_id"] for e in started)
    # one job array per look
    assert len({e["job_id"].split("_")[0] for e in started}) == block["looks"]
