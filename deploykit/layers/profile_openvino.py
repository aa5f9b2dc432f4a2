"""OpenVINO per-layer times (``PERF_COUNT``) and the precision each executed layer ran in.

The CPU plugin fuses aggressively (a Q/DQ Conv, its bias, ReLU and the next
FakeQuantize become one ``Convolution`` running ``brgconv_avx512_amx_i8``).
Its runtime model lists, for every executed node, the ``originalLayersNames``
it was fused from: those are the ONNX frontend's names (node names, or output
tensor names), resolved to source nodes like any other name.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import numpy as np

from deploykit.layers.latency import Kernel, Profile, RunTimes, interleaved_timing
from deploykit.optional import require


def _compile(
    core: Any, artifact: Path, rewritten: bytes | None, batch: int, config: dict[str, Any]
) -> Any:
    model = core.read_model(rewritten, b"") if rewritten else core.read_model(str(artifact))
    if model.inputs[0].partial_shape.is_dynamic:
        shape = list(model.inputs[0].partial_shape.get_min_shape())
        model.reshape({model.inputs[0]: [batch, *shape[1:]]})
    return core.compile_model(model, "CPU", config)


def profile_openvino(
    artifact: Path,
    sample: np.ndarray,
    runs: int = 30,
    warmup: int = 5,
    threads: int | None = None,
    precision: str = "fp32",
    model: bytes | None = None,
) -> Profile:
    """Per-layer times of ``artifact`` on ``sample`` on OpenVINO's CPU plugin.

    Arguments as :func:`deploykit.layers.profile_ort.profile_onnxruntime`, plus ``precision``:
    the artifact's; FP32 artifacts run in f32 (as the runner does), others in OpenVINO's choice.
    ``model``: the serialized ONNX model to run instead of the file (the runner's re-encoding).
    """
    ov = require("openvino")
    core = ov.Core()
    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
    if precision == "fp32":
        config["INFERENCE_PRECISION_HINT"] = "f32"
    if threads:
        config["INFERENCE_NUM_THREADS"] = int(threads)
    profiled = _compile(core, artifact, model, len(sample), {**config, "PERF_COUNT": True})
    request = profiled.create_infer_request()
    plain = _compile(core, artifact, model, len(sample), config).create_infer_request()
    times: dict[str, list[float]] = {}
    sums: list[float] = []

    def profiled_run() -> None:
        request.infer({0: sample})
        sums.append(0.0)
        for info in request.get_profiling_info():
            if str(info.status).endswith("EXECUTED") and "NOT_RUN" not in str(info.status):
                ms = info.real_time.total_seconds() * 1e3
                times.setdefault(info.node_name, []).append(ms)
                sums[-1] += ms

    timing = interleaved_timing(lambda: plain.infer({0: sample}), profiled_run, runs, warmup)
    runs = timing.runs
    # Warm-up runs recorded times too: keep each node's last ``runs`` samples.
    times = {name: samples[-runs:] for name, samples in times.items()}
    kernels = _kernels(profiled, times, runs)
    hint = profiled.get_property("INFERENCE_PRECISION_HINT")
    details = {"threads": threads, "inference_precision": str(hint)}
    return Profile(kernels, timing, RunTimes(None, statistics.median(sums[-runs:])), details)


def _kernels(compiled: Any, times: dict[str, list[float]], runs: int) -> list[Kernel]:
    kernels = []
    for op in compiled.get_runtime_model().get_ordered_ops():
        name = op.get_friendly_name()
        if name not in times:
            continue
        info = op.get_rt_info()
        original = info["originalLayersNames"].astype(str) if "originalLayersNames" in info else ""
        precision = info["runtimePrecision"].astype(str) if "runtimePrecision" in info else None
        layer_type = info["layerType"].astype(str) if "layerType" in info else op.get_type_name()
        neighbors = [v.get_node().get_friendly_name() for v in op.input_values()]
        neighbors += [
            t.get_node().get_friendly_name() for o in op.outputs() for t in o.get_target_inputs()
        ]
        samples = times[name]
        ms = statistics.median(samples) if len(samples) == runs else sum(samples) / runs
        names = [n for n in original.split(",") if n] + [name]
        kernels.append(Kernel(name, ms, names, layer_type, precision, neighbors))
    return kernels
