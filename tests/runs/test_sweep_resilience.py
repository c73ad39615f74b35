"""Sweeps survive crashes: failing and diverging runs are recorded, killed sweeps resume exactly."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from ablab.runs.records import write_json_atomic
from tests.conftest import ROOT, TINY_CSV, find_records, kill_when, run_cli

# Long enough per run that a kill lands inside one; 4 runs in the sweep.
KILL_SWEEP = [
    "-m",
    "seed=1,2",
    "model/attention=none,additive",
    *TINY_CSV,
    "data.train_per_case=150",
    "trainer.max_epochs=6",
    "callbacks.early_stopping=null",
]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _paths(base: Path) -> list[str]:
    return [f"paths.log_dir={base / 'logs'}", f"paths.cache_dir={base / 'cache'}"]


def _statuses(log_dir: Path) -> list[tuple[Path, str]]:
    out = []
    for path in log_dir.rglob("results.json"):
        try:
            out.append((path.parent, json.loads(path.read_text())["status"]))
        except (OSError, ValueError, KeyError):
            continue
    return out


def test_killed_sweep_resumes_and_matches_an_uninterrupted_one(tmp_path) -> None:
    reference = tmp_path / "reference"
    run_cli([*KILL_SWEEP, *_paths(reference)])
    expected = {r["_dir"].relative_to(reference / "logs"): r for r in find_records(reference / "logs")}
    assert len(expected) == 4

    killed = tmp_path / "killed"
    command = [sys.executable, str(ROOT / "train.py"), *KILL_SWEEP, *_paths(killed)]

    def completed_and_checkpointed() -> Path | None:
        """A running run with a checkpoint while another has completed."""
        states = _statuses(killed / "logs")
        done = [d for d, s in states if s == "completed"]
        running = [d for d, s in states if s == "running" and (d / "checkpoints" / "last.ckpt").exists()]
        return running[0] if done and running else None

    interrupted = kill_when(command, completed_and_checkpointed)
    assert interrupted is not None, "the sweep never had a completed and a checkpointed running run at once"

    completed = {
        d: {p: (p.stat().st_mtime_ns, _digest(p)) for p in (d / "checkpoints").iterdir()}
        for d, s in _statuses(killed / "logs")
        if s == "completed"
    }
    rerun = run_cli([*KILL_SWEEP, *_paths(killed)])
    assert f"{len(completed)} skipped" in rerun.stderr

    for files in completed.values():  # completed runs were not retrained
        assert {p: (p.stat().st_mtime_ns, _digest(p)) for p in files} == files
    records = {r["_dir"].relative_to(killed / "logs"): r for r in find_records(killed / "logs")}
    assert records.keys() == expected.keys()
    resumed = records[interrupted.relative_to(killed / "logs")]
    assert resumed["resumed_from"] and resumed["resumed_from"].endswith("last.ckpt")
    assert resumed["attempt"] == 2
    for key, record in records.items():
        assert record["status"] == "completed"
        assert record["epochs"] == expected[key]["epochs"]
        for metric, value in expected[key]["metrics"].items():
            assert record["metrics"][metric] == value, (key, metric)


def test_a_failing_run_is_recorded_and_the_others_complete(tmp_path) -> None:
    proc = run_cli(["-m", "model.gru_layers=1,0,2", *TINY_CSV, *_paths(tmp_path)], check=False)
    assert proc.returncode == 1
    assert "2 completed / 0 skipped / 1 failed / 0 diverged" in proc.stderr
    records = {r["overrides"][0]: r for r in find_records(tmp_path / "logs")}
    failed = records["model.gru_layers=0"]
    assert failed["status"] == "failed"
    assert "model.gru_layers=0" in failed["error"]["message"]
    assert "Traceback" in failed["error"]["traceback"]
    assert records["model.gru_layers=2"]["status"] == "completed"

    again = run_cli(["-m", "model.gru_layers=1,0,2", *TINY_CSV, *_paths(tmp_path)], check=False)
    assert "0 completed / 2 skipped / 1 failed" in again.stderr  # failed runs run again
    assert list((failed["_dir"] / "previous").iterdir())  # the earlier failure is kept, not overwritten


def test_a_nan_loss_stops_the_run_as_diverged(tmp_path) -> None:
    proc = run_cli(["-m", "task.loss_weights=[nan,1,1],[1,1,1]", *TINY_CSV, *_paths(tmp_path)], check=False)
    assert "1 completed / 0 skipped / 0 failed / 1 diverged" in proc.stderr
    assert proc.returncode == 0  # diverging is a result of the study, not a crash
    (diverged,) = [r for r in find_records(tmp_path / "logs") if r["status"] == "diverged"]
    assert "nan" in diverged["error"]["message"].lower()


def test_a_corrupt_record_is_set_aside_and_the_run_redone(tmp_path) -> None:
    args = [*TINY_CSV, *_paths(tmp_path)]
    run_cli(args)
    (record,) = find_records(tmp_path / "logs")
    results = record["_dir"] / "results.json"
    truncated = results.read_bytes()[:40]  # a half-written file
    results.write_bytes(truncated)
    proc = run_cli(args)
    assert "unreadable results record" in proc.stderr
    (redone,) = find_records(tmp_path / "logs")
    assert redone["status"] == "completed"
    kept = list((record["_dir"] / "previous").rglob("results.json"))
    assert len(kept) == 1 and kept[0].read_bytes() == truncated


def test_force_rerun_keeps_the_earlier_outputs(tmp_path) -> None:
    args = [*TINY_CSV, *_paths(tmp_path)]
    run_cli(args)
    run_cli([*args, "force_rerun=true"])
    (record,) = find_records(tmp_path / "logs")
    assert record["status"] == "completed" and record["attempt"] == 2
    assert len(list((record["_dir"] / "previous").rglob("best.ckpt"))) == 1


def test_a_run_another_process_is_running_is_left_alone(tmp_path) -> None:
    # An orphaned worker of a killed sweep, or the same study started twice: the second process must
    # not set aside, resume or overwrite what the first is writing.
    from filelock import FileLock

    args = ["-m", *TINY_CSV, *_paths(tmp_path)]
    run_cli(args)
    (record,) = find_records(tmp_path / "logs")
    # Byte for byte, `.hydra/` and the log included: Hydra no longer writes them before the job decides.
    before = {p: p.read_bytes() for p in record["_dir"].rglob("*") if p.is_file()}
    with FileLock(record["_dir"] / ".run.lock"):
        sweep = run_cli([*args, "force_rerun=true"], check=False)
    assert sweep.returncode == 1 and "0 completed / 0 skipped / 1 failed / 0 diverged" in sweep.stderr
    assert "Busy: another process is running" in sweep.stderr
    assert not (record["_dir"] / "previous").exists()
    assert {p: p.read_bytes() for p in record["_dir"].rglob("*") if p.is_file()} == before


def test_record_writes_are_atomic(tmp_path) -> None:
    path = tmp_path / "results.json"
    write_json_atomic(path, {"a": 1})
    write_json_atomic(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
