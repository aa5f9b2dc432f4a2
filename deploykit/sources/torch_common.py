"""Helpers shared by the sources that yield torch modules."""

from __future__ import annotations

import contextlib
import zipfile
from pathlib import Path
from typing import Any

from deploykit.errors import ModelLoadError, ShapeError, first_line
from deploykit.fileio import existing_file, sha256_file
from deploykit.spec import InputSpec
from deploykit.untrusted import check_zip


def load_state_dict(module: Any, weights: Path) -> str:
    """Load a state dict into ``module`` without unpickling code; return the file's sha256."""
    import torch

    path = existing_file(weights, "weights file")
    if zipfile.is_zipfile(path):  # torch.save's format: cap it before torch expands it
        check_zip(path, f"weights file {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for unreadable or unsafe files
        raise ModelLoadError(
            f"cannot read weights {path} safely ({first_line(exc)})",
            "save a state_dict with torch.save(model.state_dict(), path)",
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    try:
        module.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise ModelLoadError(
            f"weights {path} do not fit the model ({_misfit(module, state) or first_line(exc)})",
            "check --num-classes and the model",
        ) from None
    return sha256_file(path)


def _misfit(module: Any, state: Any) -> str | None:
    """The first tensor whose shape differs, e.g. ``fc.weight is 10x512 in the file, 1000x512
    in the model (--num-classes 10?)``; else the missing and unexpected names."""
    if not isinstance(state, dict):
        return None
    own = module.state_dict()
    differ = [k for k in state if k in own and tuple(state[k].shape) != tuple(own[k].shape)]
    if differ:
        key = differ[0]
        have, want = ("x".join(map(str, t.shape)) for t in (state[key], own[key]))
        text = f"{key} is {have} in the file, {want} in the model"
        head = [k for k in own if k.endswith("weight")][-1]
        if key == head:  # the classifier: a checkpoint for another number of classes
            text += f" (--num-classes {state[key].shape[0]}?)"
        return text + (f", and {len(differ) - 1} more" if len(differ) > 1 else "")
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        return f"missing {missing[:3]}, unexpected {unexpected[:3]}"
    return None


def output_classes(module: Any, spec: InputSpec) -> int:
    """Run one zero batch through ``module`` and return its class count.

    Raises:
        ShapeError: when the module rejects the spec's shape or is not a classifier.
    """
    import torch

    example = torch.zeros(spec.with_batch(1).nchw)
    try:
        with torch.no_grad():
            out = module(example)
    except Exception as exc:  # any failure here means the shape does not suit the model
        first = first_line(exc)
        raise ShapeError(
            f"the model rejects input shape {'x'.join(map(str, spec.nchw))} ({first})",
            "pass the shape it was built for with --input-shape",
        ) from None
    if isinstance(out, (tuple, list)):
        out = out[0]
    if not hasattr(out, "ndim") or out.ndim != 2:
        raise ShapeError(
            f"the model's output has shape {tuple(getattr(out, 'shape', ()))}, not N x classes",
            "deploykit handles image classifiers returning logits",
        )
    return int(out.shape[1])


def eval_mode(module: Any) -> Any:
    """Put ``module`` in eval mode and return it.

    Modules unlifted from a ``torch.export`` program refuse ``eval()``: they are
    frozen in the mode they were exported in (eval, for everything deploykit saves).
    """
    with contextlib.suppress(NotImplementedError):
        module.eval()
    return module
