"""The README's commands, typed in a fresh clone as a new user types them: no `paths.*` or `hydra.*`
override, only trainer limits appended to shrink a run. Results land under the clone's `./logs/`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.readme.conftest import LIMITS

pytestmark = pytest.mark.slow
SHRINK = " ".join(LIMITS)
README = ROOT / "README.md"


def _records(folder: Path) -> list[dict]:
    out = []
    for path in sorted(folder.rglob("results.json")):
        if "previous" not in path.parts:
            out.append({**json.loads(path.read_text()), "_dir": path.parent})
    return out


def _run_lines(typed_result) -> list[str]:
    return [line for line in typed_result.lines if re.match(r"^\[\d+(-\d+)?/\d+\] ", line)]


@pytest.fixture(scope="module")
def single_run(typed):
    return typed(f"python train.py {SHRINK}")


def test_a_single_run_ends_with_its_metric_and_folder(single_run, clone) -> None:
    result = single_run
    last = result.stderr.strip().splitlines()[-1]
    match = re.fullmatch(r"test/f1_weighted = ([0-9.]+) · results in (logs/hnet/\S+)", last)
    assert match, last
    (record,) = _records(clone / match.group(2))
    assert record["status"] == "completed" and record["study"] == "hnet"
    assert record["metrics"]["test/f1_weighted"] == pytest.approx(float(match.group(1)), abs=1e-4)
    assert (clone / match.group(2) / "train.log").stat().st_size > 0
    assert "HydraConfig was not set" not in result.stdout + result.stderr
    assert "generating HNet train data: 27,000 samples" in result.stderr


def test_a_plain_multirun_is_its_own_study_with_one_line_per_run(typed, clone) -> None:
    result = typed(f"python train.py -m model/attention=none,mha {SHRINK}")
    study = clone / "logs" / "hnet-model.attention"
    records = _records(study)
    assert sorted(r["variant"] for r in records) == ["model.attention=mha", "model.attention=none"]
    assert all(r["status"] == "completed" and r["study"] == "hnet-model.attention" for r in records)
    lines = _run_lines(result)
    assert [line.split()[0] for line in lines] == ["[1/2]", "[2/2]"]
    assert all(" completed test/f1_weighted " in line.replace("  ", " ") for line in lines)
    assert "2 completed / 0 skipped / 0 failed / 0 diverged" in result.stderr
    assert "report: ablab-report logs/hnet-model.attention" in result.stderr
    # The default attention (additive) is not in the sweep: the first value typed is the baseline.
    assert json.loads((study / "study.json").read_text())["baseline"] == "model.attention=none"
    # Nothing a job printed reached the terminal: it is in the runs' train.log.
    assert len(result.lines) < 25, "\n".join(result.lines)
    assert "GPU available" not in result.stderr and "wandb:" not in result.stderr
    for record in records:
        assert "GPU available" in (record["_dir"] / "train.log").read_text()

    seeds = typed(f"python train.py -m model/attention=none,mha seed=1,2,3 {SHRINK}")
    assert "4 completed / 2 skipped / 0 failed / 0 diverged" in seeds.stderr
    assert len(_records(study)) == 6

    report = typed("ablab-report logs/hnet-model.attention")
    assert "baseline: model.attention=none (the sweep's baseline" in report.stdout
    assert (study / "report" / "comparison_table.md").is_file()


def test_a_study_that_chooses_its_seeds_runs_look_by_look_and_says_why_it_stopped(typed, clone) -> None:
    result = typed(f"python train.py -m model/attention=none,mha sweep.seeds=auto {SHRINK}")
    assert result.returncode == 0, result
    assert "seeds: auto, looks at 3, 5, 7, 9, 10 seeds" in result.stderr
    assert (
        "look 1 of 5: seeds up to 3 for the baseline and 1 open comparison(s) (model.attention=mha)"
        in result.stderr
    )
    assert "adaptive seeds: stopped after look" in result.stderr
    study = clone / "logs" / "hnet-model.attention"
    block = json.loads((study / "study.json").read_text())["adaptive"]
    mha = block["variants"]["model.attention=mha"]
    records = [r for r in _records(study) if r["status"] == "completed"]
    seeds = sorted(r["seed"] for r in records if r["variant"] == "model.attention=mha")
    assert seeds == list(range(1, mha["seeds"] + 1)) and block["baseline"]["seeds"] == mha["seeds"]
    assert mha["state"] in ("better", "worse", "equivalent") or mha["seeds"] == 10
    report = typed("ablab-report logs/hnet-model.attention")
    assert "adaptive seeds: stopped on" in report.stdout


@pytest.mark.ray
def test_a_study_runs_as_ray_tasks_on_a_ray_started_for_it(typed, clone, tmp_path) -> None:
    pytest.importorskip("ray", reason="Ray is not installed: make install installs the ray extra")
    # Ray 2.60 writes its authentication token under ~/.ray: a HOME of the test's own.
    result = typed(
        f"python train.py -m model/attention=none,mha hydra/launcher=ray {SHRINK}", HOME=str(tmp_path)
    )
    assert "on Ray" in result.stderr
    # The same runs as the plain multirun's (the launcher is not part of a run's identity): run here or
    # skipped when that test ran first.
    assert re.search(r": (2 completed / 0|0 completed / 2) skipped / 0 failed / 0 diverged", result.stderr)
    records = _records(clone / "logs" / "hnet-model.attention")
    assert {r["variant"] for r in records} >= {"model.attention=mha", "model.attention=none"}
    assert all(r["status"] == "completed" for r in records)


def test_a_search_with_a_pruner_records_its_trials_and_reports_them(typed, clone) -> None:
    command = (
        "python train.py -m hparams_search=hnet_optuna hydra.sweeper.n_trials=4 hydra.sweeper.pruner=median"
    )
    result = typed(f"{command} {SHRINK}")
    study = clone / "logs" / "hnet_optuna"
    records = _records(study)
    assert len(records) == 4 and all(r["status"] in ("completed", "pruned") for r in records)
    assert [r["trial"]["number"] for r in sorted(records, key=lambda r: r["trial"]["number"])] == [0, 1, 2, 3]
    assert "search hnet_optuna: 4 trials" in result.stderr and "best: trial" in result.stderr
    assert (study / "optuna.db").is_file() and (study / "optimization_results.yaml").is_file()
    report = typed("ablab-report logs/hnet_optuna")
    assert (study / "report" / "param_importances.png").is_file(), report.stdout[-2000:]
    assert list((study / "report").glob("axis_*.png"))


@pytest.fixture(scope="module")
def made_sweep(typed):
    """`make sweep` as typed, once: the hnet study in the clone's logs/hnet_ablation."""
    return typed(f'make sweep ARGS="{SHRINK}"', timeout=1500)


