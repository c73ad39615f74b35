"""The house rules of the layout, read from the source: who may import whom, and how big a piece is."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

SRC = ROOT / "src" / "ablab"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 70  # "about 60": a constructor that validates a dozen fields may run a little over
# What a family may import besides itself: the shared layers, never the runner or another family.
FAMILY_MAY_IMPORT = ("ablab.lightning", "ablab.components", "ablab.errors", "ablab.secrets", "ablab.journal")


def _module(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return [n for n in names if n == "ablab" or n.startswith("ablab.")]


SOURCES = sorted(SRC.rglob("*.py"))


def _violations(prefix: str, allowed: tuple[str, ...] = (), forbidden: tuple[str, ...] = ()) -> list[str]:
    out = []
    for path in SOURCES:
        module = _module(path)
        if not module.startswith(prefix):
            continue
        own = ".".join(module.split(".")[:3])  # ablab.families.<name>
        for name in _imports(path):
            if forbidden and name.startswith(forbidden):
                out.append(f"{module} imports {name}")
            if allowed and not name.startswith((*allowed, own)):
                out.append(f"{module} imports {name}")
    return out


def test_a_family_imports_only_lightning_components_and_itself() -> None:
    assert _violations("ablab.families.", allowed=FAMILY_MAY_IMPORT) == []


def test_the_runner_builds_families_through_hydra_and_imports_none() -> None:
    assert _violations("ablab.runs", forbidden=("ablab.families",)) == []


def test_lightning_parts_and_loggers_never_import_the_runner() -> None:
    assert _violations("ablab.lightning", forbidden=("ablab.runs", "ablab.families", "ablab.cli")) == []
    assert _violations("ablab.components", allowed=("ablab.components", "ablab.errors")) == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_or_function_is_too_big_to_read(path: Path) -> None:
    text = path.read_text()
    assert text.count("\n") <= MAX_MODULE_LINES, f"{path.name}: split it by what its parts do"
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{path.name}: {long}"


def test_adding_a_family_is_one_folder_each_family_has_the_same_parts() -> None:
    families = sorted(p for p in (SRC / "families").iterdir() if p.is_dir() and not p.name.startswith("_"))
    assert [f.name for f in families] == ["amp", "hnet", "hybrid", "text2sign"]
    for family in families:
        for part in ("model", "data", "task"):
            assert (family / f"{part}.py").is_file() or (family / part).is_dir(), f"{family.name}: no {part}"
