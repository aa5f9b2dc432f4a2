"""Atomic writes and hashing: nothing half-written is ever left at a user's path.

Every temporary file or folder deploykit makes beside an output is named
``.deploykit-<pid>-...``: when a run is killed (SIGKILL, power loss) the next run
that writes to the same folder removes what the dead process left
(:func:`remove_stale_temporaries`, called by :func:`ensure_dir`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from deploykit.errors import DeployKitError, InputError

TEMP_PREFIX = ".deploykit-"
# Run start: temporaries newer than this may belong to a process with a reused pid.
_STARTED = time.time()
_STALE = re.compile(r"^(\.deploykit-|deploykit-|\.build\.)(\d+)-")
# errno -> what to tell the user when a write fails for lack of room or permission.
_WRITE_FAILURES = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large (a file-size limit such as ulimit -f)",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}


class WriteError(DeployKitError):
    """An output could not be written (full disk, size limit, read-only folder)."""


def write_failure(exc: OSError, target: Path | str | None = None) -> WriteError | None:
    """A one-line :class:`WriteError` for a failed write, or None for other OS errors.

    Args:
        exc: the error raised while writing.
        target: the file being written (default: the error's own file name).
    """
    why = _WRITE_FAILURES.get(exc.errno or 0)
    if why is None:
        return None
    where = target or exc.filename or "the output"
    return WriteError(f"{why} while writing {where}", "free space or choose another -o folder")


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
    """Create ``path`` as a directory, refusing when a file is in the way.

    Temporaries a killed deploykit run left in it are removed.
    """
    if path.exists() and not path.is_dir():
        raise InputError(f"output directory {path} is a file", "pass a directory with -o")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_failure(exc, path) or exc from None
    remove_stale_temporaries(path)
    return path


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove ``.deploykit-<pid>-*`` entries of processes that are gone; return what went.

    Only entries older than this process's start and whose process no longer
    exists are touched, so a concurrent run in the same folder keeps its files.
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _STALE.match(entry.name)
        if not match or _alive(int(match.group(2))):
            continue
        with contextlib.suppress(OSError):
            if entry.stat(follow_symlinks=False).st_mtime >= _STARTED:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def temp_name(label: str) -> str:
    """A temporary-name prefix for this process: ``.deploykit-<pid>-<label>.``."""
    return f"{TEMP_PREFIX}{os.getpid()}-{label}."


def temp_dir(folder: Path | None = None, label: str = "work") -> tempfile.TemporaryDirectory:
    """A temporary folder in ``folder`` (default: the system's) that a later run can clean."""
    if folder is None:
        return tempfile.TemporaryDirectory(prefix=f"deploykit-{os.getpid()}-{label}-")
    return tempfile.TemporaryDirectory(prefix=temp_name(label), dir=folder)


def refuse_overwriting_inputs(outputs: Iterable[Path | None], inputs: Iterable[Path | str]) -> None:
    """Refuse an output path that is one of the inputs (same file, however it is spelt).

    Args:
        outputs: paths about to be written; None entries are skipped.
        inputs: files being read (model artifacts, data, baselines); non-paths are skipped.

    Raises:
        InputError: naming the output and the input it would destroy.
    """
    existing = []
    for item in inputs:
        path = Path(item)
        if path.exists():
            existing.append(path)
    for out in outputs:
        if out is None:
            continue
        for path in existing:
            same = Path(out).exists() and os.path.samefile(out, path)
            if same or Path(out).resolve() == path.resolve():
                raise InputError(
                    f"output {out} is the input {path}", "write the results somewhere else"
                )


def _mode_for_new_file(path: Path) -> None:
    """mkstemp creates 0600 files; give the artifact the usual umask-based mode."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _temp_file(final: Path, suffix: str | None) -> Path:
    ensure_dir(final.parent)
    try:
        fd, name = tempfile.mkstemp(
            prefix=temp_name(final.stem),
            suffix=suffix or final.suffix or ".tmp",
            dir=final.parent,
        )
    except OSError as exc:
        raise write_failure(exc, final) or exc from None
    os.close(fd)
    return Path(name)


@contextlib.contextmanager
def atomic_files(
    *finals: Path, suffix: str | None = None, companions: tuple[str, ...] = ()
) -> Iterator[list[Path]]:
    """Temporary paths beside ``finals``, renamed over them together on success, or none is.

    On any exception the temporaries are removed and every final path is untouched.
    When a rename fails part-way, the files already replaced are restored. Temporary
    names keep each final's suffix because some writers (onnx, TensorFlow) dispatch on it.

    Args:
        finals: the paths to write, e.g. an artifact and its manifest.
        suffix: suffix for the first temporary (default: its final's).
        companions: suffixes of files the writer puts beside the first temporary (same
            stem), e.g. OpenVINO's ``.bin``: renamed beside the first final before it, so
            the main file never names a missing or older companion.

    Raises:
        WriteError: no space, a size limit or a read-only folder (one line, naming the file).
    """
    temps: list[Path] = []
    extra: list[tuple[Path, Path]] = []
    try:
        for i, final in enumerate(finals):
            temps.append(_temp_file(final, suffix if i == 0 else None))
        extra = [(temps[0].with_suffix(s), finals[0].with_suffix(s)) for s in companions]
        try:
            yield temps
        except OSError as exc:
            raise write_failure(exc, finals[0]) or exc from None
        _commit([*extra, *zip(temps, finals, strict=True)])
    finally:
        for tmp in (*temps, *(written for written, _ in extra)):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def _commit(pairs: list[tuple[Path, Path]]) -> None:
    """Rename each temporary over its final path; undo them all if one fails."""
    for _, final in pairs:
        if final.is_dir():
            raise InputError(f"{final} is a folder", "remove it or choose another name")
    done: list[tuple[Path, Path | None]] = []  # (final, backup of what it replaced)
    try:
        for tmp, final in pairs:
            _mode_for_new_file(tmp)
            backup = None
            if final.exists():  # a second name for the old file; the final is never missing
                backup = final.with_name(temp_name(final.stem) + "old")
                try:
                    os.link(final, backup)
                except OSError:
                    shutil.copy2(final, backup)
            done.append((final, backup))
            os.replace(tmp, final)
    except OSError as exc:
        for final, backup in reversed(done):
            with contextlib.suppress(OSError):
                if backup is not None:
                    os.replace(backup, final)
                elif final.exists():
                    final.unlink()
        raise write_failure(exc, pairs[len(done) - 1][1] if done else None) or exc from None
    for _, backup in done:
        if backup is not None:
            with contextlib.suppress(OSError):
                backup.unlink()


@contextlib.contextmanager
def atomic_path(
    final: Path, suffix: str | None = None, companions: tuple[str, ...] = ()
) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it over ``final`` on success.

    On any exception the temporary file is removed and ``final`` is untouched.

    Args:
        final: the path to write.
        suffix: the temporary's suffix (default: ``final``'s).
        companions: suffixes of files written beside it (see :func:`atomic_files`).
    """
    with atomic_files(final, suffix=suffix, companions=companions) as (tmp,):
        yield tmp


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
