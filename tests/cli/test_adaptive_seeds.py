"""`sweep.seeds=auto` on a real tiny HNet study: a clearly worse variant (no_fc) is decided early and
gets no more seeds, a close one (hidden size 120 against 128) gets more, the baseline runs every seed
any comparison needed; the study killed mid-look and re-run goes on with no completed run redone."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, TINY_CSV, find_records, kill_when, run_cli

# The close variant lives outside the repository, as a user's own ablation would (--config-dir).
HIDDEN_120 = "# @package _global_\n# Hidden size 120 instead of 128: a near-null difference.\nmodel:\n  hidden_size: 120\n"
# The shipped HNet study (two jobs at a time), on three of its variants, at a size of seconds per run;
# looks at 3, 5 and 7 seeds.
STUDY = [
    "-m",
    "sweep=hnet",
    "ablation=hnet/baseline,hnet/no_fc,hnet/hidden_120",
    "sweep.seeds=auto",
    "sweep.seeds_max=7",
    "data.train_per_case=100",
    "data.val_per_case=20",
    "data.test_per_case=20",
    "trainer.max_epochs=3",
    "trainer.enable_progress_bar=false",
    "callbacks.progress_bar=null",
    "print_config=false",
    "logger=csv",
]
LOOK_OF_SEED = {1: 1, 2: 1, 3: 1, 4: 2, 5: 2, 6: 3, 7: 3}


def _command(base: Path, *extra: str) -> list[str]:
    return [
        "--config-dir",
        str(base / "conf"),
        *STUDY,
        f"paths.log_dir={base / 'logs'}",
        f"paths.cache_dir={base / 'cache'}",
        *extra,
    ]


def _completed(log_dir: Path) -> dict[Path, str]:
    out = {}
    for path in log_dir.rglob("results.json"):
        try:
            text = path.read_text()
            if json.loads(text)["status"] == "completed":
                out[path] = text
        except (OSError, ValueError, KeyError):
            continue
    return out


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The study started, SIGKILLed once a run of look 2 has completed, and run again to its end."""
    base = tmp_path_factory.mktemp("adaptive")
    (base / "conf" / "ablation" / "hnet").mkdir(parents=True)
    (base / "conf" / "ablation" / "hnet" / "hidden_120.yaml").write_text(HIDDEN_120)
    command = [sys.executable, str(ROOT / "train.py"), *_command(base)]

    def in_look_2() -> bool:
        return any(json.loads(text).get("look") == 2 for text in _completed(base / "logs").values())

    kill_when(command, in_look_2, timeout=600)
    before = _completed(base / "logs")
    assert any(json.loads(t).get("look") == 2 for t in before.values()), "the study ended before look 2"
    study = base / "logs" / "hnet_ablation"
    interim = json.loads((study / "study.json").read_text())["adaptive"]
    rerun = run_cli(_command(base), timeout=900)
    return {"base": base, "study": study, "before": before, "interim": interim, "rerun": rerun}


def _seeds(study: Path) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for record in find_records(study):
        if record["status"] == "completed":
            out.setdefault(record["variant"], []).append(record["seed"])
    return {k: sorted(v) for k, v in out.items()}


def test_the_worse_variant_is_decided_early_and_gets_no_more_seeds(killed_and_resumed) -> None:
    block = json.loads((killed_and_resumed["study"] / "study.json").read_text())["adaptive"]
    no_fc = block["variants"]["no_fc"]
    assert no_fc["state"] == "worse" and no_fc["look"] < 3
    seeds = _seeds(killed_and_resumed["study"])
    # exactly the seeds of the look that decided it: none after
    assert seeds["no_fc"] == list(range(1, (3, 5)[no_fc["look"] - 1] + 1))
    assert no_fc["seeds"] == len(seeds["no_fc"])


def test_the_close_variant_gets_more_seeds_and_the_baseline_every_seed_needed(killed_and_resumed) -> None:
    block = json.loads((killed_and_resumed["study"] / "study.json").read_text())["adaptive"]
    seeds = _seeds(killed_and_resumed["study"])
    assert len(seeds["hidden_120"]) > len(seeds["no_fc"])
    close = block["variants"]["hidden_120"]
    assert (close["state"] == "undecided" and close["seeds"] == 7) or close["look"] > block["variants"][
        "no_fc"
    ]["look"]
    assert seeds["baseline"] == list(range(1, max(len(s) for s in seeds.values()) + 1))
    assert block["baseline"] == {"name": "baseline", "seeds": len(seeds["baseline"])}
    assert block["stopped"] in ("decided", "seeds_max") and block["design"]["looks"] == [3, 5, 7]
    assert block["runs"] == sum(len(s) for s in seeds.values())


