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

Each model contributes its exports (in order) and, unless ``source: false``,
the source model itself; the first item on its first backend is the reference.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploykit.bench.api import BenchConfig, BenchItem
from deploykit.bench.compare import LATENCY_METRICS
from deploykit.bench.timing import TimingConfig
from deploykit.errors import InputError, first_line
from deploykit.fileio import ensure_dir, sha256_file
from deploykit.manifest import read_manifest
from deploykit.sources import SourceOptions
from deploykit.spec import parse_shape
from deploykit.targets import PRECISIONS, TARGETS, get_backend

TOP_KEYS = {
    "name": str,
    "description": str,
    "data": str,
    "limit": int,
    "models": list,
    "exports": list,
    "backends": list,
    "batch": list,
    "threads": int,
    "timing": dict,
    "timeout_s": (int, float),
    "eval_batch": int,
    "tolerances": dict,
    "runner_extra": dict,
}
MODEL_KEYS = {
    "ref": str,
    "weights": str,
    "num_classes": int,
    "input_shape": str,
    "source": bool,
    "trust_pickle": bool,
}
EXPORT_KEYS = {
    "target": str,
    "precision": str,
    "opset": int,
    "calib": str,
    "calib_method": str,
    "options": dict,
}
TOLERANCE_KEYS = {
    "latency": (int, float),
    "top1_floor": (int, float),
    "alpha": (int, float),
    "latency_metric": str,
}
TIMING_KEYS = {k: (int, float) for k in TimingConfig.__dataclass_fields__}


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
    """

    path: Path
    name: str
    models: tuple[SuiteModel, ...]
    exports: tuple[dict[str, Any], ...]
    config: BenchConfig


class _Checker:
    """Validation with one-line messages naming the file, the key and the bad value."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, problem: str, hint: str | None = None) -> None:
        raise InputError(f"suite {self.path}: {where}: {problem}", hint)

    def mapping(self, value: Any, keys: dict[str, Any], where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(where, f"expected a mapping, got {type(value).__name__} {value!r}")
        for key, item in value.items():
            if key not in keys:
                self.fail(
                    f"{where}.{key}" if where != "top level" else str(key),
                    "unknown key",
                    f"use one of {', '.join(keys)}",
                )
            self.typed(item, keys[key], f"{where}.{key}" if where != "top level" else key)
        return value

    def typed(self, value: Any, kind: Any, where: str) -> None:
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            self.fail(where, f"expected {kinds[0].__name__}, got {value!r}")
        if not isinstance(value, kinds):
            self.fail(where, f"expected {kinds[0].__name__}, got {type(value).__name__} {value!r}")


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite file.

    Raises:
        InputError: one line naming the file, the key and what is wrong with it.
    """
    import yaml

    path = Path(path)
    check = _Checker(path)
    if not path.is_file():
        raise InputError(f"suite {path} does not exist", "check the path")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "YAML"
        problem = getattr(exc, "problem", None) or first_line(exc)
        raise InputError(f"suite {path}: {where}: {problem}", "fix the YAML syntax") from None
    top = check.mapping(raw, TOP_KEYS, "top level")
    if not top.get("models"):
        check.fail("models", "missing or empty", "list at least one model")
    models = tuple(_model(check, m, f"models[{i}]") for i, m in enumerate(top["models"]))
    exports = tuple(
        _export(check, e, f"exports[{i}]") for i, e in enumerate(top.get("exports", []))
    )
    for i, name in enumerate(top.get("backends", [])):
        check.typed(name, str, f"backends[{i}]")
        try:
            get_backend(name)
        except InputError as exc:
            check.fail(f"backends[{i}]", f"unknown backend {name!r}", exc.hint)
    batches = top.get("batch", [1])
    for i, b in enumerate(batches):
        check.typed(b, int, f"batch[{i}]")
        if b < 1:
            check.fail(f"batch[{i}]", f"batch size {b} must be at least 1")
    timing = check.mapping(top.get("timing", {}), TIMING_KEYS, "timing")
    tolerances = check.mapping(top.get("tolerances", {}), TOLERANCE_KEYS, "tolerances")
    metric = tolerances.get("latency_metric", "p50_ms")
    if metric not in LATENCY_METRICS:
        check.fail(
            "tolerances.latency_metric",
            f"unknown metric {metric!r}",
            f"use one of {', '.join(LATENCY_METRICS)}",
        )
    for key, value in tolerances.items():
        if key == "latency_metric":
            continue
        if value < 0 or (key != "latency" and value > 1):
            check.fail(
                f"tolerances.{key}",
                f"{value!r} is out of range",
                "latency is a fraction (0.25 = 25 % slower); top1_floor and alpha are in [0, 1]",
            )
    for key in ("limit", "threads", "eval_batch", "timeout_s"):
        if key in top and top[key] <= 0:
            check.fail(key, f"{top[key]!r} must be positive")
    config = BenchConfig(
        data=_relative(path, top.get("data", "digits")),
        backends=tuple(top.get("backends", [])),
        batch_sizes=tuple(batches),
        threads=top.get("threads"),
        timing=TimingConfig(**timing),
        limit=top.get("limit"),
        eval_batch=top.get("eval_batch", 32),
        runner_extra=dict(top.get("runner_extra", {})),
        timeout_s=float(top.get("timeout_s", 300.0)),
        alpha=float(tolerances.get("alpha", 0.05)),
        tolerances=dict(tolerances),
    )
    return Suite(path, top.get("name", path.stem), models, exports, config)


def _relative(suite: Path, value: str) -> str:
    """Paths in a suite are relative to the suite file; names (digits, resnet18) stay as they are."""
    candidate = suite.parent / value
    return str(candidate) if candidate.exists() and not Path(value).is_absolute() else value


def _model(check: _Checker, entry: Any, where: str) -> SuiteModel:
    if isinstance(entry, str):
        entry = {"ref": entry}
    entry = check.mapping(entry, MODEL_KEYS, where)
    if "ref" not in entry:
        check.fail(f"{where}.ref", "missing", "name a registry model or a file")
    weights = entry.get("weights")
    if weights is not None:
        weights = Path(_relative(check.path, weights))
        if not weights.is_file():
            check.fail(f"{where}.weights", f"file {weights} not found")
    shape = None
    if "input_shape" in entry:
        try:
            shape = parse_shape(entry["input_shape"])
        except InputError as exc:
            check.fail(f"{where}.input_shape", str(exc))
    options = SourceOptions(
        num_classes=entry.get("num_classes"),
        weights=weights,
        input_shape=shape,
        trust_pickle=entry.get("trust_pickle", False),
    )
    return SuiteModel(_relative(check.path, entry["ref"]), options, entry.get("source", True))


def _export(check: _Checker, entry: Any, where: str) -> dict[str, Any]:
    entry = dict(check.mapping(entry, EXPORT_KEYS, where))
    target = entry.get("target")
    if target not in TARGETS:
        check.fail(
            f"{where}.target",
            f"unknown export target {target!r}",
            f"use one of {', '.join(TARGETS)}",
        )
    precision = entry.setdefault("precision", "fp32")
    if precision not in TARGETS[target].precisions:
        check.fail(
            f"{where}.precision",
            f"{target} cannot be exported at {precision!r}",
            f"use one of {', '.join(p for p in PRECISIONS if p in TARGETS[target].precisions)}",
        )
    if "calib" in entry:
        entry["calib"] = _relative(check.path, entry["calib"])
    return entry


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
    """The artifact in a cache folder, if a complete one (file plus manifest) is there."""
    if not folder.is_dir():
        return None
    for path in sorted(folder.glob(f"*{suffix}")):
        if read_manifest(path) is not None:
            return path
    return None


def prepare_items(
    suite: Suite, out_dir: Path, progress: Callable[[str], None] | None = None
) -> tuple[list[BenchItem], list[dict[str, Any]]]:
    """Export (or reuse) every (model, export) and list the bench items in suite order.

    Returns:
        the items, and one record per artifact (path, cache key, whether it was reused).
    """
    from deploykit.bench.subjects import load_source
    from deploykit.export import ExportRequest, export_model

    items: list[BenchItem] = []
    records: list[dict[str, Any]] = []
    cache = ensure_dir(out_dir / "artifacts")
    for model in suite.models:
        loaded = None
        for export in suite.exports:
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
                request = ExportRequest(
                    target=export["target"],
                    precision=export["precision"],
                    out_dir=folder,
                    opset=export.get("opset", 18),
                    calib=Path(export["calib"]) if export.get("calib") else None,
                    calib_method=export.get("calib_method", "minmax"),
                    options=dict(export.get("options", {})),
                )
                artifact = export_model(loaded, request).artifact
            items.append(BenchItem(str(artifact)))
            records.append(
                {
                    "model": model.ref,
                    **export,
                    "artifact": str(artifact),
                    "cache_key": key,
                    "reused": reused,
                }
            )
        if model.bench_source:
            items.append(BenchItem(model.ref, model.options))
    return items, records
