"""Reading files that may be hostile: zip archives and YAML, bounded before they expand.

A 1.5 MB zip can inflate to gigabytes and a 1 kB YAML file with nested aliases to
billions of nodes. Both are measured here from their directories and node graphs,
which cost about as much as the file itself, and refused in one line before
anything is extracted or constructed.
"""

from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path
from typing import Any

from deploykit.errors import InputError

MAX_ZIP_ENTRIES = 100_000
MAX_ZIP_BYTES = 16 * 2**30
# Model weights barely compress; a far higher ratio means a bomb (runs of zeros).
MAX_ZIP_RATIO = 100
ZIP_SLACK_BYTES = 64 * 2**20
MAX_YAML_BYTES = 4 * 2**20
MAX_YAML_NODES = 200_000


def check_zip(
    source: Path | bytes,
    what: str,
    *,
    max_entries: int = MAX_ZIP_ENTRIES,
    max_bytes: int = MAX_ZIP_BYTES,
) -> list[zipfile.ZipInfo]:
    """The entries of a zip archive, after checking that it is small enough to open.

    Args:
        source: the archive's path, or its bytes.
        what: how to name it in messages, e.g. ``"model file m.keras"``.
        max_entries: most entries allowed.
        max_bytes: most uncompressed bytes allowed in total; an archive expanding
            past ``MAX_ZIP_RATIO`` times its own size (plus 64 MiB) is refused too.

    Raises:
        InputError: not a zip, duplicate entry names, or over a cap.
    """
    size = len(source) if isinstance(source, bytes) else source.stat().st_size
    handle = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        with zipfile.ZipFile(handle) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InputError(f"{what} is not a readable zip archive ({exc})") from None
    if len(entries) > max_entries:
        raise InputError(
            f"{what} has {len(entries)} entries, over the limit of {max_entries}",
            "is it really a model file?",
        )
    names = [e.filename for e in entries]
    if len(set(names)) != len(names):
        duplicate = next(n for n in names if names.count(n) > 1)
        raise InputError(
            f"{what} has two entries named {duplicate}", "the archive was tampered with"
        )
    _check_expansion(what, sum(e.file_size for e in entries), size, max_bytes, "a zip bomb")
    return entries


def _check_expansion(what: str, total: int, size: int, max_bytes: int, kind: str) -> None:
    """Refuse a file whose contents expand to ``total`` bytes from its own ``size``.

    The limit is ``max_bytes``, or ``MAX_ZIP_RATIO`` times the file's size plus 64 MiB
    when that is less: weights barely compress, a bomb is mostly nothing.
    """
    limit = min(max_bytes, MAX_ZIP_RATIO * size + ZIP_SLACK_BYTES)
    if total > limit:
        raise InputError(
            f"{what} would expand to {total / 2**20:,.0f} MiB from {size / 2**20:,.1f} MiB "
            f"(limit {limit / 2**20:,.0f} MiB), {kind}",
            "refusing to load it",
        )


def check_h5(
    path: Path,
    what: str,
    *,
    max_objects: int = MAX_ZIP_ENTRIES,
    max_bytes: int = MAX_ZIP_BYTES,
) -> None:
    """Check an HDF5 file (a Keras ``.h5``) from its metadata before anything reads its arrays.

    Keras reads every dataset into memory; a dataset's declared shape costs nothing in
    the file when its chunks are compressed or never written. Each dataset's declared
    bytes are summed (shape times item size, no data read) and capped as zip archives
    are. Links or storage in other files (external links, external or virtual datasets)
    are refused: the model would read files the user did not name.

    Args:
        path: the file.
        what: how to name it in messages, e.g. ``"model file m.h5"``.
        max_objects: most groups, datasets and links allowed.
        max_bytes: most declared dataset bytes allowed in total (and see ``check_zip``).

    Raises:
        InputError: not HDF5, over a cap, or pointing outside itself.
    """
    import h5py

    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"{what} is not a readable HDF5 file ({exc})") from None
    seen = {"objects": 0, "bytes": 0, "outside": None}

    def visit(name: str, link: Any) -> bool | None:
        seen["objects"] += 1
        if seen["objects"] > max_objects:
            return True  # stops the walk
        if isinstance(link, h5py.ExternalLink):
            seen["outside"] = f"{name} links to {link.filename}"
            return True
        node = handle.get(name) if isinstance(link, h5py.HardLink) else None
        if isinstance(node, h5py.Dataset):
            if node.external or node.is_virtual:
                seen["outside"] = f"{name} keeps its data in another file"
                return True
            seen["bytes"] += (
                0 if node.shape is None else math.prod(node.shape)
            ) * node.dtype.itemsize
        return None

    with handle:
        try:
            handle.visititems_links(visit)
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            raise InputError(f"{what} is not a readable HDF5 file ({exc})") from None
    if seen["outside"]:
        raise InputError(f"{what}: {seen['outside']}", "a model file must hold its own weights")
    if seen["objects"] > max_objects:
        raise InputError(f"{what} has over {max_objects} objects", "is it really a model file?")
    _check_expansion(what, seen["bytes"], path.stat().st_size, max_bytes, "an HDF5 bomb")


def load_yaml(path: Path, what: str, max_nodes: int = MAX_YAML_NODES) -> Any:
    """Parse a YAML file with the safe loader, refusing alias bombs and deep nesting.

    Anchors and aliases are allowed; the document is refused when expanding them
    would produce more than ``max_nodes`` nodes, or when it refers to itself.

    Args:
        path: the file (at most 4 MiB).
        what: how to name it in messages, e.g. ``"suite s.yaml"``.
        max_nodes: most nodes the expanded document may have.

    Raises:
        InputError: unreadable, too big, recursive, or a syntax error (with its line).
        yaml.YAMLError: never; syntax errors become InputError.
    """
    import yaml

    if path.stat().st_size > MAX_YAML_BYTES:
        raise InputError(f"{what} is over {MAX_YAML_BYTES // 2**20} MiB", "is it the right file?")
    loader = yaml.SafeLoader(path.read_text(encoding="utf-8"))
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        count = _expanded_size(node, {}, set())
        if count > max_nodes:
            raise InputError(
                f"{what}: aliases expand to {count:,} nodes, over the limit of {max_nodes:,}",
                "write the values out instead of nesting aliases",
            )
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "YAML"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{what}: {where}: {problem}", "fix the YAML syntax") from None
    except RecursionError:
        raise InputError(f"{what} is nested too deeply", "flatten it") from None
    except _SelfReference:
        raise InputError(
            f"{what}: an anchor refers to itself", "remove the recursive alias"
        ) from None
    finally:
        loader.dispose()


class _SelfReference(Exception):
    """An alias inside the node its anchor names."""


def _expanded_size(node: Any, memo: dict[int, int], active: set[int]) -> int:
    """How many nodes ``node`` becomes once every alias is copied out (memoised on the DAG)."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in active:
        raise _SelfReference
    active.add(key)
    total = 1
    if isinstance(node.value, list):
        for child in node.value:
            pairs = child if isinstance(child, tuple) else (child,)
            for part in pairs:
                total += _expanded_size(part, memo, active)
                if total > 2**62:
                    break
    active.discard(key)
    memo[key] = total
    return total
