"""One backend's per-layer figures, written into the report's rows.

Accuracy: ONNX Runtime measures cumulative and local error with its probe
model; LiteRT and TensorRT give cumulative error, and the local error of each
layer is then estimated from the cumulative errors of the layers feeding it.
Latency: each runtime's profile is attributed to source nodes
(:func:`deploykit.layers.latency.attribute`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from deploykit.layers.graph import Graph
from deploykit.layers.metrics import MAX_SQNR_DB, ErrorStats, estimated_local_db

if TYPE_CHECKING:
    from deploykit.layers.api import _Context
    from deploykit.layers.report import LayerRow

ORT_METHOD = (
    "ONNX Runtime on a probe model: the FP32 graph, the artifact, and each layer alone on "
    "FP32 inputs; Q/DQ pairs on compared tensors run unfused (dequantize, float op, quantize)"
)
LITERT_METHOD = (
    "LiteRT with experimental_preserve_all_tensors and no delegate; tensors matched to source "
    "nodes by structure, shape and op kind; local error estimated from cumulative errors"
)
TENSORRT_METHOD = (
    "TensorRT with every compared tensor marked as an engine output (Polygraphy-style); "
    "marking outputs changes TensorRT's fusions, so the engine measured is not the one deployed"
)


def accuracy(backend: str, ctx: _Context, rows: dict[str, LayerRow]) -> dict[str, Any]:
    """Per-layer error on ``backend``; returns the backend's accuracy summary."""
    tick = ctx.tick(f"{backend} accuracy")
    threads = ctx.request.threads
    if backend == "onnxruntime":
        from deploykit.layers.onnx_accuracy import onnx_layer_errors

        found = onnx_layer_errors(
            ctx.reference, ctx.artifact, ctx.images, threads=threads, progress=tick
        )
        for node, stats in found.cumulative.items():
            _fill(rows[node], backend, stats, found.local[node], "measured")
        summary = {"method": ORT_METHOD, "local": "measured", "not_compared": found.missing}
        if ctx.request.sensitivity:
            summary["sensitivity"] = _recovery(ctx, rows, backend)
        return summary
    if backend == "litert":
        from deploykit.layers.tflite_accuracy import tflite_layer_errors

        found = tflite_layer_errors(
            ctx.reference, ctx.artifact, ctx.images, threads=threads, progress=tick
        )
        method, members, unmatched = LITERT_METHOD, found.members, found.unmatched
    else:
        from deploykit.layers.tensorrt_layers import tensorrt_layer_errors

        found = tensorrt_layer_errors(ctx.reference, ctx.artifact, ctx.images, progress=tick)
        method, members, unmatched = TENSORRT_METHOD, {}, found.unmatched
    for node, stats in found.cumulative.items():
        _fill(rows[node], backend, stats, None, "estimated", members.get(node, []))
    _estimate_local(ctx.source, rows, backend)
    return {"method": method, "local": "estimated", "unmatched": unmatched}


def _recovery(ctx: _Context, rows: dict[str, LayerRow], backend: str) -> dict[str, Any] | None:
    """Keep the worst layers by local SQNR in FP32 one at a time (Q/DQ artifacts only)."""
    import onnx

    from deploykit.layers import recovery
    from deploykit.layers.report import local_order

    artifact = onnx.load(str(ctx.artifact))
    if not recovery.is_qdq(artifact):
        return None
    ranked = [r.node for r in local_order(list(rows.values()), backend)]
    units = recovery.candidates(ctx.source, ranked, ctx.request.sensitivity)
    tick = ctx.tick(f"{backend} FP32 recovery", len(units))
    figures, summary = recovery.measure_recovery(
        artifact,
        onnx.load(str(ctx.reference)),
        units,
        ctx.images,
        ctx.labels,
        ctx.request.threads,
        tick,
    )
    for head, entry in figures.items():
        rows[head].accuracy[backend]["fp32_recovery"] = entry
    return summary


