"""Per-layer sensitivity, measured end to end: one model variant per layer, run on real images.

Shared by the accuracy budget (:mod:`deploykit.export.accuracy_budget`: each layer
alone in INT8, every other in FP32) and ``deploykit layers``
(:mod:`deploykit.layers.recovery`: each layer kept in FP32, every other as
exported). Both build a variant per layer, run it in ONNX Runtime on the same
images, and compare its logits with the FP32 model's: top-1 (with labels),
top-1 agreement, mean per-image cosine and mean squared error.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

BATCH = 32

# A model file, or a serialized ONNX model.
Model = Path | bytes


def logits(model: Model, x: np.ndarray, threads: int | None = None) -> np.ndarray:
    """ONNX Runtime CPU logits of ``model`` on ``x`` (already in the model's layout).

    Args:
        model: an ONNX file or serialized model.
        x: the input images.
        threads: intra-op threads (default: ONNX Runtime's).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    source = str(model) if isinstance(model, Path) else model
    session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    batches = [session.run(None, {name: x[i : i + BATCH]})[0] for i in range(0, len(x), BATCH)]
    return np.concatenate(batches)


def top1(scores: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy in percent."""
    return float((scores.argmax(1) == labels).mean() * 100.0)


def fidelity(
    reference: np.ndarray, scores: np.ndarray, labels: np.ndarray | None = None
) -> dict[str, float]:
    """How close ``scores`` are to the FP32 ``reference`` logits on the same images.

    Returns ``cosine`` (mean per image), ``agreement`` (top-1 agreement, 0-1), ``mse``,
    and ``top1`` (percent) when ``labels`` are given and every image has one (>= 0).
    """
    a = reference.reshape(len(reference), -1).astype(np.float64)
    b = scores.reshape(len(scores), -1).astype(np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cosine = np.where(norms > 0, (a * b).sum(1) / np.maximum(norms, 1e-30), 1.0)
    figures = {
        "cosine": float(cosine.mean()),
        "agreement": float((a.argmax(1) == b.argmax(1)).mean()),
        "mse": float(np.mean((a - b) ** 2)),
    }
    if labels is not None and len(labels) and (labels >= 0).all():
        figures["top1"] = round(top1(scores, labels), 3)
    return figures


def each_layer(
    variant: Callable[[str], Model],
    nodes: list[str],
    x: np.ndarray,
    reference: np.ndarray,
    labels: np.ndarray | None = None,
    progress: Callable[[int], None] | None = None,
    threads: int | None = None,
) -> dict[str, dict[str, Any]]:
    """:func:`fidelity` of ``variant(node)`` for every node, in the order given.

    Args:
        variant: builds the model for one node (a file or serialized model).
        nodes: the layers to measure.
        x: input images in the models' layout.
        reference: FP32 logits on ``x``.
        labels: the images' labels, for top-1 (optional).
        progress: called with the number of layers done.
        threads: ONNX Runtime intra-op threads.
    """
    figures = {}
    for done, node in enumerate(nodes, 1):
        figures[node] = fidelity(reference, logits(variant(node), x, threads), labels)
        if progress:
            progress(done)
    return figures
