"""`ablab-status` and `ablab-report` on a study while it runs and after it ends: statuses from the
records, the journals and metrics.csv; counts, the best variant so far and the ETA; statuses this
version does not know shown as they are."""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

import pytest

from ablab.analysis.status import study_status
from ablab.journal import read_events
from ablab.runs.watch import eta_seconds
from tests.conftest import find_records, run_cli

STATUS = [sys.executable, "-m", "ablab.cli.status"]
REPORT = [sys.executable, "-m", "ablab.cli.report"]


def _set_record(run_dir: Path, **fields) -> None:
    path = run_dir / "results.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))


def _keep_epochs(run_dir: Path, epochs: int) -> None:
    """metrics.csv as a run that has finished `epochs` epochs leaves it."""
    path = run_dir / "csv" / "metrics.csv"
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    fields = list(rows[0])
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fields)
        writer.writeheader()
        writer.writerows(
            r for r in rows if r["epoch"] and int(r["epoch"]) < epochs and not r.get("test/loss")
        )


@pytest.fixture
def running_study(tiny_wandb_study: Path, tmp_path: Path) -> dict:
    """The tiny study as it looks mid-way: one run training its second epoch, one submitted and not
    started, one stopped by a status this version does not know, one completed."""
    study = tmp_path / "tiny_wandb"
    shutil.copytree(tiny_wandb_study, study)
    runs = {(r["variant"], r["seed"]): r["_dir"] for r in find_records(study)}
    running, queued, pruned = runs["no_attention", 1], runs["no_attention", 2], runs["baseline", 2]
    _set_record(running, status="running", metrics={})
    _keep_epochs(running, 1)
    shutil.rmtree(queued)
    journal = next((study / ".journal").glob("*.jsonl"))
    text = journal.read_text().replace(str(tiny_wandb_study), str(study))  # the copy's own run folders
    lines = [json.loads(line) for line in text.splitlines()]
    # The journal of a submission that has not reached these runs yet.
    kept = [
        e for e in lines if e.get("run_dir") not in (str(running), str(queued)) or e["outcome"] == "started"
    ]
    kept = [e for e in kept if e.get("run_dir") != str(queued)]
    submitted = {
        "event": "submitted",
        "job_ids": [],
        "jobs": [
            {
                "job_id": "424242_1",
                "run_dir": str(queued),
                "family": "hnet",
                "variant": "no_attention",
                "seed": 2,
            }
        ],
    }
    journal.write_text("".join(json.dumps(e) + "\n" for e in [submitted, *kept]))
    _set_record(
        pruned, status="pruned", error={"message": "Pruned at epoch 1 (val/f1_weighted below the median)"}
    )
    return {
        "study": study,
        "running": running,
        "queued": queued,
        "pruned": pruned,
        "done": runs["baseline", 1],
    }


def test_a_finished_study_has_every_run_completed_its_best_variant_and_no_eta(tiny_wandb_study) -> None:
    status = study_status(tiny_wandb_study)
    records = {(r["variant"], r["seed"]): r for r in find_records(tiny_wandb_study)}
    assert [(r.variant, r.seed, r.status) for r in status.runs] == [
        ("baseline", 1, "completed"),
        ("baseline", 2, "completed"),
        ("no_attention", 1, "completed"),
        ("no_attention", 2, "completed"),
    ]
    assert status.counts() == {"completed": 4} and status.finished and status.eta_s is None
    means = {
        v: sum(records[v, s]["metrics"]["test/f1_weighted"] for s in (1, 2)) / 2
        for v in ("baseline", "no_attention")
    }
    variant, mean, seeds, top = status.best()
    assert variant == max(means, key=means.get) and mean == pytest.approx(means[variant]) and seeds == 2
    assert top.value == max(records[variant, s]["metrics"]["test/f1_weighted"] for s in (1, 2))
    # Local launchers have no SLURM jobs: Hydra's job numbers are not taken for SLURM ids.
    assert all(r.job_id is None and r.job_state is None for r in status.runs)


def test_a_running_study_shows_queued_running_with_its_epoch_and_unknown_statuses_as_they_are(
    running_study,
) -> None:
    status = study_status(running_study["study"])
    by_dir = {Path(r.run_dir).resolve(): r for r in status.runs}
    running = by_dir[running_study["running"].resolve()]
    assert (running.status, running.epoch, running.max_epochs) == ("running", 1, 2)
    assert running.describe() == "running (epoch 1/2)"
    queued = by_dir[running_study["queued"].resolve()]
    assert (queued.status, queued.variant, queued.seed, queued.job_id) == (
        "queued",
        "no_attention",
        2,
        "424242_1",
    )
    pruned = by_dir[running_study["pruned"].resolve()]
    assert pruned.describe() == "pruned: Pruned at epoch 1 (val/f1_weighted below the median)"
    assert status.counts() == {"completed": 1, "running": 1, "queued": 1, "pruned": 1}
    # The ETA: the two unfinished runs at the mean duration of the runs that trained, one at a time.
    events = read_events(next((running_study["study"] / ".journal").glob("*.jsonl")))
    durations = [e["wall_time_s"] for e in events if e.get("outcome") == "completed"]
    assert status.eta_s == pytest.approx(eta_seconds(2, durations, 1))
    variant, _, seeds, _ = status.best()
    assert (variant, seeds) == ("baseline", 1)


def test_ablab_status_prints_the_table_counts_best_and_eta(running_study) -> None:
    out = run_cli([str(running_study["study"])], program=STATUS).stdout
    assert "running (epoch 1/2)" in out and "queued" in out and "424242_1" in out
    assert "pruned: Pruned at epoch 1" in out
    assert "study tiny_wandb: 4 runs: 1 completed, 1 pruned, 1 queued, 1 running" in out
    assert "best so far: baseline test/f1_weighted " in out and "ETA " in out


def test_ablab_status_watch_returns_once_every_run_has_ended(tiny_wandb_study) -> None:
    out = run_cli([str(tiny_wandb_study), "--watch", "--interval", "0.2"], program=STATUS, timeout=60).stdout
    assert out.count("every run has ended") == 1


def test_ablab_status_of_a_folder_that_is_no_study_is_one_error_line(tmp_path) -> None:
    proc = run_cli([str(tmp_path / "nowhere")], program=STATUS, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'nowhere'} is not a study folder: pass logs/<study> (the folder a sweep writes)"
    ]
    (tmp_path / "empty").mkdir()
    proc = run_cli([str(tmp_path / "empty")], program=STATUS, check=False)
    assert proc.returncode == 2 and "no runs and no journal" in proc.stderr


def test_the_report_of_a_running_study_covers_what_finished_and_lists_what_did_not(
    running_study, tmp_path
) -> None:
    proc = run_cli(
        [str(running_study["study"]), "--out", str(tmp_path / "report"), "--no-wandb"], program=REPORT
    )
    lines = proc.stdout.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("not finished yet in ")))
    assert lines[start].endswith(": 2 run(s) (the report averages finished runs only)")
    assert sorted(lines[start + 1 : start + 3]) == [
        "  hnet/no_attention seed 1: running (epoch 1/2)",
        "  hnet/no_attention seed 2: queued",
    ]
    with (tmp_path / "report" / "comparison_table.csv").open() as handle:
        table = {row["variant"]: row for row in csv.DictReader(handle)}
    assert table["baseline"]["n"] == "1"  # the completed seed; the pruned one is not averaged in
