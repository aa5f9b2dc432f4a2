"""Checks every hostile-input test makes: one line, no traceback, nothing left behind."""

from __future__ import annotations

from pathlib import Path

import pytest


def files_under(folder: Path) -> list[Path]:
    """Every file below ``folder`` (empty when it does not exist)."""
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.fixture
def refused(user_error):
    """``refused(result, out_dir, *fragments)``: exit 2, one ``error:`` line holding the
    fragments, no traceback, and no file written under ``out_dir``."""

    def check(result, out_dir: Path, *fragments: str, code: int = 2) -> None:
        user_error(result, *fragments)
        assert result.code == code, result
        assert len((result.stdout + result.stderr).strip().splitlines()) <= 6, result
        assert files_under(out_dir) == [], files_under(out_dir)

    return check
