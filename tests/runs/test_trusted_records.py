"""Records that can be trusted: a result is never silently reused on changed data, degraded by a
resume that trains nothing, mixed with a dead attempt's files, loaded through pickled code, or lost to
a full or read-only disk. Each test is the scenario that exposed the fault, through the real CLI."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import ROOT, TINY_CSV, TINY_HNET, cli_env, find_records, kill_when, run_cli

EVAL = [sys.executable, "-m", "ablab.cli.eval"]
REPORT = [sys.executable, "-m", "ablab.cli.report"]
# A small hybrid classifier on a 4-feature CSV: seconds per run.
TINY_TABLE = [
    "experiment=hybrid",
    "data=csv",
    "data.num_features=4",
    "data.num_classes=2",
    "model.cnn_blocks=1",
    "model.cnn_channels=4",
    "model.lstm_hidden=8",
    "model.lstm_layers=1",
    "model.attention.num_heads=2",
    "trainer.max_epochs=2",
    "trainer.enable_progress_bar=false",
    "callbacks.progress_bar=null",
    "logger=csv",
    "print_config=false",
]


def _paths(base: Path) -> list[str]:
    return [f"paths.log_dir={base / 'logs'}", f"paths.cache_dir={base / 'cache'}"]


@pytest.fixture(scope="module")
def one_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A completed tiny HNet run with both loggers (csv + W&B); tests fault copies of it."""
    base = tmp_path_factory.mktemp("one_run")
    run_cli([*TINY_HNET, *_paths(base)])
    return base


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A completed 2-run sweep (`-m seed=1,2`, csv logger); tests fault copies of it."""
    base = tmp_path_factory.mktemp("two_seeds")
    run_cli(["-m", "seed=1,2", *TINY_CSV, *_paths(base)])
    return base


def _copy(base: Path, tmp_path: Path) -> list[str]:
    """A copy of `base`'s logs under `tmp_path`; the paths overrides that run on it (the data cache
    is shared: it is only read)."""
    shutil.copytree(base / "logs", tmp_path / "logs", symlinks=True)
    return [f"paths.log_dir={tmp_path / 'logs'}", f"paths.cache_dir={base / 'cache'}"]


def _table(path: Path, rows: int, seed: int) -> Path:
    """`rows` rows of features f0..f3; the label is the sign of f1."""
    x = np.random.default_rng(seed).normal(size=(rows, 4)).round(4)
    lines = ["f0,f1,f2,f3,label"] + [",".join([*map(str, r), "pos" if r[1] > 0 else "neg"]) for r in x]
    path.write_text("\n".join(lines) + "\n")
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _snapshot(folder: Path) -> dict[Path, bytes]:
    """Every file under `folder` with its bytes."""
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def _metric_rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "csv" / "metrics.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_changed_data_is_a_new_run_never_a_reused_result(tmp_path: Path) -> None:
    """The CSV behind data=csv grows from 60 to 90 rows between two identical commands."""
    data = _table(tmp_path / "table.csv", rows=60, seed=0)
    args = [*TINY_TABLE, f"data.path={data}", *_paths(tmp_path)]
    run_cli(args)
    (old,) = find_records(tmp_path / "logs")
    _table(data, rows=90, seed=1)
    again = run_cli(args)

    assert "skipped" not in again.stderr
    records = {r["_dir"]: r for r in find_records(tmp_path / "logs")}
    (new,) = [r for d, r in records.items() if d != old["_dir"]]
    assert old["status"] == new["status"] == "completed"
    assert new["config_hash"] != old["config_hash"] and new["_dir"].parent == old["_dir"].parent
    assert new["data"]["files"]["data.path"]["sha256"] == _digest(data)
    assert old["data"]["files"]["data.path"]["sha256"] != _digest(data)
    # each run tested on its own data: 20 % of 60 and of 90 rows
    for record, test_rows in ((old, 12), (new, 18)):
        matrix = np.loadtxt(
            record["_dir"] / "confusion_matrix.csv", delimiter=",", skiprows=1, usecols=(1, 2)
        )
        assert matrix.sum() == test_rows

    report = run_cli(
        [str(tmp_path / "logs" / "hybrid"), "--out", str(tmp_path / "report"), "--no-wandb"], program=REPORT
    )
    assert "2 versions of its data" in report.stderr and new["data"]["hash"] in report.stderr
    with (tmp_path / "report" / "comparison_table.csv").open() as handle:
        (row,) = list(csv.DictReader(handle))
    assert int(row["n"]) == 1 and float(row["mean"]) == pytest.approx(new["metrics"]["test/accuracy"])

    checkpoint = old["_dir"] / "checkpoints" / "best.ckpt"
    refused = run_cli([str(checkpoint)], program=EVAL, check=False)
    assert refused.returncode == 2 and refused.stdout == ""
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith(f"error: data.path={data} is not the data this checkpoint was trained on")
    assert "--allow-changed-data" in line
    assert not (old["_dir"] / "eval").exists()
    asked = run_cli([str(checkpoint), "--allow-changed-data"], program=EVAL)
    assert 0.0 <= json.loads(asked.stdout)["test/accuracy"] <= 1.0
    matrix = np.loadtxt(
        old["_dir"] / "eval" / "confusion_matrix.csv", delimiter=",", skiprows=1, usecols=(1, 2)
    )
    assert matrix.sum() == 18  # asked for: the new file's test rows


def test_a_truncated_record_beside_a_finished_last_ckpt_is_retrained_not_resumed(
    one_run: Path, tmp_path: Path
) -> None:
    """results.json of a completed run is cut short; the sweep runs again."""
    args = [*TINY_HNET, *_copy(one_run, tmp_path)]  # csv + W&B: both loggers' files must move aside
    (first,) = find_records(tmp_path / "logs")
    run_dir = first["_dir"]
    results = run_dir / "results.json"
    truncated = results.read_bytes()[:300]
    results.write_bytes(truncated)
    dead = {name: _digest(run_dir / "checkpoints" / name) for name in ("best.ckpt", "last.ckpt")}
    old_wandb_id = (run_dir / "wandb_run_id.txt").read_text().strip()

    proc = run_cli(args)

    (warning,) = [
        line for line in proc.stderr.splitlines() if line.startswith("warning: ") and str(run_dir) in line
    ]
    assert "last.ckpt is at the end of training but its record is corrupt" in warning
    assert "training from scratch" in warning
    (record,) = find_records(tmp_path / "logs")
    assert record["status"] == "completed" and record["resumed_from"] is None and record["attempt"] == 2
    assert set(record["metrics"]) == set(first["metrics"])  # every val/* metric, not only the monitored one
    for key, value in first["metrics"].items():
        assert record["metrics"][key] == pytest.approx(value, abs=1e-6), key
    assert record["cost"]["cost/train_s"] > 0 and record["cost"]["cost/samples_per_s"] > 0
    assert record["epochs"] == first["epochs"] == 2

    kept = run_dir / record["set_aside"]
    assert kept.parent == run_dir / "previous" and kept.name.endswith("-finished-unrecorded")
    assert (kept / "results.json").read_bytes() == truncated
    assert {n: _digest(kept / "checkpoints" / n) for n in dead} == dead
    assert (kept / "wandb_run_id.txt").read_text().strip() == old_wandb_id
    assert {p.name for p in kept.iterdir()} >= {"checkpoints", "csv", "wandb", "train.log", ".hydra"}
    assert (run_dir / "wandb_run_id.txt").read_text().strip() != old_wandb_id
    rows = _metric_rows(run_dir)
    assert len([r for r in rows if r.get("test/f1_weighted")]) == 1  # one attempt's test, not two
    assert sorted({r["epoch"] for r in rows if r.get("val/f1_weighted")}) == ["0", "1"]


def _kill_once_checkpointed(command: list[str], log_dir: Path) -> Path:
    """Start `command`, SIGKILL it as soon as its run is `running` with a last.ckpt and metric rows (the
    checkpoint is written before the CSV logger's first flush); the run folder."""

    def checkpointed() -> Path | None:
        for results in log_dir.rglob("results.json"):
            with contextlib.suppress(OSError, ValueError):
                if (
                    json.loads(results.read_text())["status"] == "running"
                    and (results.parent / "checkpoints" / "last.ckpt").exists()
                    and (results.parent / "csv" / "metrics.csv").exists()
                ):
                    return results.parent
        return None

    run_dir = kill_when(command, checkpointed)
    assert run_dir is not None, "the run never had a checkpoint while running"
    return run_dir


def test_a_run_killed_mid_way_and_retrained_keeps_none_of_the_dead_attempts_files(tmp_path: Path) -> None:
    """Kill a run mid-way, delete its last.ckpt, run again."""
    args = [*TINY_CSV, "data.train_per_case=150", "trainer.max_epochs=6", "callbacks.early_stopping=null"]
    args += _paths(tmp_path)
    run_dir = _kill_once_checkpointed([sys.executable, str(ROOT / "train.py"), *args], tmp_path / "logs")
    (run_dir / "checkpoints" / "last.ckpt").unlink()
    dead_best = (run_dir / "checkpoints" / "best.ckpt").read_bytes()
    dead_rows = _metric_rows(run_dir)

    run_cli(args)

    (record,) = find_records(tmp_path / "logs")
    assert record["status"] == "completed" and record["resumed_from"] is None and record["epochs"] == 6
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    best = torch.load(run_dir / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    (callback,) = [v for k, v in best["callbacks"].items() if k.startswith("ModelCheckpoint")]
    assert float(callback["best_model_score"]) == pytest.approx(record["metrics"]["val/f1_weighted"])
    epochs = [r["epoch"] for r in _metric_rows(run_dir) if r.get("val/f1_weighted")]
    assert epochs == [str(e) for e in range(6)]  # this attempt's rows only

    (kept,) = (run_dir / "previous").iterdir()
    assert kept.name.endswith("-running") and record["set_aside"] == f"previous/{kept.name}"
    assert (kept / "checkpoints" / "best.ckpt").read_bytes() == dead_best
    assert _metric_rows(kept) == dead_rows
    assert json.loads((kept / "results.json").read_text())["status"] == "running"
    assert {p.name for p in kept.iterdir()} >= {"checkpoints", "csv", "results.json", ".hydra"}


class PlantedPayload:
    """Unpickling this runs code: it writes the file it names. `weights_only=True` must refuse it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pickled code ran')",))


@pytest.mark.parametrize("fault", ["truncated", "planted"])
def test_an_unreadable_or_unsafe_last_ckpt_is_set_aside_and_the_run_starts_over(
    one_run: Path, tmp_path: Path, fault: str
) -> None:
    """A killed run's last.ckpt is half written, or holds a pickle payload; torch is told to load
    checkpoints unsafely (TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1)."""
    env = cli_env(TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1")
    args = [*TINY_CSV, *_copy(one_run, tmp_path)]  # the logger is not part of the run's identity
    (first,) = find_records(tmp_path / "logs")
    run_dir, marker = first["_dir"], tmp_path / "marker"
    results = run_dir / "results.json"
    results.write_text(json.dumps({**json.loads(results.read_text()), "status": "running"}))  # killed
    last = run_dir / "checkpoints" / "last.ckpt"
    if fault == "truncated":
        last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    else:
        state = torch.load(last, map_location="cpu", weights_only=True)
        torch.save({**state, "payload": PlantedPayload(marker)}, last)
    bad = last.read_bytes()

    proc = run_cli(args, env=env)

    assert not marker.exists()
    (warning,) = [line for line in proc.stderr.splitlines() if "cannot be resumed from" in line]
    assert warning.startswith(f"warning: {run_dir}: checkpoints/last.ckpt cannot be resumed from: ")
    assert (
        "truncated or corrupted" if fault == "truncated" else "pickled objects other than plain data"
    ) in warning
    (record,) = find_records(tmp_path / "logs")
    assert record["status"] == "completed" and record["resumed_from"] is None
    assert record["metrics"] == pytest.approx(first["metrics"])
    kept = run_dir / record["set_aside"]
    assert kept.name.endswith("-unreadable-checkpoint")
    assert (kept / "checkpoints" / "last.ckpt").read_bytes() == bad
    assert "skipped (completed earlier)" in run_cli(args, env=env).stderr  # it does not fail again


def test_lightning_itself_resumes_with_weights_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Trainer's own read of last.ckpt (`fit(ckpt_path=...)`) refuses a planted payload too."""
    from hydra import compose, initialize_config_dir

    from ablab.runs.fit import fit_and_test
    from ablab.runs.identity import register_resolvers

    register_resolvers()
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    overrides = [*TINY_CSV, *_paths(tmp_path), f"paths.output_dir={tmp_path / 'run'}", "variant=v", "study=s"]
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    outcome = fit_and_test(cfg, tmp_path / "run", None)
    assert outcome.epochs == 2
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    state = torch.load(last, map_location="cpu", weights_only=True)
    marker = tmp_path / "marker"
    torch.save({**state, "payload": PlantedPayload(marker)}, last)
    with pytest.raises(Exception, match="Weights only load failed"):
        fit_and_test(cfg, tmp_path / "run", last)
    assert not marker.exists()


def test_skipped_runs_are_left_byte_for_byte_and_dot_hydra_matches_the_record(
    two_seeds: Path, tmp_path: Path
) -> None:
    """A completed sweep is run again under another logger."""
    args = ["-m", "seed=1,2", *TINY_CSV, *_copy(two_seeds, tmp_path)]
    records = find_records(tmp_path / "logs")
    before = {r["_dir"]: _snapshot(r["_dir"]) for r in records}

    again = run_cli([*args, "logger=none"])

    assert "0 completed / 2 skipped / 0 failed / 0 diverged" in again.stderr
    for record in records:
        assert _snapshot(record["_dir"]) == before[record["_dir"]], record["_dir"]
        hydra = (record["_dir"] / ".hydra" / "config.yaml").read_text()
        assert (
            record["choices"]["logger"] == "csv" and "ablab.lightning.loggers.csv_logger.CSVLogger" in hydra
        )
        assert "logger=csv" in (record["_dir"] / ".hydra" / "overrides.yaml").read_text()
        assert "logger=none" not in (record["_dir"] / "train.log").read_text()


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A small tmpfs mounted at `path` (root only); skips the test where mounting is impossible."""
    path.mkdir(parents=True, exist_ok=True)
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mount.stderr.decode().strip() or 'not root'})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(folder: Path) -> Path:
    """Write a file until the file system is full."""
    filler = folder / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as handle:
        while True:
            handle.write(b"\0" * 4096)
            handle.flush()
    return filler


def test_a_disk_that_fills_up_fails_its_runs_with_one_line_and_the_sweep_still_summarises(
    tmp_path: Path,
) -> None:
    """The disk holding a sweep's runs fills up while its first run trains."""
    args = ["-m", "seed=1,2", *TINY_CSV, *_paths(tmp_path)]
    study = tmp_path / "logs" / "hnet"
    variant = "default"  # the sweep varies only the seed: its runs' folders are <study>/default/
    with _tmpfs(study / variant, "2m") as disk:
        command = [sys.executable, str(ROOT / "train.py"), *args]
        proc = subprocess.Popen(
            command, cwd=ROOT, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 120
        while not list(disk.rglob("results.json")) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        filler = _fill(disk)
        _, stderr = proc.communicate(timeout=300)

        assert proc.returncode == 1, stderr[-3000:]
        assert "Traceback" not in stderr
        assert "0 completed / 0 skipped / 2 failed / 0 diverged" in stderr
        problems = [line.strip() for line in stderr.splitlines() if line.strip().startswith("failed: ")]
        assert len(problems) == 2 and "No space left on device" in problems[1]
        failed = [
            line for line in stderr.splitlines() if re.match(r"^\[\d/2\] hnet/default seed \d +failed ", line)
        ]
        assert len(failed) == 2, stderr  # one line per failed run
        (first,) = disk.glob("seed1-*")
        record = json.loads((first / "results.json").read_text())
        assert record["status"] == "failed" and "\n" not in record["error"]["message"]

        filler.unlink()
        done = run_cli(args)
        assert "2 completed / 0 skipped / 0 failed / 0 diverged" in done.stderr
        records = find_records(disk)
        assert [r["status"] for r in records] == ["completed", "completed"]
        kept = first / records[0]["set_aside"]
        assert (
            kept.name.endswith("-failed")
            and json.loads((kept / "results.json").read_text())["status"] == "failed"
        )


def test_a_read_only_run_folder_fails_alone_and_the_sweep_still_summarises(
    two_seeds: Path, tmp_path: Path
) -> None:
    """A study is re-run with force_rerun=true while one of its run folders is read-only."""
    args = ["-m", "seed=1,2", *TINY_CSV, *_copy(two_seeds, tmp_path)]
    records = {r["seed"]: r for r in find_records(tmp_path / "logs")}
    frozen = records[2]["_dir"]
    before = _snapshot(frozen)
    bind = subprocess.run(["mount", "--bind", str(frozen), str(frozen)], capture_output=True)
    if bind.returncode != 0:
        pytest.skip(f"cannot bind-mount here ({bind.stderr.decode().strip() or 'not root'})")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(frozen)], check=True)
        proc = run_cli([*args, "force_rerun=true"], check=False)
    finally:
        subprocess.run(["umount", "-l", str(frozen)], check=False)

    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "1 completed / 0 skipped / 1 failed / 0 diverged" in proc.stderr
    (line,) = [line for line in proc.stderr.splitlines() if line.strip().startswith("failed: ")]
    assert str(frozen) in line and "Read-only file system" in line
    assert not _errors(proc.stderr)  # the study's terminal says it in its run line and its summary
    assert _snapshot(frozen) == before  # untouched, its completed record included
    after = {r["seed"]: r for r in find_records(tmp_path / "logs")}
    assert after[1]["status"] == "completed" and after[1]["attempt"] == 2


def test_a_read_only_log_folder_stops_the_sweep_with_one_line(tmp_path: Path) -> None:
    with _tmpfs(tmp_path / "logs", "1m") as logs:
        subprocess.run(["mount", "-o", "remount,ro", str(logs)], check=True)
        proc = run_cli(["-m", "seed=1,2", *TINY_CSV, *_paths(tmp_path)], check=False)
        assert proc.returncode == 1
        assert (
            proc.stderr.strip()
            .splitlines()[-1]
            .startswith(
                f"error: cannot write to the sweep folder {logs / 'hnet'} (Read-only file system): no run started"
            )
        )
        assert "Traceback" not in proc.stderr and not list(logs.iterdir())


def test_a_secret_typed_as_an_override_lands_in_no_file_no_folder_name_and_no_output(tmp_path: Path) -> None:
    """`+db_password=...` on the command line of a single run and of a sweep, with W&B and the
    printed config tree on."""
    from ablab.lightning.loggers.wandb_file import find_runs, read_run

    secret = "hunter2xyz"
    (tmp_path / "home").mkdir()
    env = cli_env(HOME=str(tmp_path / "home"))
    common = [*TINY_HNET, f"+db_password={secret}", "print_config=true", *_paths(tmp_path)]
    outputs = [run_cli(common, env=env), run_cli(["-m", "seed=1,2", *common], env=env)]

    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".wandb" for p in files) and any(p.suffix == ".ckpt" for p in files)
    assert any(p.name == "multirun.yaml" for p in files) and any(p.name == "train.log" for p in files)
    assert [str(p) for p in files if secret.encode() in p.read_bytes()] == []
    assert [str(p) for p in tmp_path.rglob("*") if secret in p.name] == []
    assert not [o for o in outputs if secret in o.stdout + o.stderr]
    assert "db_password" in outputs[0].stdout  # the tree was printed, its value replaced

    records = find_records(tmp_path / "logs")
    assert len(records) == 3
    for record in records:
        assert "+db_password=<redacted>" in record["overrides"]
        assert "db_password" not in record["_dir"].parent.name  # a secret never names a variant
        assert "db_password: <redacted>" in (record["_dir"] / ".hydra" / "config.yaml").read_text()
        stored = torch.load(
            record["_dir"] / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True
        )
        assert stored["ablab"]["config"]["db_password"] == "<redacted>"
        (folder,) = find_runs(record["_dir"])
        assert read_run(folder).config["db_password"] == "<redacted>"
