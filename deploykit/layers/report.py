"""``layers.json``: the versioned per-layer report every rendering is made from.

Schema ``deploykit.layers/1``::

    {"schema": "deploykit.layers/1",
     "artifact": {"path", "format", "precision", "sha256"},
     "reference": {"ref", "onnx"},            # the source graph the rows are keyed by
     "data": {"name", "samples"},
     "backends": {NAME: {"accuracy": {...} | null, "latency": {...} | null, "errors": [...]}},
     "layers": [{"node", "op", "index",
                 "accuracy": {BACKEND: {"sqnr_db", "cosine", "max_abs", "local_sqnr_db",
                                        "local_cosine", "local_max_abs", "local", "members",
                                        "fp32_recovery": {"cosine", "agreement", "top1", "mse",
                                                          "recovered", "agreement_change",
                                                          "top1_change", "kept", "weights"}}},
                 "latency": {BACKEND: {"ms", "share", "members", "kernels", "precision"}}}],
     "unattributed": {BACKEND: {"ms", "share", "kernels", "why"}},
     "created", "libraries"}

``local`` says how the local error was obtained: ``measured`` (the layer run
alone on FP32 inputs) or ``estimated`` (from cumulative errors). ``members``
lists the source nodes a runtime fused into the row's node (its head).
``fp32_recovery`` (Q/DQ ONNX on onnxruntime, the worst layers by local SQNR):
the artifact's output against the FP32 source with that layer (``kept``: it
and the activations fused with it) in FP32; ``recovered`` is the share of the
artifact's cosine gap it closes. The backend's ``accuracy.sensitivity`` holds
the artifact's own figures (``int8``) and how many layers were measured.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploykit.errors import InputError
from deploykit.fileio import write_json_atomic

SCHEMA = "deploykit.layers/1"
REPORT_NAME = "layers.json"


@dataclass
class LayerRow:
    """One source node and what each backend measured for it."""

    node: str
    op: str
    index: int
    accuracy: dict[str, dict[str, Any]] = field(default_factory=dict)
    latency: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "op": self.op,
            "index": self.index,
            "accuracy": self.accuracy,
            "latency": self.latency,
        }


@dataclass
class LayerReport:
    """The whole report (see the module docstring for the JSON form)."""

    artifact: dict[str, Any]
    reference: dict[str, Any]
    data: dict[str, Any]
    layers: list[LayerRow]
    backends: dict[str, dict[str, Any]] = field(default_factory=dict)
    unattributed: dict[str, dict[str, Any]] = field(default_factory=dict)
    created: str = ""
    libraries: dict[str, str] = field(default_factory=dict)

    def row(self, node: str) -> LayerRow | None:
        return next((r for r in self.layers if r.node == node), None)

    def accuracy_backends(self) -> list[str]:
        return [b for b, v in self.backends.items() if v.get("accuracy")]

    def latency_backends(self) -> list[str]:
        return [b for b, v in self.backends.items() if v.get("latency")]

    def to_dict(self) -> dict[str, Any]:
        return _finite(
            {
                "schema": SCHEMA,
                "artifact": self.artifact,
                "reference": self.reference,
                "data": self.data,
                "backends": self.backends,
                "layers": [r.to_dict() for r in self.layers],
                "unattributed": self.unattributed,
                "created": self.created,
                "libraries": self.libraries,
            }
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "layer report") -> LayerReport:
        if not str(data.get("schema", "")).startswith("deploykit.layers/"):
            raise InputError(f"{where} is not a deploykit layer report (no layers schema)")
        if data["schema"] != SCHEMA:
            raise InputError(
                f"{where} has schema {data['schema']}, this deploykit reads {SCHEMA}",
                "re-run `deploykit layers` with this version",
            )
        try:
            rows = [
                LayerRow(r["node"], r["op"], int(r["index"]), r["accuracy"], r["latency"])
                for r in data["layers"]
            ]
            return cls(
                artifact=dict(data["artifact"]),
                reference=dict(data["reference"]),
                data=dict(data["data"]),
                layers=rows,
                backends=dict(data["backends"]),
                unattributed=dict(data.get("unattributed", {})),
                created=str(data.get("created", "")),
                libraries=dict(data.get("libraries", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{where} is malformed ({type(exc).__name__}: {exc})") from None


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def write_report(report: LayerReport, out_dir: Path) -> Path:
    """Write ``layers.json`` into ``out_dir`` atomically."""
    return write_json_atomic(out_dir / REPORT_NAME, report.to_dict())


def read_report(path: Path) -> LayerReport:
    """A ``layers.json`` (or a folder holding one).

    Raises:
        InputError: when it is missing, not JSON, or not a layer report of this schema.
    """
    path = path / REPORT_NAME if path.is_dir() else path
    if not path.is_file():
        raise InputError(f"{path} does not exist", "run `deploykit layers ... -o DIR` first")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path} is not a deploykit layer report")
    return LayerReport.from_dict(data, str(path))


def is_layer_report(path: Path) -> bool:
    """Whether ``path`` holds a layer report (by its schema), without validating the rest."""
    try:
        text = path.read_text(encoding="utf-8")[:200]
    except (OSError, UnicodeDecodeError):
        return False
    return '"deploykit.layers/' in text


def _key(value: float | None, worst_low: bool) -> float:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.inf
    # Rounded to what the table shows, so a tie goes to the earlier layer (where loss begins).
    return round(value, 1) if worst_low else -round(value, 4)


def local_order(rows: list[LayerRow], backend: str) -> list[LayerRow]:
    """Rows with accuracy on ``backend``, lowest local SQNR first."""
    rows = [r for r in rows if backend in r.accuracy]
    return sorted(
        rows, key=lambda r: (_key(r.accuracy[backend].get("local_sqnr_db"), True), r.index)
    )


def recovery(row: LayerRow, backend: str) -> dict[str, Any] | None:
    """What keeping ``row`` in FP32 recovered on ``backend``, when it was measured."""
    return row.accuracy.get(backend, {}).get("fp32_recovery")


def worst_layers(report: LayerReport, backend: str, k: int | None = None) -> list[LayerRow]:
    """The sensitivity ranking on ``backend``: layers measured kept in FP32 first, the one
    whose FP32 copy closes most of the output's cosine gap to the FP32 source leading;
    then the rest by lowest local SQNR."""
    rows = local_order(report.layers, backend)
    measured = [r for r in rows if recovery(r, backend)]
    # By the share of the artifact's cosine gap closed, to the percent; ties keep local order.
    measured.sort(key=lambda r: -round(recovery(r, backend)["recovered"], 2))
    rows = measured + [r for r in rows if not recovery(r, backend)]
    return rows[:k] if k else rows


def slowest_layers(report: LayerReport, backend: str, k: int | None = None) -> list[LayerRow]:
    """Rows with time on ``backend``, slowest first."""
    rows = [r for r in report.layers if r.latency.get(backend, {}).get("ms") is not None]
    rows.sort(key=lambda r: (_key(r.latency[backend]["ms"], False), r.index))
    return rows[:k] if k else rows
