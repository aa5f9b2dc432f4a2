"""Per-layer weight statistics of a torch model: shape, params, MACs, mean/std/min/max, sparsity."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from deploykit.inspect import DEFAULT_EPS


@dataclass(frozen=True)
class LayerStats:
    """One layer that owns parameters.

    Attributes:
        name: qualified module name, e.g. ``"layer1.0.conv1"``.
        type: module class name.
        shape: shape of its ``weight`` (or of its first parameter).
        params: parameters the layer owns (weight, bias, ...).
        macs: multiply-accumulates at the model's input shape (convs and linears; else 0).
        mean: mean of the weight tensor.
        std: population standard deviation of the weight tensor.
        min: smallest weight.
        max: largest weight.
        near_zero: share of weights with ``|w| < eps``.
    """

    name: str
    type: str
    shape: tuple[int, ...]
    params: int
    macs: int
    mean: float
    std: float
    min: float
    max: float
    near_zero: float

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "shape": list(self.shape)}


@dataclass(frozen=True)
class WeightReport:
    """A model's layer table and its totals.

    Attributes:
        layers: one row per parameter-owning layer, in module order.
        params: all parameters of the model.
        macs: all counted multiply-accumulates at ``input_shape``.
        near_zero: share of all weights (every ``weight`` tensor) with ``|w| < eps``.
        eps: the near-zero threshold.
        input_shape: the shape MACs were counted at (None when not counted).
    """

    layers: list[LayerStats]
    params: int
    macs: int
    near_zero: float
    eps: float
    input_shape: tuple[int, ...] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "macs": self.macs,
            "near_zero": self.near_zero,
            "eps": self.eps,
            "input_shape": list(self.input_shape) if self.input_shape else None,
            "layers": [layer.to_dict() for layer in self.layers],
        }


def tensor_stats(values: np.ndarray, eps: float) -> dict[str, float]:
    """mean, std (population), min, max and the share of ``|v| < eps`` of an array."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    if flat.size == 0:
        return {"mean": 0.0, "std": 0.0, "min": 0.0, "max": 0.0, "near_zero": 0.0}
    return {
        "mean": float(flat.mean()),
        "std": float(flat.std()),
        "min": float(flat.min()),
        "max": float(flat.max()),
        "near_zero": float(np.mean(np.abs(flat) < eps)),
    }


def weight_report(
    model: Any, input_shape: tuple[int, ...] | None = None, eps: float = DEFAULT_EPS
) -> WeightReport:
    """Tabulate every module that owns parameters.

    Args:
        model: a torch module.
        input_shape: NCHW shape to count MACs at (None: MACs are 0).
        eps: weights with ``|w| < eps`` count as near zero (default 1e-3).
    """
    from deploykit.zoo.stats import layer_macs

    macs = layer_macs(model, input_shape) if input_shape else {}
    layers, zero_count, weight_count = [], 0, 0
    for name, module in model.named_modules():
        own = dict(module.named_parameters(recurse=False))
        if not own:
            continue
        tensor = own.get("weight", next(iter(own.values())))
        values = tensor.detach().cpu().float().numpy()
        stats = tensor_stats(values, eps)
        zero_count += int(np.sum(np.abs(values) < eps))
        weight_count += values.size
        layers.append(
            LayerStats(
                name=name or "(root)",
                type=type(module).__name__,
                shape=tuple(values.shape),
                params=sum(p.numel() for p in own.values()),
                macs=macs.get(name, 0),
                **stats,
            )
        )
    return WeightReport(
        layers=layers,
        params=sum(p.numel() for p in model.parameters()),
        macs=sum(macs.values()),
        near_zero=zero_count / weight_count if weight_count else 0.0,
        eps=eps,
        input_shape=tuple(input_shape) if input_shape else None,
    )
