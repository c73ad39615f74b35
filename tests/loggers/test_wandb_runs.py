"""W&B through the real CLI: what the offline run files hold, one W&B run per job, resume, secrets,
and no wandb import unless the wandb logger is chosen. Read back with `ablab.lightning.loggers.wandb_file`."""

from __future__ import annotations

import csv
import json
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from ablab.lightning.loggers.wandb_file import OfflineRun, find_runs, read_run
from ablab.runs.tracking import RUN_ID_FILE
from tests.conftest import ROOT, TINY_HNET, cli_env, find_records, run_cli

FAKE_API_KEY = "fake0wandb0api0key0" + "0123456789abcdef" * 2
FAKE_TOKEN = "hub-token-for-ablab-tests-5f3c9a"
# A local config that reads a secret from the environment, as a user's conf/local file might.
SECRET_CONFIG = "# @package _global_\nhub_token: ${oc.env:ABLAB_TEST_HUB_TOKEN}\n"


@dataclass
class Sweep:
    """A 2-job multirun in one process with the default loggers (csv + wandb), then the same sweep
    again after one job was "killed": that one resumes, the other is skipped."""

    base: Path
    records: list[dict]
    runs: dict[Path, OfflineRun]
    csv_rows: dict[Path, list[dict]]
    resumed_dir: Path
    resumed: list[OfflineRun]
    outputs: str


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Sweep:
    base = tmp_path_factory.mktemp("wandb_sweep")
    (base / "conf" / "secrets").mkdir(parents=True)
    (base / "conf" / "secrets" / "hub.yaml").write_text(SECRET_CONFIG)
    (base / "home").mkdir()
    env = cli_env(WANDB_API_KEY=FAKE_API_KEY, ABLAB_TEST_HUB_TOKEN=FAKE_TOKEN, HOME=str(base / "home"))
    env.pop("WANDB_MODE")  # offline must be the config's default, not the test environment's
    args = [
        "-m",
        "model/attention=none,additive",
        *TINY_HNET,
        "trainer.log_every_n_steps=2",
        f"paths.log_dir={base / 'logs'}",
        f"paths.cache_dir={base / 'cache'}",
        f"hydra.searchpath=[file://{base / 'conf'}]",
        "+secrets=hub",
        # Every epoch's checkpoint too, so that the state of a job killed after epoch 0 can be laid out.
        "+callbacks.every_epoch._target_=lightning.pytorch.callbacks.ModelCheckpoint",
        "+callbacks.every_epoch.filename='{epoch}'",
        "+callbacks.every_epoch.save_top_k=-1",
    ]
    first = run_cli(args, env=env)
    records = find_records(base / "logs")
    runs = {r["_dir"]: read_run(folder) for r in records for folder in find_runs(r["_dir"])}
    assert len(runs) == len(records) == 2, list(runs)
    csv_rows = {}
    for record in records:
        with (record["_dir"] / "csv" / "metrics.csv").open() as handle:
            csv_rows[record["_dir"]] = list(csv.DictReader(handle))
    # What a job killed after its first epoch leaves behind: a `running` record beside a last.ckpt of
    # epoch 0 (one at the end of training is retrained from scratch instead: tests/runs).
    (killed,) = [r["_dir"] for r in records if r["choices"]["model/attention"] == "additive"]
    results = killed / "results.json"
    results.write_text(json.dumps({**json.loads(results.read_text()), "status": "running"}))
    (epoch0,) = killed.rglob("epoch=0.ckpt")
    shutil.copyfile(epoch0, killed / "checkpoints" / "last.ckpt")
    second = run_cli(args, env=env)
    resumed = [read_run(folder) for folder in find_runs(killed)]
    outputs = first.stdout + first.stderr + second.stdout + second.stderr
    return Sweep(base, records, runs, csv_rows, killed, resumed, outputs)


def test_each_job_of_a_multirun_in_one_process_ends_its_own_wandb_run(sweep) -> None:
    assert len({run.run_id for run in sweep.runs.values()}) == 2
    for record in sweep.records:
        run = sweep.runs[record["_dir"]]
        assert run.exit_code == 0
        assert (run.project, run.group, run.job_type) == ("ablab", record["study"], "hnet")
        assert run.name == f"{record['variant']}-seed{record['seed']}"
        assert run.path.parent.parent == record["_dir"] / "wandb"  # under the run's own folder
        # this job's history only: two epochs of validation, not four
        assert len(run.metric("val/f1_weighted")) == 2
        assert run.summary["test/f1_weighted"] == pytest.approx(record["metrics"]["test/f1_weighted"])
        assert "proc.memory.rssMB" in run.stats[0]  # W&B's own system metrics (gpu.* on a GPU) stay on


