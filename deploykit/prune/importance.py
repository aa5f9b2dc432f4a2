"""Channel importance criteria: a name -> Torch-Pruning importance table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from deploykit.metrics import check_labels_fit, label_classes


def _l1() -> Any:
    import torch_pruning as tp

    return tp.importance.MagnitudeImportance(p=1)


def _l2() -> Any:
    import torch_pruning as tp

    return tp.importance.MagnitudeImportance(p=2)


def _bn_scale() -> Any:
    import torch_pruning as tp

    return tp.importance.BNScaleImportance()


def _taylor() -> Any:
    import torch_pruning as tp

    return tp.importance.TaylorImportance()


def _random() -> Any:
    import torch_pruning as tp

    return tp.importance.RandomImportance()


# name -> (factory, one-line description). Taylor scores need gradients from labelled batches.
IMPORTANCES: dict[str, tuple[Callable[[], Any], str]] = {
    "l1": (_l1, "L1 norm of the group's weights"),
    "l2": (_l2, "L2 norm of the group's weights"),
    "bn-scale": (_bn_scale, "|gamma| of the BatchNorm after each channel (network slimming)"),
    "taylor": (_taylor, "first-order Taylor |w * dL/dw| on a few labelled batches"),
    "random": (_random, "random scores: the control every criterion should beat"),
}

NEEDS_GRADIENTS = frozenset({"taylor"})


def make_importance(name: str) -> Any:
    """A fresh Torch-Pruning importance for criterion ``name`` (see :data:`IMPORTANCES`)."""
    return IMPORTANCES[name][0]()


def accumulate_gradients(model: Any, images: Any, labels: Any, batch_size: int = 32) -> None:
    """Fill ``.grad`` of every parameter with the cross-entropy gradient on labelled batches.

    Args:
        model: the torch module (left in eval mode, gradients accumulated).
        images: prepared NCHW float tensor.
        labels: int64 tensor.
        batch_size: samples per backward pass.
    """
    import torch

    model.zero_grad(set_to_none=True)
    model.eval()  # BatchNorm running statistics stay as they are while scoring
    loss_fn = torch.nn.CrossEntropyLoss()
    classes = label_classes(labels.numpy())
    for start in range(0, len(labels), batch_size):
        logits = model(images[start : start + batch_size])
        check_labels_fit(logits.shape[1], classes, "the Taylor scoring data")
        loss = loss_fn(logits, labels[start : start + batch_size])
        loss.backward()
