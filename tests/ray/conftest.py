"""A real Ray head node on this machine for the tests marked `ray`: `ray start --head --num-cpus=2`
on a free port of the loopback address, with its own temporary folder and HOME (Ray 2.60 writes a
token for its token authentication under ~/.ray: the sweep must read the same one), stopped at the
end by `ray stop`, the cluster's own command.

`ray stop` stops every Ray process of the machine, so it runs only when every Ray process running is
this cluster's (named by its temporary folder); otherwise this cluster's processes are ended by their
ids. Skips, with the reason, where Ray is not installed or cannot start; with ABLAB_REQUIRE_RAY=1
(.ci/run) that is a failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REQUIRE_ENV = "ABLAB_REQUIRE_RAY"
START_TIMEOUT_S = 180


@dataclass
class RayHead:
    """A running head node: its address and the environment that reaches it."""

    address: str
    temp_dir: Path
    env: dict[str, str]


def _cannot_run(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but the Ray tests cannot run: {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ray_processes() -> dict[int, str]:
    """Every Ray process of the machine (pid -> command line)."""
    import psutil

    found = {}
    for proc in psutil.process_iter(["pid", "cmdline"]):
        line = " ".join(proc.info["cmdline"] or [])
        if "/ray/" in line and ("site-packages/ray" in line or "ray::" in line):
            found[proc.info["pid"]] = line
    return found


def _stop(head: RayHead, ray: Path) -> None:
    ours = {pid for pid, line in ray_processes().items() if str(head.temp_dir) in line}
    if set(ray_processes()) <= ours:
        subprocess.run([str(ray), "stop"], env=head.env, capture_output=True, timeout=120)
        return
    for pid in ours:  # another Ray runs here too: end only this cluster's processes
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue


@pytest.fixture(scope="module")
def ray_head() -> Iterator[RayHead]:
    ray = Path(sys.executable).with_name("ray")
    try:
        import ray as _  # noqa: F401
    except ImportError:
        _cannot_run("Ray is not installed: `make install` installs the ray extra (pip install -e '.[ray]')")
    if not ray.exists():
        _cannot_run(f"no `ray` command beside {sys.executable}")
    # Short: Ray's socket paths under it must fit the 107 characters a Unix socket name allows.
    temp_dir = Path(tempfile.mkdtemp(prefix="ablab-ray-", dir="/tmp"))
    home = temp_dir / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "RAY_USAGE_STATS_ENABLED": "0"}
    port = _free_port()
    head = RayHead(address=f"127.0.0.1:{port}", temp_dir=temp_dir, env=env)
    command = [
        str(ray), "start", "--head", "--num-cpus=2", f"--port={port}", "--node-ip-address=127.0.0.1",
        f"--temp-dir={temp_dir / 'ray'}", "--include-dashboard=false", "--disable-usage-stats",
    ]  # fmt: skip
    try:
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=START_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        _stop(head, ray)
        _cannot_run(f"`ray start --head` did not finish in {START_TIMEOUT_S} s")
    if proc.returncode != 0:
        _stop(head, ray)
        _cannot_run(f"`ray start --head` failed ({proc.returncode}): {proc.stderr.strip()[-1500:]}")
    try:
        yield head
    finally:
        _stop(head, ray)
        shutil.rmtree(temp_dir, ignore_errors=True)
