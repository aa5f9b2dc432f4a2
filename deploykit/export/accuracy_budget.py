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

"Within budget" is judged as ``deploykit bench`` judges a loss: with McNemar's
exact test on the images only one of FP32 and INT8 got right. A drop larger than
the budget that is not significant on this set (a handful of images either way)
is within it, so no layer goes back to FP32 to win back one image of noise. The
record says how finely the set resolves accuracy: one image in points, and the
smallest loss that could be significant at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deploykit.bench.stats import PairedComparison, mcnemar_exact, paired
from deploykit.errors import VerificationError
from deploykit.export.sensitivity import each_layer, logits, top1
from deploykit.metrics import check_labels_fit, class_mismatch, label_classes

ALPHA = 0.05
# Images the per-layer error table of a budget is measured on (SQNR settles within a few).
PROBE_IMAGES = 16

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


def resolution(n: int, alpha: float = ALPHA) -> dict[str, Any]:
    """How finely ``n`` images resolve top-1: one image in points, and the smallest
    loss (images, points) that McNemar's test could call significant at ``alpha``
    (every discordant image going the same way)."""
    images = next((k for k in range(1, n + 1) if mcnemar_exact(k, 0) < alpha), n + 1)
    return {
        "image_points": round(100.0 / n, 4) if n else None,
        "min_significant_images": images,
        "min_significant_points": round(100.0 * images / n, 3) if n else None,
    }


def within_budget(
    reference: np.ndarray, candidate: np.ndarray, labels: np.ndarray, max_drop: float
) -> tuple[bool, PairedComparison]:
    """Whether the candidate's top-1 loss is within ``max_drop`` points or not significant.

    Args:
        reference: FP32 logits; candidate: INT8 logits, on the same images.
        labels: the images' labels.
        max_drop: allowed top-1 drop in percentage points.
    """
    test = paired(reference.argmax(1) == labels, candidate.argmax(1) == labels, ALPHA)
    return -test.delta * 100.0 <= max_drop or not test.regressed, test


def _rank(
    quantize: Quantize,
    kept: list[str],
    candidates: list[dict[str, str]],
    data: EvalSet,
    reference: np.ndarray,
) -> list[dict[str, Any]]:
    """Each candidate layer with the top-1 reached when it alone is INT8, most damaging first."""
    nodes = [c["node"] for c in candidates]

    def alone(node: str) -> Path:
        return quantize([*kept, *(n for n in nodes if n != node)])

    figures = each_layer(alone, nodes, data.x, reference, data.labels)
    ranking = [{**layer, **figures[layer["node"]]} for layer in candidates]
    return sorted(ranking, key=lambda r: (r["top1"], -r["mse"]))


def _layer_errors(fp32: Path, int8: Path, x: np.ndarray) -> dict[str, dict[str, float]]:
    """Local and cumulative SQNR of every layer of the all-INT8 model (``deploykit layers``)."""
    from deploykit.layers.onnx_accuracy import onnx_layer_errors

    found = onnx_layer_errors(fp32, int8, x)
    return {
        node: {
            "local_sqnr_db": found.local[node].summary()["sqnr_db"],
            "sqnr_db": stats.summary()["sqnr_db"],
        }
        for node, stats in found.cumulative.items()
    }


def _row(
    rank: int, ranked: dict[str, Any], total: int, errors: dict[str, dict[str, float]]
) -> dict[str, Any]:
    """One layer's line of the budget's table: its rank and what it does alone in INT8."""
    sqnr = errors.get(ranked["node"], {})
    return {
        "node": ranked["node"],
        "layer": ranked["layer"],
        "op": ranked["op"],
        "rank": rank,
        "of": total,
        "top1_alone_int8": ranked["top1"],
        "cosine_alone_int8": round(ranked["cosine"], 6),
        "logit_mse": round(ranked["mse"], 6),
        "local_sqnr_db": _round(sqnr.get("local_sqnr_db")),
        "sqnr_db": _round(sqnr.get("sqnr_db")),
    }


def _round(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 2)


