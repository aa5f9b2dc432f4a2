"""Artifacts on the move: packed on the driver, checked (sha256) and cached on the device.

The driver puts each file's bytes into Ray's object store once; every cell that
needs it passes the reference, so a device fetches it once. On arrival the bytes
are hashed again and refused if they differ from what the driver sent, then
kept under ``CACHE/artifacts/SHA256/NAME`` (with the manifest beside it) for the
cells and sweeps that follow.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from deploykit.errors import InputError
from deploykit.fileio import atomic_path, ensure_dir, sha256_file
from deploykit.manifest import manifest_path

CACHE_ENV = "DEPLOYKIT_FLEET_CACHE"


def cache_root() -> Path:
    """Where a device keeps shipped artifacts and built engines (``$DEPLOYKIT_FLEET_CACHE``)."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "deploykit" / "fleet"


@dataclass(frozen=True)
class Packed:
    """What travels with a file besides its bytes.

    Attributes:
        name: the file name (kept, since runners and manifests go by suffix and name).
        sha256: hash of the bytes.
        manifest: the manifest JSON text beside the file, when there is one.
    """

    name: str
    sha256: str
    manifest: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pack(path: Path) -> tuple[Packed, bytes]:
    """Read ``path`` (and its manifest) for shipping; return the description and the bytes."""
    path = Path(path)
    data = path.read_bytes()
    side = manifest_path(path)
    manifest = side.read_text(encoding="utf-8") if side.is_file() else None
    return Packed(path.name, hashlib.sha256(data).hexdigest(), manifest), data


def unpack(packed: dict[str, Any], data: bytes, root: Path) -> Path:
    """Check ``data`` against ``packed['sha256']`` and store it in the cache (once).

    Args:
        packed: :class:`Packed` as a dict.
        data: the bytes as they arrived.
        root: the device's cache folder.

    Raises:
        InputError: when the bytes are not the ones the driver sent.
    """
    expected = packed["sha256"]
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected:
        raise InputError(
            f"{packed['name']} arrived corrupted (sha256 {digest[:12]}..., sent {expected[:12]}...)",
            "rerun the sweep; if it repeats, check the device's memory and network",
        )
    name = Path(packed["name"]).name  # a name, never a path: nothing lands outside the cache
    folder = ensure_dir(root / "artifacts" / expected)
    target = folder / name
    if not target.is_file() or sha256_file(target) != expected:
        with atomic_path(target) as tmp:
            tmp.write_bytes(data)
    if packed.get("manifest") is not None:
        side = manifest_path(target)
        if not side.is_file() or side.read_text(encoding="utf-8") != packed["manifest"]:
            with atomic_path(side) as tmp:
                tmp.write_text(packed["manifest"], encoding="utf-8")
    return target
