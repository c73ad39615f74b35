"""A fresh clone of this repository, in which the README's commands run exactly as a new user types them.

The clone gets what `make install` would leave (a `.venv` with the project installed editable, and
the stamp that tells make it is installed) without downloading anything: its venv reads the
dependencies from the venv running the tests and installs the clone's own code. Uncommitted changes of
the working tree are copied over, so a developer tests what they are about to commit; in CI, a clean
clone of main, there are none. No command here gets a `paths.*` or `hydra.*` override: runs are made
small only with trainer limits appended to the command, as the README allows.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, cli_env

# What a user may append to shrink a run: trainer limits only.
LIMITS = [
    "++trainer.max_epochs=1",
    "++trainer.limit_train_batches=2",
    "++trainer.limit_val_batches=2",
    "++trainer.limit_test_batches=2",
]


@dataclass
class Typed:
    """One command as typed, and what it printed."""

    command: str
    returncode: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return (self.stdout + self.stderr).splitlines()

    def __str__(self) -> str:
        return f"$ {self.command}\n(exit {self.returncode})\n{self.stdout[-5000:]}\n{self.stderr[-5000:]}"


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def _copy_uncommitted(clone: Path) -> None:
    """The working tree's changed and new (not ignored) files over the clone; deleted ones removed."""
    for name in _git("ls-files", "--modified", "--others", "--exclude-standard", "-z").split("\0"):
        if not name:
            continue
        source = ROOT / name
        if source.is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    for name in _git("ls-files", "--deleted", "-z").split("\0"):
        if name:
            (clone / name).unlink(missing_ok=True)


def dependency_paths() -> str:
    """The site-packages folders this test run imports from, one per line, for a `.pth` file: plain
    paths, so the `.pth` files inside them (this checkout's editable install) are not processed."""
    paths = [p for p in sys.path if p.endswith("site-packages")] or [sysconfig.get_paths()["purelib"]]
    return "".join(f"{p}\n" for p in dict.fromkeys(paths))


def _install(clone: Path) -> None:
    """`make install`'s result, offline: a venv on the tests' dependencies with the clone installed."""
    venv = clone / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # A plain path line: the dependencies, without the .pth files that install this checkout's ablab.
    Path(site, "_ablab_test_dependencies.pth").write_text(dependency_paths())
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-e",
            ".",
        ],
        cwd=clone,
        check=True,
        capture_output=True,
    )
    (venv / ".installed").touch()


@pytest.fixture(scope="session")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone of the repository, installed as `make install` would."""
    path = tmp_path_factory.mktemp("fresh") / "ablab"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(path)], check=True)
    _copy_uncommitted(path)
    _install(path)
    return path


@pytest.fixture(scope="session")
def typed(clone: Path) -> Callable[..., Typed]:
    """Run a shell command from the clone's root, with `.venv` activated as the README says."""
    env = cli_env()
    env.pop("PYTHONPATH", None)
    env["VIRTUAL_ENV"] = str(clone / ".venv")
    env["PATH"] = f"{clone / '.venv' / 'bin'}{os.pathsep}{env['PATH']}"

    def run(command: str, timeout: float = 900, check: bool = True, **environ: str) -> Typed:
        proc = subprocess.run(
            ["bash", "-c", command],
            cwd=clone,
            env={**env, **environ},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        result = Typed(command, proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            raise AssertionError(f"the README command failed in a fresh clone\n{result}")
        return result

    return run