def fit_budget(
    fp32: Path,
    quantize: Quantize,
    candidates: list[dict[str, str]],
    data: EvalSet,
    max_drop: float,
    kept: list[str],
    progress: Callable[[str], None] | None = None,
) -> BudgetResult:
    """Fall back the most sensitive layers until INT8 top-1 is within budget (:func:`within_budget`).

    Args:
        fp32: the FP32 model the drop is measured against.
        quantize: re-quantizes with a list of node names kept in FP32.
        candidates: weighted layers that may fall back (``weighted_nodes``).
        data: the labelled evaluation set.
        max_drop: allowed top-1 drop in percentage points.
        kept: nodes the user already keeps in FP32.
        progress: called with a short status line per step.

    Raises:
        DataMismatchError: when ``data`` has labels the model cannot output.
        VerificationError: when even every candidate in FP32 misses the budget.
    """
    say = progress or (lambda _msg: None)
    reference = logits(fp32, data.x)
    check_labels_fit(reference.shape[1], label_classes(data.labels), f"--eval {data.name}")
    fp32_top1 = top1(reference, data.labels)
    path = quantize(kept)
    scores = logits(path, data.x)
    int8_top1 = top1(scores, data.labels)
    warning = class_mismatch(reference.shape[1], label_classes(data.labels), data.name)
    record: dict[str, Any] = {
        "eval": data.name,
        "n": len(data.labels),
        "max_drop": max_drop,
        "fp32_top1": round(fp32_top1, 3),
        "int8_top1_all_layers": round(int8_top1, 3),
        "resolution": resolution(len(data.labels)),
        "warnings": [warning] if warning else [],
    }
    fallback: list[dict[str, Any]] = []
    ok, test = within_budget(reference, scores, data.labels, max_drop)
    if not ok:
        pool = [c for c in candidates if c["node"] not in kept]
        say(f"INT8 top-1 {int8_top1:.2f} % vs FP32 {fp32_top1:.2f} %: ranking {len(pool)} layers")
        ranking = _rank(quantize, kept, pool, data, reference)
        errors = _layer_errors(fp32, path, data.x[:PROBE_IMAGES])
        rows = [_row(rank, r, len(ranking), errors) for rank, r in enumerate(ranking, 1)]
        record["sensitivity"] = rows
        for row in rows:
            row = dict(row)  # the ranking stays as measured; the fallback adds top-1 after
            fallback.append(row)
            path = quantize([*kept, *(f["node"] for f in fallback)])
            scores = logits(path, data.x)
            int8_top1 = top1(scores, data.labels)
            row["top1_after"] = round(int8_top1, 3)
            say(f"{row['layer']} in FP32: top-1 {int8_top1:.2f} %")
            ok, test = within_budget(reference, scores, data.labels, max_drop)
            if ok:
                break
        else:
            raise VerificationError(
                f"INT8 cannot meet --max-accuracy-drop {max_drop}: top-1 {int8_top1:.2f} % vs "
                f"FP32 {fp32_top1:.2f} % on {data.name} even with all {len(pool)} weighted "
                "layers in FP32" + (f" ({warning})" if warning else ""),
                "raise the budget, try --calib-method entropy or percentile, or export fp16",
            )
    record.update(
        {
            "int8_top1": round(int8_top1, 3),
            "drop": round(fp32_top1 - int8_top1, 3),
            "paired": test.to_dict(),
            "fp32_fallback": fallback,
        }
    )
    return BudgetResult(path, [f["node"] for f in fallback], record)


def budget_lines(record: dict[str, Any]) -> list[str]:
    """What the CLI prints about a budget: figures with units, the set's resolution, the
    layers kept in FP32 and why (:func:`fallback_table`), warnings."""
    kept = ", ".join(f["layer"] for f in record["fp32_fallback"]) or "none"
    lines = [
        f"accuracy on {record['n']} {record['eval']} images: top-1 FP32 "
        f"{record['fp32_top1']:.2f} %, INT8 {record['int8_top1']:.2f} % (drop "
        f"{record['drop']:.2f} points, budget {record['max_drop']:g}); layers kept in FP32: {kept}"
    ]
    if res := record.get("resolution"):
        test = record.get("paired") or {}
        lines.append(
            f"one image is {res['image_points']:.2f} points on this set; a loss under "
            f"{res['min_significant_images']} images ({res['min_significant_points']:.2f} points) "
            "cannot be told from noise (McNemar, as bench judges it)"
            + (f"; this drop: p={test['p_value']:.2g}" if test else "")
        )
    lines += fallback_table(record)
    lines += [f"warning: {w}" for w in record.get("warnings", [])]
    return lines


# Header, record key, number format.
TABLE_COLUMNS = (
    ("layer", "layer", ""),
    ("node", "node", ""),
    ("op", "op", ""),
    ("rank", "rank", ""),
    ("alone INT8 top-1 %", "top1_alone_int8", ".2f"),
    ("alone INT8 cos", "cosine_alone_int8", ".4f"),
    ("local SQNR dB", "local_sqnr_db", ".1f"),
    ("SQNR dB", "sqnr_db", ".1f"),
    ("top-1 % after", "top1_after", ".2f"),
)
TABLE_ROWS = 12


def fallback_table(record: dict[str, Any]) -> list[str]:
    """The layers the budget kept in FP32, one line each, in the order it kept them.

    Why each: its rank among the layers by the damage it does alone in INT8 (top-1 and
    output cosine with every other layer in FP32), its local and cumulative SQNR in the
    all-INT8 model (as ``deploykit layers`` measures them), and the top-1 once it and
    those above it are in FP32.
    """
    rows = [f for f in record.get("fp32_fallback", []) if "rank" in f]
    if not rows:
        return []
    cells = [[name for name, _, _ in TABLE_COLUMNS]]
    for row in rows[:TABLE_ROWS]:
        values = {**row, "rank": f"{row['rank']}/{row['of']}"}
        cells.append(
            ["-" if values.get(k) is None else format(values[k], f) for _, k, f in TABLE_COLUMNS]
        )
    widths = [max(len(line[i]) for line in cells) for i in range(len(TABLE_COLUMNS))]
    text = [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells
    ]
    more = len(rows) - TABLE_ROWS
    return [
        f"kept in FP32, most damaging alone in INT8 first ({rows[0]['of']} layers ranked; "
        "local SQNR in the all-INT8 model):",
        *text,
        *([f"... and {more} more (see the manifest's accuracy_budget)"] if more > 0 else []),
    ]
