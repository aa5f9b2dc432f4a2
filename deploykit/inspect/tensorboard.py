"""A torch model for TensorBoard: its graph, per-layer weight histograms, feature maps.

Written with ``torch.utils.tensorboard`` (the ``tensorboard`` package, in the
``tensorboard`` extra). View with ``tensorboard --logdir DIR``: the Graphs tab
shows the traced module hierarchy, Histograms one entry per weight tensor,
Images one grid of channel maps per layer.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from deploykit.errors import first_line
from deploykit.fileio import ensure_dir
from deploykit.inspect import DEFAULT_MAX_CHANNELS
from deploykit.optional import require
from deploykit.spec import InputSpec


def default_layers(model: Any) -> list[str]:
    """The model's top-level children: the stages a feature-map overview shows."""
    return [name for name, _ in model.named_children()]


def sample_image(spec: InputSpec) -> np.ndarray:
    """One real image (the first digits test image) prepared for ``spec``."""
    from deploykit.data import load_dataset, prepare

    return prepare(load_dataset("digits", split="test", limit=1).images, spec.with_batch(1))


def channel_images(activation: np.ndarray, max_channels: int) -> np.ndarray:
    """C x H x W (or a vector) -> N x 1 x H x W in [0, 1], each channel scaled on its own."""
    maps = activation if activation.ndim == 3 else activation.reshape(1, 1, -1)
    maps = maps[:max_channels].astype(np.float32)
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    return ((maps - low) / np.where(span > 0, span, 1))[:, None]


def write_tensorboard(
    model: Any,
    spec: InputSpec,
    log_dir: Path,
    batch: np.ndarray | None = None,
    layers: list[str] | None = None,
    max_channels: int = DEFAULT_MAX_CHANNELS,
) -> dict[str, Any]:
    """Write the graph, weight histograms and feature maps of ``model`` under ``log_dir``.

    Args:
        model: a torch module.
        spec: its input spec.
        log_dir: the TensorBoard run folder.
        batch: one prepared input (default: a digits image prepared for ``spec``).
        layers: layers whose feature maps to draw (default: the top-level children).
        max_channels: channels drawn per layer.

    Returns:
        What was written: the graph (or why not), histogram tags, feature-map layers.
    """
    import torch

    from deploykit.inspect.featuremaps import capture

    require("tensorboard")
    from torch.utils.tensorboard import SummaryWriter

    batch = sample_image(spec) if batch is None else batch
    layers = layers or default_layers(model)
    record: dict[str, Any] = {"log_dir": str(ensure_dir(log_dir))}
    with SummaryWriter(str(log_dir)) as writer:
        try:
            with warnings.catch_warnings():  # torch.jit.trace announces its own deprecation
                warnings.simplefilter("ignore")
                writer.add_graph(model.eval(), torch.from_numpy(batch))
            record["graph"] = True
        except Exception as exc:  # tracing fails on some dynamic models; the rest still helps
            record["graph"] = f"not traced ({first_line(exc)})"
        tags = []
        for name, param in model.named_parameters():
            tags.append(f"weights/{name}")
            writer.add_histogram(tags[-1], param.detach().float().cpu().numpy())
        record["histograms"] = tags
        outputs = capture(model, batch, layers)
        for name in layers:
            if name in outputs:
                writer.add_images(
                    f"feature_maps/{name}", channel_images(outputs[name][0], max_channels)
                )
        record["feature_maps"] = [n for n in layers if n in outputs]
    return record
