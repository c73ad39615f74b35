"""The README's HNet commands, end to end through the real CLI on tiny configs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, TINY_CSV, cli_env, find_records, run_cli


@pytest.fixture(scope="module")
def attention_sweep(tmp_path_factory) -> tuple[Path, list[dict], list[str]]:
    """`python train.py -m model/attention=none,mha` on a tiny config, as the README shows it."""
    base = tmp_path_factory.mktemp("sweep")
    paths = [f"paths.log_dir={base / 'logs'}", f"paths.cache_dir={base / 'cache'}"]
    run_cli(["-m", "model/attention=none,mha", *TINY_CSV, *paths])
    return base, find_records(base / "logs"), paths


def test_multirun_leaves_one_completed_run_per_attention_choice(attention_sweep) -> None:
    _, records, _ = attention_sweep
    assert sorted(r["choices"]["model/attention"] for r in records) == ["mha", "none"]
    for record in records:
        assert record["status"] == "completed"
        assert record["variant"] == f"model.attention={record['choices']['model/attention']}"
        assert 0.0 <= record["metrics"]["test/f1_weighted"] <= 1.0
        assert record["metrics"]["val/f1_weighted"] > 0
        for key in ("seed", "config_hash", "overrides", "versions", "wall_time_s", "params", "git_commit"):
            assert key in record
        assert record["cost"]["cost/params_m"] == pytest.approx(record["params"] / 1e6)
        cost = record["cost"]
        assert cost["cost/model_mem_mb"] > 0 and cost["cost/process_rss_gb"] > 0 and cost["cost/train_s"] > 0
        assert cost["cost/flops"] > 0 and cost["cost/latency_ms"] > 0 and cost["cost/latency_ms_iqr"] >= 0
        assert (record["_dir"] / record["best_checkpoint"]).is_file()
        assert record["_dir"].name == f"seed1-{record['config_hash']}"
    assert records[0]["config_hash"] != records[1]["config_hash"]


def test_eval_of_a_saved_checkpoint_reproduces_the_test_metrics(attention_sweep, tmp_path) -> None:
    _, records, _ = attention_sweep
    record = records[0]
    out = tmp_path / "eval.json"
    run_cli(
        [str(record["_dir"] / record["best_checkpoint"]), "--out", str(out)],
        program=[sys.executable, "-m", "ablab.cli.eval"],
    )
    metrics = json.loads(out.read_text())
    for key, value in record["metrics"].items():
        if key.startswith("test/"):
            assert metrics[key] == pytest.approx(value, abs=1e-6), key


def test_same_seed_gives_identical_metrics(attention_sweep, tmp_path) -> None:
    _, records, _ = attention_sweep
    run_cli(["model/attention=none", *TINY_CSV, f"paths.log_dir={tmp_path}", f"paths.cache_dir={tmp_path}/c"])
    (again,) = find_records(tmp_path)
    (first,) = [r for r in records if r["choices"]["model/attention"] == "none"]
    assert again["config_hash"] == first["config_hash"]
    assert again["metrics"] == first["metrics"]


def test_rerunning_a_completed_run_skips_it(attention_sweep) -> None:
    _, records, paths = attention_sweep
    checkpoint = records[0]["_dir"] / records[0]["best_checkpoint"]
    stamp = checkpoint.stat().st_mtime_ns
    proc = run_cli(["-m", "model/attention=none,mha", *TINY_CSV, *paths])
    assert "[1-2/2] 2 runs skipped (completed earlier)" in proc.stderr
    assert "0 completed / 2 skipped / 0 failed / 0 diverged" in proc.stderr
    assert checkpoint.stat().st_mtime_ns == stamp


def test_fast_dev_run_completes(run_paths) -> None:
    run_cli(["debug=fast", *TINY_CSV, *run_paths])


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("data.max_len=0", "data.max_len"),
        ("model.hidden_size=0", "model.hidden_size"),
        ("data.train_per_case=-5", "data.train_per_case"),
        ("model/head=none", "model.hidden_size"),
        ("seed=abc", "seed"),
        ("task.optimizer.lr=-1", "task.optimizer.lr"),
    ],
)
def test_invalid_values_fail_with_one_line_before_data_is_generated(override, field, tmp_path) -> None:
    proc = run_cli(
        [
            override,
            "print_config=false",
            f"paths.log_dir={tmp_path}/logs",
            f"paths.cache_dir={tmp_path}/cache",
        ],
        check=False,
    )
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and f"{field}=" in last
    assert [line for line in proc.stderr.splitlines() if line.startswith("error: ")] == [last]  # once
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize(
    ("override", "expected"),
    [("model/attention=transformer", "Available options"), ("model.hiden_size=3", "hiden_size")],
)
def test_unknown_overrides_get_hydras_message(override, expected, tmp_path) -> None:
    proc = run_cli([override, f"paths.log_dir={tmp_path}"], check=False)
    assert proc.returncode != 0
    assert expected in proc.stderr


def test_printing_the_config_imports_no_heavy_library() -> None:
    code = (
        "import sys, runpy; sys.argv=['train.py','--cfg','job']; "
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try: runpy.run_path('train.py', run_name='__main__')\n"
        "    except SystemExit: pass\n"
        "heavy=[m for m in ('lightning','torch','torchmetrics','transformers','wandb') if m in sys.modules]\n"
        "print(heavy)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert proc.stdout.strip().splitlines()[-1] == "[]"
