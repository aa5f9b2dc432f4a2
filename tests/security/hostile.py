"""Builders for hostile files: real archives written by torch, then rewritten by an attacker."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path

Edit = Callable[[bytes], bytes] | bytes | None


class WritesMarker:
    """Unpickling this object creates the file at ``path`` (what a hostile pickle would do)."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def torch_pickle(obj) -> bytes:
    """``torch.save(obj)`` as bytes (the zip-in-zip format torch.export uses)."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def plain_pickle(obj) -> bytes:
    return pickle.dumps(obj)


def save_small_program(path: Path, batch: int | None = None, size: int = 8) -> Path:
    """A real ``torch.export.save`` of a tiny 3 x ``size`` x ``size`` classifier (dynamic
    batch unless ``batch``)."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 10),
    ).eval()
    example = (torch.rand(batch or 2, 3, size, size),)
    dims = None if batch else ({0: torch.export.Dim("batch", min=1, max=64)},)
    torch.export.save(torch.export.export(model, example, dynamic_shapes=dims), str(path))
    return path


def rewrite(src: Path, dst: Path, edits: dict[str, Edit]) -> Path:
    """Copy the zip ``src`` to ``dst``, changing entries by their path under the archive's folder.

    Args:
        edits: entry (without the top folder) -> new bytes, a function of the old
            bytes, or None to drop it; entries not in ``src`` are added.
    """
    with zipfile.ZipFile(src) as zin:
        root = zin.namelist()[0].split("/", 1)[0]
        with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
            seen = set()
            for info in zin.infolist():
                short = info.filename.split("/", 1)[1]
                seen.add(short)
                data = zin.read(info)
                if short in edits:
                    edit = edits[short]
                    if edit is None:
                        continue
                    data = edit(data) if callable(edit) else edit
                zout.writestr(info.filename, data)
            for short, edit in edits.items():
                if short not in seen and isinstance(edit, bytes):
                    zout.writestr(f"{root}/{short}", edit)
    return dst


def edit_json(change: Callable[[dict], None]) -> Callable[[bytes], bytes]:
    """An edit that loads an entry as JSON, lets ``change`` modify it, and writes it back."""

    def apply(data: bytes) -> bytes:
        doc = json.loads(data)
        change(doc)
        return json.dumps(doc).encode()

    return apply
