"""TensorRT per layer (NVIDIA GPUs): marked outputs for accuracy, ``IProfiler`` for time.

Accuracy follows Polygraphy's ``--mark all``: the ONNX artifact is parsed, the
converted value of every source layer is marked as an engine output, and the
engine is built at the artifact's precision (the same plan as ``deploykit
export --to trt``). Marking outputs keeps TensorRT from fusing across those
tensors, so the report says the engine measured is not the one deployed.

Latency: an engine built with detailed profiling verbosity (or a given
``.engine``) runs with an ``IProfiler``; the engine inspector's per-layer
``Metadata`` (``[ONNX Layer: node_Conv_138]``) and layer names (``node_Conv_138 +
node_relu``, fusions joined by ``+``) name the source nodes.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deploykit import tensorrt_compat as compat
from deploykit.errors import InputError
from deploykit.layers.graph import Graph
from deploykit.layers.latency import Kernel, Profile, interleaved_timing
from deploykit.layers.metrics import ErrorStats
from deploykit.layers.onnx_accuracy import visible

ONNX_LAYER = re.compile(r"\[ONNX Layer: ([^\]]+)\]")


@dataclass
class TensorRtLayerErrors:
    """Cumulative error per source node, and the layers TensorRT could not mark."""

    cumulative: dict[str, ErrorStats]
    unmatched: list[str] = field(default_factory=list)


def _build(onnx_path: Path, precision: str, mark: list[str], detailed: bool) -> Any:
    """A deserialized engine for ``onnx_path``, with ``mark`` tensors as extra outputs."""
    from deploykit.export.tensorrt import _parse, _profile, plan

    trt = compat.tensorrt()
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    steps = plan(trt.__version__, precision, {})
    network, _parser = _parse(trt, builder, onnx_path, steps["strongly_typed"], logger)
    tensors = {}
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        for j in range(layer.num_outputs):
            tensors[layer.get_output(j).name] = layer.get_output(j)
    for name in mark:
        if name in tensors and not tensors[name].is_network_output:
            network.mark_output(tensors[name])
    config = builder.create_builder_config()
    batch = {"min_batch": 1, "opt_batch": 8, "max_batch": 8}
    if (profile := _profile(builder, network, batch)) is not None:
        config.add_optimization_profile(profile["profile"])
    for flag in steps["flags"]:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    if detailed:
        config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise InputError(
            f"TensorRT could not build {onnx_path}", "check the build log with trtexec"
        )
    return trt.Runtime(logger).deserialize_cuda_engine(serialized)


class _Session:
    """An execution context with torch-allocated buffers for one fixed batch."""

    def __init__(self, engine: Any, batch: np.ndarray) -> None:
        import torch

        trt = compat.tensorrt()
        self.torch, self.engine = torch, engine
        self.context = engine.create_execution_context()
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        self.input = next(n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
        self.context.set_input_shape(self.input, tuple(batch.shape))
        self.buffers = {}
        for name in names:
            dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
            shape = tuple(self.context.get_tensor_shape(name))
            self.buffers[name] = torch.empty(shape, dtype=getattr(torch, dtype.name), device="cuda")
            self.context.set_tensor_address(name, self.buffers[name].data_ptr())
        self.stream = torch.cuda.Stream()

    def run(self, batch: np.ndarray | None = None) -> None:
        if batch is not None:
            self.buffers[self.input].copy_(self.torch.from_numpy(batch))
        self.context.execute_async_v3(self.stream.cuda_stream)
        self.stream.synchronize()

    def outputs(self) -> dict[str, np.ndarray]:
        return {n: b.float().cpu().numpy() for n, b in self.buffers.items() if n != self.input}


def tensorrt_layer_errors(
    source_path: Path,
    artifact: Path,
    images: np.ndarray,
    progress: Callable[[int], None] | None = None,
    batch: int = 8,
) -> TensorRtLayerErrors:
    """Cumulative error of every source layer, from an engine with all of them marked."""
    from deploykit.layers.tflite_accuracy import _reference_runner
    from deploykit.manifest import read_manifest

    if artifact.suffix != ".onnx":
        raise InputError(
            "per-layer TensorRT accuracy needs the ONNX file the engine is built from",
            "run `deploykit layers MODEL.onnx --backend tensorrt`",
        )
    source, graph = Graph.load(source_path), Graph.load(artifact)
    wanted = {}
    for layer in source.layers():
        tensor = source.nodes[layer][2][0]
        if tensor in graph.producer:
            wanted[layer] = (tensor, visible(graph, tensor))
    manifest = read_manifest(artifact)
    precision = manifest.precision if manifest else "fp32"
    engine = _build(artifact, precision, [v for _, v in wanted.values()], False)
    reference_of = _reference_runner(source_path, source)
    stats = {layer: ErrorStats() for layer in wanted}
    unmatched: list[str] = []
    for start in range(0, len(images), batch):
        chunk = np.ascontiguousarray(images[start : start + batch])
        session = _Session(engine, chunk)
        session.run(chunk)
        values, reference = session.outputs(), reference_of(chunk)
        for layer, (tensor, converted) in wanted.items():
            if converted not in values:
                if layer not in unmatched:
                    unmatched.append(layer)
                continue
            stats[layer].add(reference[tensor], values[converted])
        if progress:
            progress(min(start + batch, len(images)))
    return TensorRtLayerErrors({k: v for k, v in stats.items() if v.signal is not None}, unmatched)


def profile_tensorrt(
    artifact: Path, sample: np.ndarray, runs: int = 30, warmup: int = 5
) -> Profile:
    """Per-layer times from ``IProfiler``; layers named through the engine inspector."""
    trt = compat.tensorrt()
    if artifact.suffix == ".onnx":
        from deploykit.manifest import read_manifest

        manifest = read_manifest(artifact)
        engine = _build(artifact, manifest.precision if manifest else "fp32", [], True)
    else:
        runtime = trt.Runtime(trt.Logger(trt.Logger.ERROR))
        engine = runtime.deserialize_cuda_engine(artifact.read_bytes())
    session = _Session(engine, np.ascontiguousarray(sample))
    session.run(np.ascontiguousarray(sample))
    times: dict[str, list[float]] = {}

    class _Profiler(trt.IProfiler):
        def report_layer_time(self, layer_name: str, ms: float) -> None:
            times.setdefault(layer_name, []).append(ms)

    profiled = _Session(engine, np.ascontiguousarray(sample))
    profiled.context.profiler = _Profiler()
    feed = np.ascontiguousarray(sample)
    timing = interleaved_timing(session.run, lambda: profiled.run(feed), runs, warmup)
    runs = timing.runs
    times = {name: samples[-runs:] for name, samples in times.items()}
    inspector = engine.create_engine_inspector()
    layers = json.loads(inspector.get_engine_information(trt.LayerInformationFormat.JSON))
    metadata = {
        info.get("Name", ""): ONNX_LAYER.findall(info.get("Metadata", ""))
        for info in layers.get("Layers", [])
        if isinstance(info, dict)
    }
    kernels = []
    for name, samples in times.items():
        names = metadata.get(name) or [n.strip() for n in name.split("+")]
        kernels.append(Kernel(name, statistics.median(samples), [*names, name], "", None, []))
    return Profile(kernels, timing, details={"device": "cuda"})
