"""The accuracy budget: keep the INT8 model's top-1 drop within ``--max-accuracy-drop``.

INT8 and FP32 top-1 are measured on a labelled set. Over budget, a per-layer
sensitivity pass quantizes each weighted layer alone (every other layer in
FP32; calibration ranges are computed once and cached, so each pass only
re-writes the graph) and ranks the layers by the damage that one layer does:
lowest top-1 first, then largest logit error against FP32. Measuring layers in
isolation finds damage that takes two layers to undo (a quantized tensor sits
between a producer and a consumer), which reverting one layer at a time from
the fully quantized model cannot see. The most sensitive layers then fall back
to FP32 one by one until the drop is within budget, or the budget is refused
as unreachable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deploykit.errors import VerificationError

# Quantizes with the given node names kept in FP32 and returns the model's path.
Quantize = Callable[[list[str]], Path]


@dataclass
class EvalSet:
    """Prepared images and labels the budget is measured on."""

    x: np.ndarray
    labels: np.ndarray
    name: str


@dataclass
class BudgetResult:
    """Where the budget search ended.

    Attributes:
        path: the chosen INT8 model.
        fallback: node names kept in FP32 by the budget (not counting ``--keep-fp32``).
        record: what the manifest records (top-1 figures, ranking, fallback layers).
    """

    path: Path
    fallback: list[str]
    record: dict[str, Any] = field(default_factory=dict)


def load_eval_set(data: str, spec: Any, limit: int | None = None) -> EvalSet:
    """The labelled test split of ``data`` prepared for ``spec``."""
    from deploykit.data import load_dataset, prepare
    from deploykit.errors import InputError

    dataset = load_dataset(data, split="test", limit=limit)
    if (dataset.labels < 0).any():
        raise InputError(f"--eval {data} has unlabelled images", "give a labelled set")
    x = prepare(dataset.images, spec)
    if spec.layout == "NHWC":  # the graph itself is fed, not a runner that transposes
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    return EvalSet(x, dataset.labels, dataset.name)


def logits(path: Path, x: np.ndarray) -> np.ndarray:
    """ONNX Runtime CPU logits of the model at ``path``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate(
        [session.run(None, {name: x[i : i + 128]})[0] for i in range(0, len(x), 128)]
    )


def top1(scores: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy in percent."""
    return float((scores.argmax(1) == labels).mean() * 100.0)


def _rank(
    quantize: Quantize,
    kept: list[str],
    candidates: list[dict[str, str]],
    data: EvalSet,
    reference: np.ndarray,
) -> list[dict[str, Any]]:
    """Each candidate layer with the top-1 reached when it alone is INT8, most damaging first."""
    nodes = [c["node"] for c in candidates]
    ranking = []
    for layer in candidates:
        others = [n for n in nodes if n != layer["node"]]
        scores = logits(quantize([*kept, *others]), data.x)
        error = float(np.mean((scores - reference) ** 2))
        ranking.append({**layer, "top1": round(top1(scores, data.labels), 3), "mse": error})
    return sorted(ranking, key=lambda r: (r["top1"], -r["mse"]))


def fit_budget(
    fp32: Path,
    quantize: Quantize,
    candidates: list[dict[str, str]],
    data: EvalSet,
    max_drop: float,
    kept: list[str],
    progress: Callable[[str], None] | None = None,
) -> BudgetResult:
    """Fall back the most sensitive layers until INT8 top-1 is within ``max_drop`` points.

    Args:
        fp32: the FP32 model the drop is measured against.
        quantize: re-quantizes with a list of node names kept in FP32.
        candidates: weighted layers that may fall back (``weighted_nodes``).
        data: the labelled evaluation set.
        max_drop: allowed top-1 drop in percentage points.
        kept: nodes the user already keeps in FP32.
        progress: called with a short status line per step.

    Raises:
        VerificationError: when even every candidate in FP32 misses the budget.
    """
    say = progress or (lambda _msg: None)
    reference = logits(fp32, data.x)
    fp32_top1 = top1(reference, data.labels)
    path = quantize(kept)
    int8_top1 = top1(logits(path, data.x), data.labels)
    record: dict[str, Any] = {
        "eval": data.name,
        "n": len(data.labels),
        "max_drop": max_drop,
        "fp32_top1": round(fp32_top1, 3),
        "int8_top1_all_layers": round(int8_top1, 3),
    }
    fallback: list[str] = []
    if fp32_top1 - int8_top1 > max_drop:
        pool = [c for c in candidates if c["node"] not in kept]
        say(f"INT8 top-1 {int8_top1:.2f} vs FP32 {fp32_top1:.2f}: ranking {len(pool)} layers")
        ranking = _rank(quantize, kept, pool, data, reference)
        record["sensitivity"] = [
            {
                "node": r["node"],
                "layer": r["layer"],
                "op": r["op"],
                "top1_alone_int8": r["top1"],
                "logit_mse": round(r["mse"], 6),
            }
            for r in ranking
        ]
        for layer in ranking:
            fallback.append(layer["node"])
            path = quantize([*kept, *fallback])
            int8_top1 = top1(logits(path, data.x), data.labels)
            say(f"{layer['layer']} in FP32: top-1 {int8_top1:.2f}")
            if fp32_top1 - int8_top1 <= max_drop:
                break
        else:
            raise VerificationError(
                f"INT8 cannot meet --max-accuracy-drop {max_drop}: top-1 {int8_top1:.2f} vs "
                f"FP32 {fp32_top1:.2f} on {data.name} even with all {len(pool)} weighted "
                "layers in FP32",
                "raise the budget, try --calib-method entropy or percentile, or export fp16",
            )
    layers = {c["node"]: c["layer"] for c in candidates}
    record.update(
        {
            "int8_top1": round(int8_top1, 3),
            "drop": round(fp32_top1 - int8_top1, 3),
            "fp32_fallback": [{"node": n, "layer": layers.get(n, n)} for n in fallback],
        }
    )
    return BudgetResult(path, fallback, record)
