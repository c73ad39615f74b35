"""The repository stands alone: no file points at notes or folders outside it."""

from __future__ import annotations

import subprocess

from tests.conftest import ROOT

OUTSIDE = ("../shared", "FACTS.md", "/work/", "shared notes")


def test_no_tracked_file_points_outside_the_repository() -> None:
    names = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    offending = []
    for name in filter(None, names):
        path = ROOT / name
        if name.endswith(__name__.rsplit(".", 1)[-1] + ".py") or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        offending += [f"{name}: {needle}" for needle in OUTSIDE if needle in text]
    assert not offending, offending