def test_wandb_tags_are_the_variant_and_the_result_changing_overrides(sweep) -> None:
    for record in sweep.records:
        tags = sweep.runs[record["_dir"]].tags
        assert tags[0] == record["variant"][:64]
        attention = f"model/attention={record['choices']['model/attention']}"
        assert {attention, "model.hidden_size=16", "trainer.max_epochs=2", "secrets=hub"} <= set(tags)
        assert not [t for t in tags if t.startswith(("paths.", "print_config", "trainer.enable_progress"))]


def test_wandb_config_holds_the_resolved_config_group_choices_and_hash(sweep) -> None:
    for record in sweep.records:
        config = sweep.runs[record["_dir"]].config
        assert config["config_hash"] == record["config_hash"]
        assert config["hydra_choices"] == record["choices"]
        assert config["overrides"] == record["overrides"]
        assert config["model"]["hidden_size"] == 16 and config["data"]["train_per_case"] == 40
        assert config["paths"]["output_dir"] == str(record["_dir"])  # resolved, not `${hydra:...}`
        assert config["hub_token"] == "<redacted>"
        assert config["versions"] == record["versions"] and config["versions"]["wandb"]
        # the checkout's commit when W&B started (others may commit while the test runs)
        assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", config["git_commit"])


def test_wandb_history_holds_training_validation_and_system_metrics(sweep) -> None:
    for run in sweep.runs.values():
        assert all(v > 0 for v in run.metric("train/loss_step"))
        step_times = run.metric("system/step_time_ms")
        assert len(step_times) >= 4 and all(v > 0 for v in step_times)  # every 2 batches + epoch ends
        assert all(v > 0 for v in run.metric("system/samples_per_s"))
        assert all(0.05 < v < 64 for v in run.metric("system/peak_rss_gb"))
        assert not [k for row in run.history for k in row if k.startswith("system/gpu")]  # CPU: none


def test_wandb_summary_holds_the_recorded_metrics_and_cost(sweep) -> None:
    for record in sweep.records:
        run = sweep.runs[record["_dir"]]
        assert {"test/f1_weighted", "test/loss", "cost/train_s"} <= set(run.summary)
        for key, value in {**record["metrics"], **record["cost"]}.items():
            if value is not None:
                assert run.summary[key] == pytest.approx(value), key
        # the best validation value, not the last epoch's
        assert run.summary["val/f1_weighted"] == pytest.approx(max(run.metric("val/f1_weighted")))


def test_system_metrics_reach_every_logger_and_the_record(sweep) -> None:
    for record in sweep.records:
        rows = sweep.csv_rows[record["_dir"]]
        assert len([r for r in rows if r.get("system/step_time_ms")]) >= 4
        cost = record["cost"]
        assert cost["cost/train_s"] > 0 and cost["cost/latency_ms"] > 0 and cost["cost/samples_per_s"] > 0
        assert cost["cost/params_m"] == pytest.approx(record["params"] / 1e6)
        assert 0.05 < cost["cost/process_rss_gb"] < 64  # this process's RSS: torch alone takes > 50 MB
        assert 0 < cost["cost/model_mem_mb"] < 1000 * cost["cost/process_rss_gb"]  # the model's own part


def test_resumed_run_continues_the_same_wandb_run_and_a_skipped_one_starts_none(sweep) -> None:
    first = sweep.runs[sweep.resumed_dir]
    record = json.loads((sweep.resumed_dir / "results.json").read_text())
    assert record["status"] == "completed" and record["resumed_from"].endswith("last.ckpt")
    assert [run.run_id for run in sweep.resumed] == [first.run_id, first.run_id]
    assert (sweep.resumed_dir / RUN_ID_FILE).read_text().strip() == first.run_id
    assert first.run_id.startswith(record["config_hash"])
    again = sweep.resumed[1]
    assert (again.group, again.name, again.exit_code) == (first.group, first.name, 0)
    assert again.summary["test/f1_weighted"] == pytest.approx(record["metrics"]["test/f1_weighted"])
    (skipped,) = [r["_dir"] for r in sweep.records if r["_dir"] != sweep.resumed_dir]
    assert len(find_runs(skipped)) == 1


