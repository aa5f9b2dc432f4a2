"""``layer_report``: per-layer accuracy and latency of one artifact, on every backend asked for.

The reference is the FP32 source: an ONNX file, or any model deploykit loads,
exported to FP32 ONNX with the same exporter as the artifact (so node names
agree). It is kept as ``reference.onnx`` in the output folder, where the rows'
node names can be looked up, and the TFLite overlays are drawn on it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from deploykit.bench.config import runner_options_field
from deploykit.errors import InputError
from deploykit.fileio import ensure_dir, existing_file, sha256_file
from deploykit.layers.graph import Attribution, Graph, check_shared_names
from deploykit.layers.report import LayerReport, LayerRow
from deploykit.options import check_options, option
from deploykit.sources import SourceOptions
from deploykit.spec import InputSpec
from deploykit.targets import check_runner_options

# Backends with a per-layer path: (accuracy, latency) support.
LAYER_BACKENDS = {
    "onnxruntime": (True, True),
    "openvino": (False, True),
    "litert": (True, False),
    "tensorrt": (True, True),
}
# Artifact formats each per-layer path reads: TensorRT builds its engines from the ONNX file
# (marking outputs needs the network), and profiles a given engine as it is.
LAYER_FORMATS = {
    "onnxruntime": ("onnx",),
    "openvino": ("onnx",),
    "litert": ("tflite",),
    "tensorrt": ("onnx", "engine"),
}
REFERENCE_NAME = "reference.onnx"
SMALL_SAMPLES, LARGE_SAMPLES = 32, 8
PREPARING = "reference graph and images"
LITERT_NO_LATENCY = (
    "LiteRT's Python interpreter reports no per-op times (only its benchmark_model binary does)"
)
NO_ACCURACY = {
    "tensorrt": "per-layer TensorRT accuracy rebuilds the engine from the ONNX file with every "
    "layer marked as an output: run `deploykit layers MODEL.onnx --backend tensorrt`",
}
OPENVINO_NO_ACCURACY = (
    "per-layer error is read in ONNX Runtime, which runs the same Q/DQ file; OpenVINO's "
    "fusions hide its intermediate tensors"
)

# Called with (stage, done, total) as work progresses.
Progress = Callable[[str, int, int], None]


def _layer_backends() -> tuple[str, ...]:
    return tuple(LAYER_BACKENDS)


@dataclass(frozen=True)
class LayersRequest:
    """What ``deploykit layers`` measures.

    Attributes:
        reference: the FP32 source the artifact was made from (default: its manifest's source).
        backends: backends to measure on (default: the artifact format's default backend).
        data: images the layers are compared on.
        samples: how many images (default: :func:`default_samples`).
        runs: profiled inferences per backend, at most (timing stops after
            ``latency.TIME_CAP_S`` once ``latency.MIN_RUNS`` are done).
        threads: threads per runtime.
        accuracy: measure per-layer error.
        sensitivity: layers (the worst by local SQNR) kept in FP32 one at a time, each run
            end to end to measure what it recovers (Q/DQ ONNX on onnxruntime; 0: none).
        latency: measure per-layer time.
        top_k: rows printed per table.
        out_dir: folder for ``layers.json``, its renderings and ``reference.onnx``.
        runner_extra: runner options (``reencode``: how an INT8 Q/DQ file is timed).
    """

    reference: str | None = option(
        None, "FP32 source the artifact was exported from (default: its manifest's source)."
    )
    backends: tuple[str, ...] = option(
        (),
        "Backends, comma-separated (default: the artifact's).",
        flag="--backend",
        choices=_layer_backends,
    )
    data: str = option("digits", "Images compared on: digits, an ImageFolder or a .npz.")
    samples: int | None = option(
        None, "How many images (default: 32; 8 for inputs over 64x64 pixels).", min=1
    )
    runs: int = option(
        30, "Profiled inferences per backend (at most: timing stops at 15 s after 10).", min=1
    )
    threads: int | None = option(None, "Threads per runtime.", min=1)
    accuracy: bool = option(True, "Measure per-layer error.", flag="--accuracy/--no-accuracy")
    sensitivity: int = option(
        8,
        "Worst layers (by local SQNR) kept in FP32 one at a time to measure what each "
        "recovers end to end (Q/DQ ONNX on onnxruntime; 0: none).",
        min=0,
        max=50,
    )
    latency: bool = option(True, "Measure per-layer time.", flag="--latency/--no-latency")
    top_k: int = option(10, "Rows printed per table.", min=1)
    out_dir: Path = option(
        Path("layers"), "Folder for layers.json and its renderings.", flag="--out", short="-o"
    )
    runner_extra: dict = runner_options_field()

    def __post_init__(self) -> None:
        check_options(self)
        check_runner_options(self.runner_extra, self.backends)


def _artifact_format(path: Path) -> str:
    from deploykit.targets import format_of

    fmt = format_of(path)
    if fmt not in ("onnx", "tflite", "engine"):
        raise InputError(
            f"{path} is not an exported artifact (.onnx, .tflite or .engine)",
            "pass the file `deploykit export` wrote",
        )
    return fmt


def _backends(fmt: str, wanted: tuple[str, ...]) -> list[str]:
    from deploykit.targets import default_backend

    chosen = list(wanted) or [default_backend(fmt)]
    for name in chosen:
        if fmt not in LAYER_FORMATS.get(name, ()):
            usable = ",".join(b for b, formats in LAYER_FORMATS.items() if fmt in formats)
            raise InputError(
                f"backend {name} cannot run .{fmt} artifacts layer by layer",
                f"for this file use --backend {usable}",
            )
    return chosen


def _reference(ref: str, source: SourceOptions, out_dir: Path) -> tuple[Path, InputSpec]:
    """Write the FP32 reference graph to ``out_dir/reference.onnx``; return it and its spec."""
    from deploykit.export.api import ExportRequest
    from deploykit.export.onnx import export_fp32
    from deploykit.fileio import atomic_path
    from deploykit.sources import load_model

    loaded = load_model(ref, source)
    dest = out_dir / REFERENCE_NAME
    with atomic_path(dest) as tmp:
        if loaded.kind == "onnx":
            shutil.copyfile(loaded.path, tmp)
        else:
            export_fp32(loaded, ExportRequest(target="onnx", out_dir=out_dir), tmp)
    return dest, loaded.spec


def _artifact_spec(path: Path, fmt: str) -> InputSpec | None:
    from deploykit.manifest import read_manifest

    manifest = read_manifest(path)
    if manifest is not None:
        return manifest.input
    if fmt == "onnx":
        from deploykit.sources.onnx import check_onnx, graph_input_shape
        from deploykit.spec import spec_for_shape

        return spec_for_shape(graph_input_shape(check_onnx(path)))
    return None


def _check_specs(artifact: InputSpec | None, reference: InputSpec, what: str) -> None:
    if artifact is not None and tuple(artifact.nchw[1:]) != tuple(reference.nchw[1:]):
        shape = "x".join(map(str, artifact.nchw[1:]))
        ref_shape = "x".join(map(str, reference.nchw[1:]))
        raise InputError(
            f"{what} takes {shape} inputs, the reference takes {ref_shape}",
            "pass the reference the artifact was exported from (and its --input-shape)",
        )


def layer_report(
    artifact: Path,
    request: LayersRequest,
    out_dir: Path | None = None,
    source: SourceOptions | None = None,
    progress: Progress | None = None,
) -> LayerReport:
    """Measure ``artifact`` layer by layer against its FP32 reference; write nothing but
    ``reference.onnx`` (the caller writes the report and its renderings).

    Args:
        artifact: an exported ``.onnx``, ``.tflite`` or ``.engine``.
        request: reference, backends, data and what to measure.
        out_dir: the output folder (default: ``request.out_dir``).
        source: how to load the reference (weights, input shape, trust flags).
        progress: called as stages advance.

    Raises:
        InputError: different input specs, no shared node names, a backend that cannot
            run the artifact, a missing reference.
    """
    from deploykit.manifest import library_versions, read_manifest

    path = existing_file(artifact, "artifact")
    fmt = _artifact_format(path)
    backends = _backends(fmt, request.backends)
    manifest = read_manifest(path)
    ref = request.reference or (manifest.source.get("ref") if manifest else None)
    if not ref:
        raise InputError(f"{path} has no manifest naming its source", "pass --reference MODEL")
    out_dir = ensure_dir(out_dir or request.out_dir)
    say = progress or (lambda _stage, _done, _total: None)
    say(PREPARING, 0, 2)
    reference, spec = _reference(ref, source or SourceOptions(), out_dir)
    artifact_spec = _artifact_spec(path, fmt)
    _check_specs(artifact_spec, spec, str(path))
    source_graph = Graph.load(reference)
    artifact_graph = Graph.load(path) if fmt == "onnx" else None
    if artifact_graph is not None:
        check_shared_names(source_graph, artifact_graph, str(path))
    say(PREPARING, 1, 2)
    images, labels = _images(request, spec)
    say(PREPARING, 2, 2)
    feed = images
    if fmt == "onnx" and artifact_spec is not None and artifact_spec.layout == "NHWC":
        feed = np.ascontiguousarray(images.transpose(0, 2, 3, 1))
    rows = {
        name: LayerRow(name, source_graph.op(name), i)
        for i, name in enumerate(source_graph.layers())
    }
    report = LayerReport(
        artifact={
            "path": str(path),
            "format": fmt,
            "precision": manifest.precision if manifest else None,
            "sha256": sha256_file(path),
        },
        reference={"ref": ref, "onnx": REFERENCE_NAME},
        data={"name": request.data, "samples": len(images)},
        layers=list(rows.values()),
        created=datetime.now(timezone.utc).isoformat(),
        libraries=library_versions(),
    )
    context = _Context(
        path, reference, source_graph, artifact_graph, feed, labels, request, progress
    )
    for backend in backends:
        report.backends[backend] = _measure(backend, context, rows, report)
    return report


def _images(request: LayersRequest, spec: InputSpec) -> tuple[np.ndarray, np.ndarray]:
    """Prepared images and their labels (-1 where unlabelled)."""
    from deploykit.data import load_dataset, prepare

    limit = request.samples or default_samples(spec)
    dataset = load_dataset(request.data, split="test", limit=limit)
    return prepare(dataset.images, spec), dataset.labels


def default_samples(spec: InputSpec) -> int:
    """32 images, or 8 above 64x64 pixels: the probe keeps every tensor of three copies of
    the network, and each FP32-kept variant runs them all (at 224, ~100x the work)."""
    height, width = spec.hw
    return SMALL_SAMPLES if height * width <= 64 * 64 else LARGE_SAMPLES


@dataclass
class _Context:
    artifact: Path
    reference: Path
    source: Graph
    artifact_graph: Graph | None
    images: np.ndarray
    labels: np.ndarray
    request: LayersRequest
    progress: Progress | None

    def attribution(self) -> Attribution:
        return Attribution(self.source, self.artifact_graph)

    def tick(self, stage: str, total: int | None = None) -> Callable[[int], None]:
        total = len(self.images) if total is None else total
        return lambda done: self.progress(stage, done, total) if self.progress else None


def _measure(
    backend: str, ctx: _Context, rows: dict[str, LayerRow], report: LayerReport
) -> dict[str, Any]:
    """Fill ``rows`` with one backend's figures; return its summary for ``report.backends``."""
    from deploykit.layers import measure

    wants_accuracy, wants_latency = LAYER_BACKENDS[backend]
    entry: dict[str, Any] = {"accuracy": None, "latency": None, "notes": []}
    if backend == "tensorrt" and ctx.artifact.suffix != ".onnx":
        wants_accuracy = False  # marking outputs needs the network: give the ONNX file
    if ctx.request.accuracy:
        if wants_accuracy:
            entry["accuracy"] = measure.accuracy(backend, ctx, rows)
        else:
            entry["notes"].append(NO_ACCURACY.get(backend, OPENVINO_NO_ACCURACY))
    if ctx.request.latency:
        if wants_latency:
            entry["latency"], report.unattributed[backend] = measure.latency(backend, ctx, rows)
        else:
            entry["notes"].append(LITERT_NO_LATENCY)
    return entry
