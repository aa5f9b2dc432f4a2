"""Parameter and MAC counts of registered models at their default input.

Counts are taken on PyTorch's ``meta`` device (shapes only, no memory, no
arithmetic) when the model allows it, and cached on disk so that
``deploykit models PATTERN`` stays quick on the second call.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from deploykit.fileio import write_json_atomic
from deploykit.sources.torch_common import eval_mode


def layer_macs(model: Any, shape: tuple[int, ...]) -> dict[str, int]:
    """Multiply-accumulates per named layer for one forward pass at ``shape``.

    Only convolutions and linear layers are counted (they dominate CNNs; attention
    matmuls and elementwise ops are left out). A layer called twice counts twice.
    """
    import torch

    macs: dict[str, int] = {}

    def conv_hook(name: str):
        def hook(module, _inputs, output):
            kernel = module.kernel_size[0] * module.kernel_size[1]
            count = output.numel() * kernel * module.in_channels // module.groups
            macs[name] = macs.get(name, 0) + count

        return hook

    def linear_hook(name: str):
        def hook(module, _inputs, output):
            macs[name] = macs.get(name, 0) + output.numel() * module.in_features

        return hook

    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Conv2d):
            hooks.append(module.register_forward_hook(conv_hook(name)))
        elif isinstance(module, torch.nn.Linear):
            hooks.append(module.register_forward_hook(linear_hook(name)))
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    eval_mode(model)
    try:
        with torch.no_grad():
            model(torch.zeros(shape, device=device))
    finally:
        for hook in hooks:
            hook.remove()
    return macs


def count_macs(model: Any, shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one forward pass at ``shape`` (convolutions and linear layers)."""
    return sum(layer_macs(model, shape).values())


def model_stats(name: str) -> dict[str, int]:
    """``{"params": ..., "macs": ...}`` for registry model ``name`` at its default input (batch 1)."""
    import torch

    from deploykit.zoo import create_model, get_entry

    entry = get_entry(name)
    shape = entry.input_spec().nchw
    try:
        # Shapes alone give both counts; the meta device skips allocation and initialisation.
        with torch.device("meta"):
            model = create_model(name)
            macs = count_macs(model, shape)
    except (RuntimeError, NotImplementedError):  # some initialisers copy real data
        model = create_model(name)
        macs = count_macs(model, shape)
    return {"params": sum(p.numel() for p in model.parameters()), "macs": macs}


def _version_key(name: str) -> str:
    """What the counts depend on: the library versions and, for zoo models, their source."""
    import torch
    import torchvision

    from deploykit.zoo import get_entry

    factory = get_entry(name).factory
    source = Path(getattr(sys.modules.get(factory.__module__), "__file__", "") or "")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12] if source.is_file() else ""
    return f"torch {torch.__version__}, torchvision {torchvision.__version__}, {digest}"


def cached_model_stats(names: list[str], cache_file: Path | None = None) -> dict[str, dict]:
    """:func:`model_stats` for each name, read from and written to a JSON cache.

    Args:
        names: registry names.
        cache_file: the cache (default: ``model-stats.json`` in the deploykit cache folder).
    """
    from deploykit.zoo.trained import cache_dir

    path = cache_file or cache_dir() / "model-stats.json"
    try:
        cache = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, json.JSONDecodeError):  # a damaged cache is rebuilt, not fatal
        cache = {}
    result, changed = {}, False
    for name in names:
        key = _version_key(name)
        hit = cache.get(name)
        if not hit or hit.get("key") != key:
            hit = {"key": key, **model_stats(name)}
            cache[name], changed = hit, True
        result[name] = {"params": hit["params"], "macs": hit["macs"]}
    if changed:
        write_json_atomic(path, cache)
    return result
