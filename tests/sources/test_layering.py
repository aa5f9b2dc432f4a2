"""Imports run one way: registry < sources < zoo's trained models (no package cycle)."""

from __future__ import annotations

import ast
from pathlib import Path

import deploykit

PACKAGE = Path(deploykit.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every ``deploykit...`` module a file imports, at any depth (lazy imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("deploykit")}


def test_sources_never_import_the_zoo():
    for path in sorted((PACKAGE / "sources").glob("*.py")):
        zoo = {m for m in imported_modules(path) if m.startswith("deploykit.zoo")}
        assert not zoo, f"{path.name} imports {zoo}"


def test_the_registry_imports_neither_sources_nor_zoo():
    above = {
        m
        for m in imported_modules(PACKAGE / "registry.py")
        if m.startswith(("deploykit.sources", "deploykit.zoo"))
    }
    assert not above
