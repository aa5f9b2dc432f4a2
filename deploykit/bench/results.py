"""The benchmark results schema (``deploykit.bench/2``): cells plus the environment they ran in.

Version 2 adds per-cell memory, accuracy confidence intervals, per-image top-1
correctness (for paired tests) and the paired comparison against the reference.
Version 1 files still load: the new fields are simply absent. Later additions are optional
fields of version 2: each cell's machine-speed ``probe`` and the run's
``config.modified_artifacts``. Every value the gate reads is checked on reading
(:mod:`deploykit.bench.validate`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from deploykit.errors import InputError, first_line
from deploykit.fileio import write_json_atomic

SCHEMA = "deploykit.bench/2"
READABLE_SCHEMAS = ("deploykit.bench/1", SCHEMA)


@dataclass
class Cell:
    """One (item, backend, batch size) measurement.

    Attributes:
        item: what the user passed (artifact path or model reference).
        label: short display name.
        fmt: artifact format (torch, onnx, tflite, engine, keras).
        backend: runner backend; device: where it ran; precision: as recorded.
        batch: batch size of the latency measurement.
        status: ``ok`` or ``failed``.
        error: one line saying why, when failed.
        traceback: the tail of the failing worker's traceback (or of its stderr after a
            crash), when failed; ``deploykit bench --verbose`` prints it.
        size_bytes: artifact size on disk (None for in-memory models).
        runner: what actually ran (threads, providers, delegate...).
        latency: LatencyStats as a dict (``compute`` holds device-compute stats when the
            runner reports them, e.g. GPU time without transfers).
        accuracy: top-1/top-5, their Wilson 95 % intervals, the sample count, packed
            per-image top-1 correctness, and ``vs_reference`` (McNemar paired test).
        fidelity: agreement with the reference cell on the same images.
        speedup: reference p50 latency / this cell's p50 latency at the same batch size.
        memory: peak host RSS of the measuring process (MiB) and GPU memory when known.
        reference: whether this cell belongs to the run's reference (item, backend).
        wall_s: seconds this cell's worker spent (open, accuracy, timing).
        device_name: the fleet device (or device pool) this cell was measured for; None
            for a local run.
        ran_on: the fleet device that measured it (a pool member; else ``device_name``).
        probe: the machine-speed probe (LatencyStats as a dict) timed in this cell's
            process just before it: what the gate normalises the reference cell by.
    """

    item: str
    label: str
    fmt: str
    backend: str
    batch: int
    precision: str = "fp32"
    device: str = "cpu"
    status: str = "ok"
    error: str | None = None
    traceback: str | None = None
    size_bytes: int | None = None
    runner: dict[str, Any] = field(default_factory=dict)
    latency: dict[str, Any] | None = None
    accuracy: dict[str, Any] | None = None
    fidelity: dict[str, Any] | None = None
    speedup: float | None = None
    reference: bool = False
    memory: dict[str, Any] | None = None
    wall_s: float | None = None
    device_name: str | None = None
    ran_on: str | None = None
    probe: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        """Stable identity for comparing runs: (fleet device,) item, backend, precision, batch."""
        key = f"{self.label}|{self.backend}|{self.precision}|b{self.batch}"
        return f"{self.device_name}|{key}" if self.device_name else key


@dataclass
class BenchRun:
    """A whole benchmark run.

    ``devices`` maps each fleet device that measured cells to its environment
    capture (empty for a local run, whose ``environment`` is the machine's own).
    """

    cells: list[Cell]
    environment: dict[str, Any]
    config: dict[str, Any]
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())
    schema: str = SCHEMA
    complete: bool = True
    devices: dict[str, Any] = field(default_factory=dict)

    def fastest(self) -> dict[str, dict[str, Any]]:
        """For each item and batch size, the backend with the lowest p50 latency."""
        best: dict[str, dict[str, Any]] = {}
        for cell in self.cells:
            if cell.status != "ok" or not cell.latency:
                continue
            key = f"{cell.device_name or ''}|{cell.label}|b{cell.batch}"
            if key not in best or cell.latency["p50_ms"] < best[key]["p50_ms"]:
                best[key] = {
                    **({"device": cell.device_name} if cell.device_name else {}),
                    "item": cell.label,
                    "batch": cell.batch,
                    "backend": cell.backend,
                    "p50_ms": cell.latency["p50_ms"],
                }
        return best

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "created": self.created,
            "complete": self.complete,
            "environment": self.environment,
            "config": self.config,
            "cells": [{**asdict(c), "key": c.key} for c in self.cells],
            "fastest": list(self.fastest().values()),
            **({"devices": self.devices} if self.devices else {}),
        }

    def write_json(self, path: Path) -> Path:
        return write_json_atomic(path, self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchRun:
        fields = Cell.__dataclass_fields__
        cells = [Cell(**{k: v for k, v in c.items() if k in fields}) for c in data["cells"]]
        return cls(
            cells,
            data.get("environment", {}),
            data.get("config", {}),
            data.get("created", ""),
            data.get("schema", SCHEMA),
            bool(data.get("complete", True)),
            dict(data.get("devices") or {}),
        )


def read_results(path: Path) -> BenchRun:
    """Load a results file, with a one-line error for anything that is not one.

    Every value the gate reads is checked first (:func:`deploykit.bench.validate.check_results`):
    a malformed file is an :class:`InputError` (exit 2), never a crash or a silent pass.
    """
    from deploykit.bench.validate import check_results

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("schema") not in READABLE_SCHEMAS:
            raise KeyError(f"schema {data.get('schema')!r}, expected one of {READABLE_SCHEMAS}")
        check_results(data, path)
        return BenchRun.from_dict(data)
    except FileNotFoundError:
        raise InputError(f"results file {path} does not exist", "check the path") from None
    except IsADirectoryError:
        raise InputError(f"results file {path} is a directory", "pass a results .json") from None
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as exc:
        reason = first_line(exc)
        raise InputError(
            f"{path} is not a deploykit results file ({type(exc).__name__}: {reason})",
            "pass a file written by `deploykit bench --json`",
        ) from None
