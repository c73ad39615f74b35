"""A pinned library moved: the private API ablab leans on may have changed (ablab.patches says where)."""

from __future__ import annotations

from importlib import metadata

import pytest
from packaging.version import Version

from ablab.patches import PATCHES


@pytest.mark.parametrize("patch", PATCHES, ids=lambda p: p.where)
def test_each_private_api_patch_runs_on_the_version_it_was_written_for(patch) -> None:
    installed = Version(metadata.version(patch.package)).public  # 2.13.0+cpu is 2.13.0
    assert installed == patch.version, (
        f"{patch.where} relies on {patch.package} {patch.version} internals ({patch.internals}) because "
        f"{patch.why}; {installed} is installed: check those internals, then update ablab/patches.py"
    )
