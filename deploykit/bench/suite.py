"""Benchmark suites: a YAML file naming models, export targets, backends, batch sizes, tolerances.

    name: cpu-smoke
    data: digits            # labelled set for accuracy
    limit: 200              # evaluate on at most N images
    models:                 # registry names, module:factory, or files (relative to the suite)
      - demo_resnet
      - {ref: demo_mobilenet_v2, weights: w.pt, num_classes: 10, source: false}
    exports:                # exported on the fly, cached under OUT/artifacts
      - {target: onnx, precision: fp32}
    backends: [onnxruntime, torch]
    batch: [1, 8]
    threads: 1
    timing: {warmup_iters: 5, warmup_s: 0.1, min_iters: 20, min_s: 0.3, max_s: 10}
    timeout_s: 120
    tolerances: {latency: 0.25, top1_floor: 0.0, alpha: 0.05}
    devices: [desktop-3090, "jetson-*", "orin=orin-nano-*"]   # with --cluster (fleet)
    device_timeout_s: 120

Each model contributes its exports (in order) and, unless ``source: false``,
the source model itself; the first item on its first backend is the reference.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from deploykit.bench.api import BenchConfig, BenchItem
from deploykit.bench.compare import Tolerances
from deploykit.errors import InputError, first_line
from deploykit.fileio import ensure_dir, sha256_file
from deploykit.fleet.request import FleetRequest
from deploykit.manifest import check_bytes, read_manifest
from deploykit.options import from_mapping, join_key, overlay, suite_keys
from deploykit.sources import SourceOptions
from deploykit.sources.base import require_granted_trust
from deploykit.targets import TARGETS

# Keys a suite has besides the BenchConfig options (data, backends, batch, timing, ...).
SUITE_KEYS = ("name", "description", "models", "exports", "tolerances")
# What a device needs to build a TensorRT engine from the shipped ONNX graph (fleet runs).
ENGINE_KEYS = ("precision", "options", "calib", "calib_method")
# Keys of a model entry besides its SourceOptions (num_classes, weights, input_shape, ...).
MODEL_KEYS = ("ref", "source")


@dataclass(frozen=True)
class SuiteModel:
    """One model of a suite: how to load it and whether to bench the source too."""

    ref: str
    options: SourceOptions = field(default_factory=SourceOptions)
    bench_source: bool = True


@dataclass(frozen=True)
class Suite:
    """A validated suite.

    Attributes:
        path: the YAML file.
        name: suite name (default: the file stem).
        models: models to export and bench.
        exports: export requests as dicts (target, precision, opset, calib, ...).
        config: the bench configuration.
        fleet: the fleet devices it runs on when run with ``--cluster``.
    """

    path: Path
    name: str
    models: tuple[SuiteModel, ...]
    exports: tuple[dict[str, Any], ...]
    config: BenchConfig
    fleet: FleetRequest = field(default_factory=FleetRequest)


def load_suite(path: str | Path, overrides: BenchConfig | None = None) -> Suite:
    """Read and validate a suite file.

    Args:
        path: the YAML file.
        overrides: options given on the command line; those changed from their defaults
            win over the suite's.

    Raises:
        InputError: one line naming the file, the key and what is wrong with it.
    """
    import yaml

    from deploykit.untrusted import load_yaml

    path = Path(path)
    where = f"suite {path}:"
    if not path.is_file():
        raise InputError(f"suite {path} does not exist", "check the path")
    try:
        raw = load_yaml(path, f"suite {path}")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}" if mark else "YAML"
        problem = getattr(exc, "problem", None) or first_line(exc)
        raise InputError(f"{where} {line}: {problem}", "fix the YAML syntax") from None
    if not isinstance(raw, dict):
        raise InputError(f"{where} expected a mapping, got {type(raw).__name__} {raw!r}")
    fleet_keys = tuple(suite_keys(FleetRequest))
    allowed = (*SUITE_KEYS, *suite_keys(BenchConfig), *fleet_keys)
    for key in raw:
        if key not in allowed:
            raise InputError(
                f"{join_key(where, key)}: unknown key", f"use one of {', '.join(allowed)}"
            )
    for key in ("name", "description"):
        if key in raw and not isinstance(raw[key], str):
            raise InputError(f"{join_key(where, key)}: expected str, got {raw[key]!r}")
    if not raw.get("models") or not isinstance(raw["models"], list):
        raise InputError(f"{where} models: missing or empty", "list at least one model")
    models = tuple(_model(path, m, f"{where} models[{i}]") for i, m in enumerate(raw["models"]))
    for i, model in enumerate(models):
        require_granted_trust(model.options, overrides and overrides.source, f"{where} models[{i}]")
    exports_raw = raw.get("exports") or []
    if not isinstance(exports_raw, list):
        raise InputError(f"{where} exports: expected a list, got {exports_raw!r}")
    exports = tuple(_export(path, e, f"{where} exports[{i}]") for i, e in enumerate(exports_raw))
    given = raw.get("tolerances") or {}
    tolerances = from_mapping(Tolerances, given, join_key(where, "tolerances"))
    config = from_mapping(
        BenchConfig,
        {k: v for k, v in raw.items() if k not in (*SUITE_KEYS, *fleet_keys)},
        where,
        tolerances={k: getattr(tolerances, k) for k in given},
    )
    config = replace(config, data=_relative(path, config.data))
    if overrides is not None:
        config = overlay(config, overrides)
    fleet = from_mapping(FleetRequest, {k: v for k, v in raw.items() if k in fleet_keys}, where)
    return Suite(path, raw.get("name", path.stem), models, exports, config, fleet)


def _relative(suite: Path, value: str) -> str:
    """Paths in a suite are relative to the suite file; names (digits, resnet18) stay as they are."""
    candidate = suite.parent / value
    return str(candidate) if candidate.exists() and not Path(value).is_absolute() else value


def _model(suite: Path, entry: Any, where: str) -> SuiteModel:
    if isinstance(entry, str):
        entry = {"ref": entry}
    if not isinstance(entry, dict) or "ref" not in entry:
        raise InputError(f"{where}: expected a model name or a mapping with ref", "e.g. - resnet18")
    if not isinstance(entry["ref"], str):
        raise InputError(f"{join_key(where, 'ref')}: expected str, got {entry['ref']!r}")
    bench_source = entry.get("source", True)
    if not isinstance(bench_source, bool):
        raise InputError(f"{join_key(where, 'source')}: expected bool, got {bench_source!r}")
    rest = {k: v for k, v in entry.items() if k not in MODEL_KEYS}
    options = from_mapping(SourceOptions, rest, where)
    if options.weights is not None:
        weights = Path(_relative(suite, str(options.weights)))
        if not weights.is_file():
            raise InputError(f"{join_key(where, 'weights')}: file {weights} not found")
        options = replace(options, weights=weights)
    return SuiteModel(_relative(suite, entry["ref"]), options, bench_source)


def _export(suite: Path, entry: Any, where: str) -> dict[str, Any]:
    """The export's given keys, checked (every key an ExportRequest option a suite may set)."""
    from deploykit.export import ExportRequest

    from_mapping(ExportRequest, entry, where)
    export = dict(entry)
    export.setdefault("target", "onnx")
    export.setdefault("precision", "fp32")
    if "calib" in export:
        export["calib"] = _relative(suite, export["calib"])
    return export


