"""Artifact manifests: the JSON file beside every exported artifact.

A manifest says what the artifact is (target, precision, input spec), where it
came from (source reference and hash, exporter), how well it matched its source
(verification), and what built it (library versions, device). It is the cache
key for device-specific artifacts such as TensorRT engines.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from deploykit.errors import InputError
from deploykit.fileio import sha256_file, write_json_atomic
from deploykit.spec import InputSpec

SCHEMA = "deploykit.manifest/1"

# Distributions whose versions are recorded (looked up without importing them).
TRACKED_LIBRARIES = (
    "deploykit",
    "torch",
    "torchvision",
    "onnx",
    "onnxruntime",
    "onnxruntime-gpu",
    "onnxslim",
    "torch-pruning",
    "tensorflow",
    "keras",
    "ai-edge-litert",
    "tf2onnx",
    "onnx2tf",
    "openvino",
    "nncf",
    "tensorrt",
    "numpy",
)


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries deploykit may use."""
    versions = {"python": platform.python_version()}
    for name in TRACKED_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def manifest_path(artifact: Path) -> Path:
    """Where the manifest of ``artifact`` lives: same folder, same stem, ``.json``.

    A ``.pt2`` keeps its suffix (``model.pt2.json``): exporting ``model.pt2`` to
    ``model.onnx`` in the same folder must not overwrite the program's manifest.
    """
    if artifact.suffix == ".pt2":
        return artifact.with_name(artifact.name + ".json")
    return artifact.with_suffix(".json")


@dataclass
class Manifest:
    """Everything known about one artifact. Extra, target-specific facts go in ``details``.

    ``companions`` maps each file written beside the artifact (OpenVINO's ``.bin``)
    to its sha256, as ``sha256`` does for the artifact itself.
    """

    artifact: str
    target: str
    precision: str
    input: InputSpec
    source: dict[str, Any]
    sha256: str = ""
    size_bytes: int = 0
    exporter: dict[str, Any] = field(default_factory=dict)
    verification: dict[str, Any] | None = None
    calibration: dict[str, Any] | None = None
    device: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    libraries: dict[str, str] = field(default_factory=library_versions)
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())
    num_classes: int | None = None
    companions: dict[str, str] = field(default_factory=dict)
    schema: str = SCHEMA

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["input"] = self.input.to_dict()
        return {"schema": data.pop("schema"), **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["input"] = InputSpec.from_dict(data["input"])
        return cls(**known)

    def write(self, artifact: Path, content: Path | None = None, to: Path | None = None) -> Path:
        """Hash the artifact into the manifest and write the manifest beside it atomically.

        Args:
            artifact: the artifact's final path (names the manifest).
            content: where its bytes are now, when not yet renamed into place.
            to: write the manifest here instead (a temporary from
                :func:`deploykit.fileio.atomic_files`, committed with the artifact).
        """
        content = content or artifact
        self.artifact = artifact.name
        self.sha256 = sha256_file(content)
        self.size_bytes = content.stat().st_size
        if to is not None:
            to.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
            return to
        return write_json_atomic(manifest_path(artifact), self.to_dict())


def read_manifest(artifact: Path) -> Manifest | None:
    """The manifest beside ``artifact``, or None when there is none.

    Raises:
        InputError: when a manifest exists but is not one of ours.
    """
    path = manifest_path(artifact)
    if not path.is_file():
        return None
    hint = "re-export the artifact or delete the manifest"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise TypeError(f"it holds a JSON {type(data).__name__}, not an object")
        if not str(data.get("schema", "")).startswith("deploykit.manifest/"):
            raise KeyError("schema")
        return Manifest.from_dict(data)
    except InputError as exc:  # a field is wrong: say which file
        raise InputError(f"manifest {path}: {exc.message}", exc.hint or hint) from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InputError(f"manifest {path} is unreadable ({exc})", hint) from None


def check_bytes(artifact: Path, manifest: Manifest, allow_modified: bool = False) -> dict | None:
    """Compare an artifact's bytes with the sha256 its manifest recorded (pip's hash checking).

    Args:
        artifact: the artifact file.
        manifest: its manifest.
        allow_modified: accept a mismatch instead of refusing it.

    Returns:
        None when the bytes match (or the manifest records no hash); with
        ``allow_modified``, a record of the mismatch (artifact, recorded, actual) for the results.

    Raises:
        InputError: the bytes differ and ``allow_modified`` is not set.
    """
    if not manifest.sha256:
        return None
    actual = sha256_file(artifact)
    if actual == manifest.sha256:
        return None
    if not allow_modified:
        raise InputError(
            f"{artifact} was modified after export: its sha256 {actual[:12]}... differs from "
            f"{manifest_path(artifact).name}'s {manifest.sha256[:12]}...",
            "re-export it, or pass --allow-modified to use it anyway (recorded in the results)",
        )
    return {"artifact": str(artifact), "recorded": manifest.sha256, "actual": actual}


# The ``details`` entry holding a hash of what wrote a file (its source and settings).
WRITER_KEY = "export_key"


def writer_key(source: dict[str, Any], spec: InputSpec, settings: dict[str, Any]) -> str:
    """A hash of what makes a file: its source (with the weights' hash), input and settings.

    Args:
        source: the source model's provenance (``LoadedModel.source``).
        spec: the source's input spec (another ``--input-shape`` is another file).
        settings: the request fields that change the file's bytes.
    """
    record = {"source": source, "input": spec.to_dict(), "request": settings}
    text = json.dumps(record, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_overwrite(
    final: Path,
    key: str,
    force: bool,
    writer: str = "export",
    hint: str = "pass --force to replace it, or --name to write beside it",
) -> None:
    """Refuse to replace ``final`` when something else wrote it, unless ``force``.

    Re-running the same command (same source, same settings) replaces its own file; a file
    without a manifest, or whose manifest records another :func:`writer_key`, is refused.

    Args:
        final: the file about to be written.
        key: the :func:`writer_key` of what is about to write it.
        force: replace it anyway.
        writer: what writes it, for the message (``export``, ``prune``, ``fine-tune``).
        hint: what the user can do instead.

    Raises:
        InputError: ``final`` exists and another command wrote it.
    """
    if force or not final.exists():
        return
    manifest = read_manifest(final)
    if manifest is not None and manifest.details.get(WRITER_KEY) == key:
        return
    raise InputError(
        f"{final} exists and was written by a different {writer} (another source, weights, "
        "input shape or options)",
        hint,
    )