def test_make_sweep_runs_the_study_reports_it_and_skips_it_the_second_time(typed, clone, made_sweep) -> None:
    first = made_sweep
    study = clone / "logs" / "hnet_ablation"
    records = _records(study)
    assert len(records) == 27 and all(r["status"] == "completed" for r in records)
    assert "27 completed / 0 skipped / 0 failed / 0 diverged" in first.stderr
    assert len(_run_lines(first)) == 27
    for name in ("comparison_table.csv", "comparison_table.md", "report.html"):
        assert (study / "report" / name).is_file(), name
    assert len(first.lines) < 100, "\n".join(first.lines)

    again = typed(f'make sweep ARGS="{SHRINK}"', timeout=600)
    assert "0 completed / 27 skipped / 0 failed / 0 diverged" in again.stderr
    assert len(again.lines) < 40, "\n".join(again.lines)
    assert {p: p.stat().st_mtime_ns for r in records for p in (r["_dir"] / "checkpoints").iterdir()} == {
        p: p.stat().st_mtime_ns for r in _records(study) for p in (r["_dir"] / "checkpoints").iterdir()
    }

    same = typed(f"python train.py -m sweep=hnet {SHRINK}")
    assert "0 completed / 27 skipped" in same.stderr

    report = typed("make report")
    assert "baseline: baseline" in report.stdout
    assert typed("ablab-report logs/hnet_ablation").returncode == 0