def test_every_record_says_which_look_it_belongs_to(killed_and_resumed) -> None:
    records = [r for r in find_records(killed_and_resumed["study"]) if r["status"] == "completed"]
    assert records and all(r["look"] == LOOK_OF_SEED[r["seed"]] for r in records)


def test_the_killed_study_goes_on_with_no_completed_run_redone(killed_and_resumed) -> None:
    before, rerun = killed_and_resumed["before"], killed_and_resumed["rerun"]
    for path, text in before.items():  # byte for byte: not retrained, not rewritten
        assert path.read_text() == text, path
    assert f"{len(before)} skipped" in rerun.stderr
    # the record written after look 1 said where it stood: look 1 done, the open comparisons going on
    assert (
        killed_and_resumed["interim"]["stopped"] == "running" and killed_and_resumed["interim"]["looks"] >= 1
    )
    assert "adaptive seeds: stopped after look" in rerun.stderr
    # sweep=hnet lists seeds 1, 2, 3: the design numbers its own, and says so
    assert "the sweep's seed axis (seed=1,2,3) is left out" in rerun.stderr


def test_the_report_gives_the_sequential_verdicts_and_the_seeds(killed_and_resumed) -> None:
    study = killed_and_resumed["study"]
    proc = run_cli([str(study)], program=[str(Path(sys.executable).parent / "ablab-report")])
    assert "adaptive seeds: stopped on" in proc.stdout
    assert "no_fc" in proc.stdout and "worse (sequential: look" in proc.stdout
    csv = (study / "report" / "comparison_table.csv").read_text()
    assert "p_sequential" in csv.splitlines()[0]


def test_a_run_budget_stops_the_study_before_the_look_that_would_pass_it(
    killed_and_resumed, tmp_path
) -> None:
    # a copy of the finished study, re-run with a budget of 12 runs: look 1 (9 runs, all completed
    # earlier) fits, look 2 (6 more) would pass it
    base = tmp_path / "budget"
    shutil.copytree(killed_and_resumed["base"], base)
    proc = run_cli(_command(base, "sweep.budget_runs=12"))
    assert "the run budget (12 runs) would be passed by the next look" in proc.stderr
    block = json.loads((base / "logs" / "hnet_ablation" / "study.json").read_text())["adaptive"]
    assert block["stopped"] == "budget_runs" and block["runs"] == 9
    assert "budget" in block["variants"]["hidden_120"]["why"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("sweep.seeds=some", "sweep.seeds='some' is invalid: use sweep.seeds=fixed"),
        ("sweep.seeds_initial=1", "need 2 <= seeds_initial <= seeds_max"),
    ],
)
def test_a_bad_setting_is_one_line_before_any_run(  # the others: tests/search/test_adaptive_settings.py
    tmp_path, override: str, message: str
) -> None:
    proc = run_cli(
        [
            "-m",
            "ablation=hnet/baseline,hnet/no_fc",
            "sweep.seeds=auto",
            override,
            f"paths.log_dir={tmp_path}",
        ],
        check=False,
    )
    assert proc.returncode == 2 and message in proc.stderr
    assert "Traceback" not in proc.stderr and not list(tmp_path.rglob("results.json"))


def test_a_sweep_of_seeds_alone_has_nothing_to_compare(tmp_path) -> None:
    proc = run_cli(["-m", "seed=1,2", "sweep.seeds=auto", f"paths.log_dir={tmp_path}"], check=False)
    assert proc.returncode == 2 and "varies nothing but seeds" in proc.stderr


def test_a_failed_run_stops_the_study_after_its_look(tmp_path) -> None:
    # model.gru_layers=0 fails in every run: its comparison can never be judged, so no look follows
    proc = run_cli(
        ["-m", "model.gru_layers=1,0", "sweep.seeds=auto", *TINY_CSV, f"paths.log_dir={tmp_path}"],
        check=False,
    )
    assert proc.returncode == 1 and "runs failed; re-run the same command to retry them" in proc.stderr
    block = json.loads((tmp_path / "hnet-model.gru_layers" / "study.json").read_text())["adaptive"]
    assert block["stopped"] == "failed runs" and block["looks"] == 0 and len(block["failed"]) == 3
    assert block["baseline"] == {"name": "model.gru_layers=1", "seeds": 3}
