"""Atomic writes and hashing: nothing half-written is ever left at a user's path."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from deploykit.errors import InputError


def check_file_name(name: str | None, what: str = "name") -> str | None:
    """``name`` if it is a plain file name (no folders, not ``..``), else a one-line error."""
    if name is None:
        return None
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise InputError(
            f"{what} {name!r} is not a plain file name",
            "give a name without folders; choose the folder with -o",
        )
    return name


def ensure_dir(path: Path) -> Path:
    """Create ``path`` as a directory, refusing when a file is in the way."""
    if path.exists() and not path.is_dir():
        raise InputError(f"output directory {path} is a file", "pass a directory with -o")
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def atomic_path(
    final: Path, suffix: str | None = None, companions: tuple[str, ...] = ()
) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it over ``final`` on success.

    On any exception the temporary file is removed and ``final`` is untouched.
    The temporary name keeps the suffix of ``final`` because some writers
    (onnx, TensorFlow) dispatch on it.

    Args:
        final: where the file ends up.
        suffix: suffix of the temporary name (default: ``final``'s).
        companions: suffixes of files the writer puts beside the temporary path
            (same stem), e.g. OpenVINO's ``.bin``: they are renamed beside
            ``final`` first, then ``final`` itself, so the main file never names
            a missing or older companion; on failure they are removed too.
    """
    ensure_dir(final.parent)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{final.stem}.", suffix=suffix or final.suffix or ".tmp", dir=final.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    pairs = [(tmp.with_suffix(s), final.with_suffix(s)) for s in companions]
    try:
        yield tmp
        # mkstemp creates 0600 files; give the artifact the usual umask-based mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        for written, target in pairs:
            os.replace(written, target)
        os.replace(tmp, final)
    finally:
        for path in (tmp, *(written for written, _ in pairs)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def write_text_atomic(final: Path, text: str) -> Path:
    """Write ``text`` to ``final`` atomically."""
    with atomic_path(final) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return final


def write_json_atomic(final: Path, data: Any) -> Path:
    """Write ``data`` as indented JSON to ``final`` atomically."""
    return write_text_atomic(final, json.dumps(data, indent=2, sort_keys=False) + "\n")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def existing_file(path: str | Path, what: str = "file") -> Path:
    """``path`` as a Path, or a one-line error if it is not an existing file."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} {p} does not exist", "check the path")
    if not p.is_file():
        raise InputError(f"{what} {p} is not a file")
    return p