def export_request(export: dict[str, Any], out_dir: Path):
    """The ExportRequest a suite's export entry describes, writing into ``out_dir``."""
    from deploykit.export import ExportRequest

    return from_mapping(ExportRequest, export, "export", out_dir=out_dir)


def cache_key(model: SuiteModel, export: dict[str, Any]) -> str:
    """Hash of what decides an artifact's bytes: source ref, weights hash, export request."""
    from deploykit import __version__

    options = model.options
    payload = {
        "ref": model.ref,
        "ref_sha256": sha256_file(Path(model.ref)) if Path(model.ref).is_file() else None,
        "weights_sha256": sha256_file(options.weights) if options.weights else None,
        "num_classes": options.num_classes,
        "input_shape": list(options.input_shape) if options.input_shape else None,
        "export": export,
        "deploykit": __version__,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def cached_artifact(folder: Path, suffix: str) -> Path | None:
    """The artifact in a cache folder, if a complete one (file plus manifest) is there.

    One whose bytes no longer match its manifest's sha256 is not reused: it is exported again.
    """
    if not folder.is_dir():
        return None
    for path in sorted(folder.glob(f"*{suffix}")):
        manifest = read_manifest(path)
        if manifest is not None and check_bytes(path, manifest, allow_modified=True) is None:
            return path
    return None


def prepare_items(
    suite: Suite,
    out_dir: Path,
    progress: Callable[[str], None] | None = None,
    on_devices: bool = False,
) -> tuple[list[BenchItem], list[dict[str, Any]]]:
    """Export (or reuse) every (model, export) and list the bench items in suite order.

    Args:
        suite: the validated suite.
        out_dir: artifacts are cached under ``out_dir/artifacts``.
        progress: called with a line before each export.
        on_devices: the items run on fleet devices: device-bound targets (TensorRT) are
            exported as their FP32 ONNX graph plus a build request, built on each device.

    Returns:
        the items, and one record per artifact (path, cache key, whether it was reused).
    """
    from deploykit.bench.subjects import load_source
    from deploykit.export import export_model

    items: list[BenchItem] = []
    records: list[dict[str, Any]] = []
    cache = ensure_dir(out_dir / "artifacts")
    for model in suite.models:
        loaded = None
        for wanted in suite.exports:
            export, engine = wanted, None
            if on_devices and TARGETS[wanted["target"]].gpu:
                export = {"target": "onnx", "precision": "fp32"}
                engine = {k: v for k, v in wanted.items() if k in ENGINE_KEYS}
            key = cache_key(model, export)
            folder = (
                cache / f"{Path(model.ref).stem}-{export['target']}-{export['precision']}-{key}"
            )
            artifact = cached_artifact(folder, TARGETS[export["target"]].suffix)
            reused = artifact is not None
            if artifact is None:
                if progress:
                    progress(f"exporting {model.ref} to {export['target']} {export['precision']}")
                loaded = loaded or load_source(model.ref, model.options)
                request = export_request(export, folder)
                artifact = export_model(loaded, request).artifact
            items.append(BenchItem(str(artifact), engine=engine))
            records.append(
                {
                    "model": model.ref,
                    **wanted,
                    "artifact": str(artifact),
                    "cache_key": key,
                    "reused": reused,
                }
            )
        if model.bench_source:
            items.append(BenchItem(model.ref, model.options))
    return items, records
