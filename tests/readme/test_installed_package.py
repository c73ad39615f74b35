"""The console scripts from an installed, non-editable package: the config tree ships inside it, so a
run works from any folder, with no checkout around."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import cli_env
from tests.readme.conftest import dependency_paths

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(clone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv (on the tests' dependencies) with ablab installed from a wheel built from the clone."""
    base = tmp_path_factory.mktemp("installed")
    python = [str(base / "venv" / "bin" / "python")]
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(base / "venv")], check=True)
    site = subprocess.run(
        [*python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "_ablab_test_dependencies.pth").write_text(dependency_paths())
    wheels = base / "wheels"
    pip = [*python, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(wheels), str(clone)],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("ablab-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True)
    return base / "venv" / "bin"


def test_the_installed_console_scripts_find_their_config_from_any_folder(installed: Path, tmp_path) -> None:
    env = cli_env()
    env.pop("PYTHONPATH", None)
    job = subprocess.run(
        [str(installed / "ablab-train"), "--cfg", "job"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert job.returncode == 0, job.stderr[-3000:]
    assert "ablab.families.hnet.model.HNetGRU" in job.stdout
    where = subprocess.run(
        [str(installed / "python"), "-c", "import ablab; print(ablab.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    assert "site-packages" in where  # the wheel's copy, not a checkout
    tiny = ["data.train_per_case=20", "data.val_per_case=5", "data.test_per_case=5", "++trainer.max_epochs=1"]
    run = subprocess.run(
        [str(installed / "ablab-train"), *tiny, "logger=csv", "print_config=false"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    (results,) = (tmp_path / "logs").rglob("results.json")
    assert json.loads(results.read_text())["status"] == "completed"
    report = subprocess.run(
        [str(installed / "ablab-report"), "logs/hnet", "--no-wandb"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
    )
    assert report.returncode == 0 and (tmp_path / "logs" / "hnet" / "report" / "report.html").is_file()