def _fill(
    row: LayerRow,
    backend: str,
    cumulative: ErrorStats,
    local: ErrorStats | None,
    how: str,
    members: list[str] | None = None,
) -> None:
    figures = cumulative.summary()
    entry: dict[str, Any] = dict(figures)
    if local is not None:
        entry.update({f"local_{k}": v for k, v in local.summary().items()})
    entry["local"] = how
    if members:
        entry["members"] = members
    row.accuracy[backend] = entry


def _estimate_local(source: Graph, rows: dict[str, LayerRow], backend: str) -> None:
    """Local SQNR of each measured row from its own and its inputs' cumulative SQNR."""

    def upstream_db(tensor: str, seen: set[str]) -> float:
        node = source.producer.get(tensor)
        if node is None or node in seen:
            return MAX_SQNR_DB
        seen.add(node)
        measured = rows[node].accuracy.get(backend) if node in rows else None
        if measured is not None and measured.get("sqnr_db") is not None:
            return measured["sqnr_db"]
        dbs = [upstream_db(t, seen) for t in source.activations(node)]
        return min(dbs, default=MAX_SQNR_DB)

    for row in rows.values():
        entry = row.accuracy.get(backend)
        if entry is None or "local_sqnr_db" in entry:
            continue
        group = set(entry.get("members") or [row.node])
        inputs = {
            t
            for member in group
            for t in source.activations(member)
            if source.producer.get(t) not in group
        }
        before = [upstream_db(t, set(group)) for t in inputs]
        estimate = estimated_local_db(entry["sqnr_db"], before)
        entry["local_sqnr_db"] = None if math.isnan(estimate) else estimate


def latency(
    backend: str, ctx: _Context, rows: dict[str, LayerRow]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per-layer time on ``backend``; returns its summary and its unattributed row."""
    from deploykit.layers.latency import attribute

    sample = ctx.images[:1]
    request = ctx.request
    if ctx.progress:
        ctx.progress(f"{backend} latency", 0, 1)
    model, reencode = _as_the_runner_reads_it(backend, ctx)
    if backend == "onnxruntime":
        from deploykit.layers.profile_ort import profile_onnxruntime

        profile = profile_onnxruntime(
            ctx.artifact, sample, request.runs, threads=request.threads, model=model
        )
    elif backend == "openvino":
        from deploykit.layers.profile_openvino import profile_openvino

        profile = profile_openvino(
            ctx.artifact,
            sample,
            request.runs,
            threads=request.threads,
            precision=_precision(ctx),
            model=model,
        )
    else:
        from deploykit.layers.tensorrt_layers import profile_tensorrt

        profile = profile_tensorrt(ctx.artifact, sample, request.runs)
    by_node, unattributed, summary = attribute(profile, ctx.attribution())
    summary.update(reencode)
    for node, figures in by_node.items():
        rows[node].latency[backend] = figures
    if ctx.progress:
        ctx.progress(f"{backend} latency", 1, 1)
    return summary, unattributed


def _as_the_runner_reads_it(backend: str, ctx: _Context) -> tuple[bytes | None, dict[str, Any]]:
    """The model ``backend``'s bench runner really runs: an INT8 Q/DQ file's activations
    re-encoded as it does (:func:`deploykit.runners.qdq.reencoded_model`), on OpenVINO also
    rewritten around its CPU bugs (:mod:`deploykit.runners.openvino_quirks`), so per-layer
    times match ``deploykit bench``; None (the file as written) elsewhere."""
    from deploykit.runners import RunnerOptions
    from deploykit.runners.qdq import RUNNER_DEFAULTS, reencoded_model

    if backend not in RUNNER_DEFAULTS:
        return None, {}
    options = RunnerOptions(ctx.request.threads, _precision(ctx), dict(ctx.request.runner_extra))
    model, record = reencoded_model(ctx.artifact, options, RUNNER_DEFAULTS[backend])
    if backend == "openvino":  # and its rewrites around OpenVINO CPU bugs
        from deploykit.runners.openvino_quirks import patched_model

        model, workarounds = patched_model(ctx.artifact, model, options)
        record.update(workarounds)
    return model, record


def _precision(ctx: _Context) -> str:
    from deploykit.manifest import read_manifest

    manifest = read_manifest(ctx.artifact)
    return manifest.precision if manifest else "fp32"
