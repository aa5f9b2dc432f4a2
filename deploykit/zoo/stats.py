"""Parameter and MAC counts of registered models at their default input."""

from __future__ import annotations

from typing import Any


def count_macs(model: Any, shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one forward pass at ``shape`` (convolutions and linear layers)."""
    import torch

    total = 0

    def conv_hook(module, _inputs, output):
        nonlocal total
        kernel = module.kernel_size[0] * module.kernel_size[1]
        total += output.numel() * kernel * module.in_channels // module.groups

    def linear_hook(module, _inputs, output):
        nonlocal total
        total += output.numel() * module.in_features

    hooks = []
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            hooks.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, torch.nn.Linear):
            hooks.append(module.register_forward_hook(linear_hook))
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(shape))
    finally:
        for hook in hooks:
            hook.remove()
    return total


def model_stats(name: str) -> dict[str, int]:
    """``{"params": ..., "macs": ...}`` for registry model ``name`` at its default input (batch 1)."""
    from deploykit.zoo import create_model, get_entry

    entry = get_entry(name)
    model = create_model(name)
    params = sum(p.numel() for p in model.parameters())
    return {"params": params, "macs": count_macs(model, entry.input_spec().nchw)}