def test_ablab_status_and_the_dashboard_of_the_made_study(typed, clone, made_sweep) -> None:
    status = typed("ablab-status logs/hnet_ablation")
    assert "study hnet_ablation: 27 runs: 27 " in status.stdout  # completed, or skipped by a later sweep
    assert "best so far: " in status.stdout and "every run has ended" in status.stdout
    dashboard = typed("ablab-dashboard logs/hnet_ablation")
    assert (
        "over the 27 W&B runs of group hnet_ablation, grouped by variant; baseline baseline"
        in dashboard.stdout
    )
    view = json.loads((clone / "logs" / "hnet_ablation" / "report" / "wandb_workspace.json").read_text())
    assert view["spec"]["section"]["runSets"][0]["grouping"] == [
        {"section": "config", "name": "variant.value"}
    ]
    again = typed("make dashboard")
    assert "specification: logs/hnet_ablation/report/wandb_workspace.json" in again.stdout


def test_make_sweep_that_cannot_start_says_so_in_one_line_and_reports_nothing(typed, clone) -> None:
    result = typed('make sweep ARGS="model/attention=bogus"', check=False)
    assert result.returncode != 0
    assert "error: the sweep stopped before it ran (see above): no report" in result.stderr
    assert "comparison_table" not in result.stdout


def test_ablab_eval_re_tests_a_checkpoint(typed, clone, single_run) -> None:
    folder = single_run.stderr.strip().splitlines()[-1].rsplit(" ", 1)[-1]
    (record,) = _records(clone / folder)
    result = typed(f"ablab-eval {folder}/checkpoints/best.ckpt")
    metrics = json.loads(result.stdout)
    for key, value in record["metrics"].items():
        if key.startswith("test/"):
            assert metrics[key] == pytest.approx(value, abs=1e-6), key


@pytest.fixture(scope="module")
def hybrid_checkpoint(typed, clone) -> Path:
    typed(f"python train.py experiment=hybrid {SHRINK}")
    (record,) = _records(clone / "logs" / "hybrid")
    return (record["_dir"] / "checkpoints" / "best.ckpt").relative_to(clone)


def test_ablab_eval_predicts_the_rows_of_a_csv(typed, clone, hybrid_checkpoint) -> None:
    """New rows of the hybrid default's data (the motif sequences, fresh ones: another seed)."""
    import pandas as pd

    from ablab.families.hybrid.motifs import CLASSES, generate_motifs

    features, labels, names, _ = generate_motifs(rows=8, seed=123)
    rows = pd.DataFrame(features, columns=names).assign(label=[CLASSES[i] for i in labels])
    rows.to_csv(clone / "rows.csv", index=False)
    typed(f"ablab-eval {hybrid_checkpoint} --predict rows.csv --out predictions.csv")
    predictions = pd.read_csv(clone / "predictions.csv")
    assert len(predictions) == 8
    assert set(predictions["prediction"]) <= set(CLASSES)
    assert {f"p_{name}" for name in CLASSES} <= set(predictions.columns)


def test_ablab_explain_draws_its_figures(typed, clone, hybrid_checkpoint) -> None:
    result = typed(f"ablab-explain {hybrid_checkpoint}", timeout=900)
    run_dir = clone / hybrid_checkpoint.parent.parent
    assert list(run_dir.rglob("*.png")), result


def test_every_command_of_the_readme_is_typed_by_a_test() -> None:
    """A command added to the README needs a test above: the list below must name it."""
    tested = {
        "make sweep",
        "make test",
        "python train.py",
        "python train.py -m model/attention=none,mha",
        "python train.py -m model/attention=none,mha seed=1,2,3",
        "python train.py -m model/attention=none,mha sweep.seeds=auto",
        "python train.py -m sweep=hnet",
        "ablab-report logs/hnet_ablation",
        "make report",
        "ablab-status logs/hnet_ablation",
        "ablab-dashboard logs/hnet_ablation",
        "make dashboard",
        "ablab-eval logs/<study>/<variant>/<run>/checkpoints/best.ckpt",
        "ablab-eval <ckpt> --predict rows.csv --out predictions.csv",
        "ablab-explain <ckpt>",
        "python train.py -m model/attention=none,mha hydra/launcher=ray",
        "python train.py -m hparams_search=hnet_optuna hydra.sweeper.n_trials=4 hydra.sweeper.pruner=median",
        "ablab-report logs/hnet_optuna",
    }
    text = README.read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL)
    commands = {line.split("#")[0].strip() for block in blocks for line in block.splitlines()}
    commands.discard("")
    assert commands <= tested, f"README commands without a typed test: {sorted(commands - tested)}"
