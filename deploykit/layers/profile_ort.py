"""ONNX Runtime per-node times from its profiler, on the optimized graph it really ran.

ORT renames nodes when it optimizes (a Q/DQ Conv becomes ``node_Conv_138_token_39``
of type QLinearConv, layout Transposes appear); the optimized model is saved
beside the profile so each profiled node is attributed through its name and its
output tensors (see :mod:`deploykit.layers.graph`).
"""

from __future__ import annotations

import bisect
import json
import statistics
import tempfile
from pathlib import Path

import numpy as np

from deploykit.layers.graph import Graph
from deploykit.layers.latency import Kernel, Profile, RunTimes, interleaved_timing

SUFFIX = "_kernel_time"


def _options(threads: int | None, spinning: bool, **settings: object):
    import onnxruntime as ort

    options = ort.SessionOptions()
    # Two sessions alternate here: a pool spinning after its run would hold a CPU
    # the other session's kernels need.
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    for key, value in settings.items():
        setattr(options, key, value)
    return options


def profile_onnxruntime(
    artifact: Path,
    sample: np.ndarray,
    runs: int = 30,
    warmup: int = 5,
    threads: int | None = None,
    spinning: bool = False,
    model: bytes | None = None,
) -> Profile:
    """Kernel times of ``artifact`` on ``sample`` (one batch in the artifact's layout).

    Args:
        artifact: the ONNX file.
        sample: the input batch.
        runs: profiled (and, separately, end-to-end timed) inferences, at most
            (see :func:`deploykit.layers.latency.interleaved_timing`).
        warmup: inferences before either is timed.
        threads: intra-op threads.
        spinning: let idle intra-op threads spin (ORT's default); off by default, as the
            plain and the profiled session would spin against each other.
        model: the serialized model to run instead of the file as written (the ORT
            runner's activation re-encoding, :func:`deploykit.runners.qdq.reencoded_model`).
    """
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="deploykit-ortprof-") as work:
        optimized = Path(work) / "optimized.onnx"
        options = _options(
            threads,
            spinning,
            enable_profiling=True,
            profile_file_prefix=str(Path(work) / "profile"),
            optimized_model_filepath=str(optimized),
        )
        source = model or str(artifact)
        session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        plain = ort.InferenceSession(
            source, _options(threads, spinning), providers=["CPUExecutionProvider"]
        )
        feed = {session.get_inputs()[0].name: sample}
        timing = interleaved_timing(
            lambda: plain.run(None, feed), lambda: session.run(None, feed), runs, warmup
        )
        events = json.loads(Path(session.end_profiling()).read_text(encoding="utf-8"))
        graph = Graph.load(optimized)
    kernels, run_times = _kernels(events, graph, warmup)
    return Profile(kernels, timing, run_times, {"threads": threads, "spinning": spinning})


def _kernels(events: list[dict], graph: Graph, warmup: int) -> tuple[list[Kernel], RunTimes]:
    """Median per-run time of each node, skipping the warm-up runs (told apart by model_run),
    and the medians over runs of the whole ``model_run`` and of its kernels' sum, in ms."""
    model_runs = sorted(
        (e["ts"], e["ts"] + e["dur"])
        for e in events
        if e.get("cat") == "Session" and e["name"] == "model_run"
    )
    timed = model_runs[warmup:] if len(model_runs) > warmup else model_runs
    start = timed[0][0] if timed else 0
    runs = max(1, len(timed))
    per_node: dict[str, list[float]] = {}
    per_run = [0.0] * len(timed)
    starts = [begin for begin, _ in timed]
    ops: dict[str, str] = {}
    for event in events:
        name = event.get("name", "")
        if event.get("cat") != "Node" or not name.endswith(SUFFIX) or event["ts"] < start:
            continue
        node = name[: -len(SUFFIX)]
        per_node.setdefault(node, []).append(event["dur"] / 1e3)
        ops[node] = event.get("args", {}).get("op_name", "")
        run = bisect.bisect_right(starts, event["ts"]) - 1
        if run >= 0:
            per_run[run] += event["dur"] / 1e3
    whole = [(end - begin) / 1e3 for begin, end in timed]
    run_times = RunTimes(
        statistics.median(whole) if whole else None,
        statistics.median(per_run) if per_run else None,
    )
    kernels = []
    for node, times in per_node.items():
        ms = statistics.median(times) if len(times) == runs else sum(times) / runs
        op, inputs, outputs = graph.nodes.get(node, ("", [], []))
        neighbors = [graph.producer[t] for t in inputs if t in graph.producer]
        neighbors += [c for t in outputs for c in graph.consumers.get(t, [])]
        precision = (
            "int8" if ops[node].startswith(("QLinear", "ConvInteger", "MatMulInteger")) else None
        )
        kernels.append(Kernel(node, ms, [node, *outputs], ops[node] or op, precision, neighbors))
    return kernels, run_times
