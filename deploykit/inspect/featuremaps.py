"""Activations at named layers of a torch model, rendered as PNG grids (matplotlib, Agg)."""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from deploykit.errors import InputError
from deploykit.fileio import atomic_path, ensure_dir
from deploykit.inspect import DEFAULT_MAX_CHANNELS
from deploykit.spec import InputSpec


def resolve_layers(model: Any, names: list[str]) -> dict[str, Any]:
    """The submodules called ``names``.

    Raises:
        InputError: for a name the model does not have, suggesting close ones.
    """
    if not names:
        children = ", ".join(name for name, _ in list(model.named_children())[:8])
        raise InputError("no layers named", f"pass --layers, e.g. one of: {children}")
    modules = dict(model.named_modules())
    found = {}
    for name in names:
        if name not in modules or not name:
            close = difflib.get_close_matches(name, [n for n in modules if n], n=3, cutoff=0.5)
            top = ", ".join(n for n, _ in list(model.named_children())[:8])
            hint = f"did you mean {', '.join(close)}?" if close else f"top-level layers: {top}"
            raise InputError(f"the model has no layer named {name!r}", hint)
        found[name] = modules[name]
    return found


def capture(model: Any, batch: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """Run ``batch`` (NCHW float32) through ``model``; return each named layer's output.

    Args:
        model: a torch module.
        batch: model input.
        names: qualified module names, e.g. ``["layer1", "layer3.0.conv1"]``.
    """
    import torch

    from deploykit.sources.torch_common import eval_mode

    layers = resolve_layers(model, names)
    outputs: dict[str, np.ndarray] = {}

    def keep(name: str):
        def hook(_module, _inputs, output):
            if isinstance(output, (tuple, list)):
                output = output[0]
            outputs[name] = output.detach().float().cpu().numpy()

        return hook

    hooks = [module.register_forward_hook(keep(name)) for name, module in layers.items()]
    try:
        with torch.no_grad():
            eval_mode(model)(torch.from_numpy(batch))
    finally:
        for hook in hooks:
            hook.remove()
    return outputs


def image_batch(path: Path, spec: InputSpec) -> np.ndarray:
    """One image file prepared as model input for ``spec`` (1 x C x H x W)."""
    from deploykit.data import prepare
    from deploykit.data.datasets import read_image

    image = read_image(Path(path))
    return prepare(image[None], spec.with_batch(1))


def save_grid(activation: np.ndarray, path: Path, title: str, max_channels: int) -> Path:
    """Write the channels of one activation (C x H x W, or a vector) as a PNG grid.

    Each channel is scaled to its own min..max, so weak channels stay visible.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    maps = activation if activation.ndim == 3 else activation.reshape(1, 1, -1)
    maps = maps[:max_channels]
    cols = math.ceil(math.sqrt(len(maps)))
    rows = math.ceil(len(maps) / cols)
    fig = Figure(figsize=(1.4 * cols, 1.4 * rows + 0.4), dpi=100)
    fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=1 - 0.5 / fig.get_figheight())
    for i in range(rows * cols):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.set_axis_off()
        if i < len(maps):
            ax.imshow(maps[i], cmap="viridis", interpolation="nearest", aspect="auto")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def safe_name(layer: str) -> str:
    """A file stem for a layer name (``layer3.0.conv1`` stays readable)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", layer) or "root"


def feature_maps(
    model: Any,
    spec: InputSpec,
    image: Path,
    layers: list[str],
    out_dir: Path,
    max_channels: int = DEFAULT_MAX_CHANNELS,
) -> list[dict[str, Any]]:
    """Save PNG grids of the activations of ``layers`` for one image.

    Args:
        model: a torch module.
        spec: its input spec (drives resizing and normalisation).
        image: an image file (PNG, JPEG, ...).
        layers: qualified module names.
        out_dir: folder for ``<layer>.png``.
        max_channels: channels drawn per layer (default 64).

    Returns:
        One record per layer: name, activation shape, PNG path, activation mean/max.
    """
    resolve_layers(model, layers)  # fail on a bad name before reading anything
    batch = image_batch(image, spec)
    outputs = capture(model, batch, layers)
    ensure_dir(out_dir)
    records = []
    for name in layers:
        act = outputs.get(name)
        if act is None:
            raise InputError(
                f"layer {name!r} did not run in the forward pass",
                "pick another; a .pt2 program runs as one flat graph, so give the architecture "
                "name with --weights instead",
            )
        path = out_dir / f"{safe_name(name)}.png"
        title = f"{name} {'x'.join(map(str, act.shape[1:]))}"
        save_grid(act[0], path, title, max_channels)
        records.append(
            {
                "layer": name,
                "shape": list(act.shape),
                "png": str(path),
                "mean": float(act.mean()),
                "max": float(act.max()),
            }
        )
    return records