def test_no_secret_lands_in_any_file_of_the_runs_or_in_their_output(sweep) -> None:
    secrets = (FAKE_API_KEY.encode(), FAKE_TOKEN.encode())
    files = [p for p in sweep.base.rglob("*") if p.is_file() and not p.is_relative_to(sweep.base / "conf")]
    assert any(p.suffix == ".wandb" for p in files) and any(p.suffix == ".ckpt" for p in files)
    assert not [str(p) for p in files for s in secrets if s in p.read_bytes()]
    assert not any(s.decode() in sweep.outputs for s in secrets)


def test_wandb_keeps_out_of_the_home_folder(sweep) -> None:
    assert not [p for p in (sweep.base / "home").rglob("*") if "wandb" in p.name]
    assert list((sweep.base / "cache" / "wandb").rglob("core-debug-*.log"))  # its cache went here
    assert "nvml" not in sweep.outputs.lower()
    assert "wandb: WARNING" not in sweep.outputs


def _imported_wandb(importtime_stderr: str) -> list[str]:
    """Modules of the wandb package in `python -X importtime` output (lightning's own
    `lightning.pytorch.loggers.wandb` module is not wandb)."""
    return re.findall(r"\|\s+(wandb(?:\.\S+)?)\s*$", importtime_stderr, flags=re.MULTILINE)


def test_csv_and_none_loggers_never_import_wandb(tmp_path) -> None:
    proc = run_cli(
        [
            "-m",
            "logger=csv,none",
            "force_rerun=true",
            *TINY_HNET,
            "trainer.max_epochs=1",
            f"paths.log_dir={tmp_path / 'logs'}",
            f"paths.cache_dir={tmp_path / 'cache'}",
        ],
        program=[sys.executable, "-X", "importtime", str(ROOT / "train.py")],
    )
    # A sweep's jobs write their stderr, and so their import log, into their train.log.
    imports = proc.stderr + "".join(p.read_text() for p in (tmp_path / "logs").rglob("train.log"))
    assert "lightning.pytorch" in imports  # the jobs trained: the import log covers them
    assert _imported_wandb(imports) == []
    (record,) = find_records(tmp_path / "logs")
    assert record["status"] == "completed"
    assert not (record["_dir"] / "wandb").exists() and not (record["_dir"] / RUN_ID_FILE).exists()


def test_printing_the_config_imports_neither_wandb_nor_lightning() -> None:
    proc = run_cli(["--cfg", "job"], program=[sys.executable, "-X", "importtime", str(ROOT / "train.py")])
    assert "ablab.lightning.loggers.wandb.WandbLogger" in proc.stdout  # the default logger includes W&B
    assert _imported_wandb(proc.stderr) == []
    assert "| lightning" not in proc.stderr


def test_report_of_a_study_run_with_wandb_is_logged_to_wandb_unless_told_not_to(sweep, tmp_path) -> None:
    study = sweep.base / "logs" / "hnet-model.attention"
    report = [sys.executable, "-m", "ablab.cli.report"]
    debug_logs = len(list((sweep.base / "cache" / "wandb").rglob("core-debug-*.log")))
    proc = run_cli([str(study), "--out", str(tmp_path / "report")], program=report)
    (folder,) = find_runs(tmp_path / "report")
    assert f"W&B: {folder}" in proc.stdout
    run = read_run(folder)
    assert (run.group, run.job_type, run.exit_code) == ("hnet-model.attention", "report", 0)
    (row,) = run.history
    with (tmp_path / "report" / "comparison_table.csv").open() as handle:
        variants = len(list(csv.DictReader(handle)))
    assert row["report/comparison"]["_type"] == "table-file" and row["report/comparison"]["nrows"] == variants
    plots = {p.stem for p in (tmp_path / "report").glob("*.png")}
    assert plots and {k.removeprefix("plots/") for k in row if k.startswith("plots/")} == plots
    # W&B's cache: the one the runs used, not the home folder or the working folder
    assert len(list((sweep.base / "cache" / "wandb").rglob("core-debug-*.log"))) == debug_logs + 1

    run_cli([str(study), "--out", str(tmp_path / "plain"), "--no-wandb"], program=report)
    assert (tmp_path / "plain" / "report.html").exists() and not (tmp_path / "plain" / "wandb").exists()
