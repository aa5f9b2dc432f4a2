"""Zoo models trained on the built-in digits set, cached on disk.

The demo and the tests need classifiers that really classify; these train in
seconds on two cores and are cached as state dicts (loaded with
``weights_only=True``) under ``$DEPLOYKIT_CACHE`` (default ``~/.cache/deploykit``).
"""

from __future__ import annotations

import os
from pathlib import Path

from deploykit.fileio import atomic_path
from deploykit.sources import LoadedModel, SourceOptions, load_model
from deploykit.train import Progress, TrainConfig, fit


def cache_dir() -> Path:
    """The folder cached weights live in."""
    root = os.environ.get("DEPLOYKIT_CACHE") or Path.home() / ".cache" / "deploykit"
    return Path(root)


def trained_weights(
    name: str, config: TrainConfig | None = None, progress: Progress | None = None
) -> Path:
    """Train registry model ``name`` on digits (train split) once; return its weights file."""
    import torch

    from deploykit.data import load_dataset
    from deploykit.zoo import create_model, get_entry

    config = config or TrainConfig(epochs=8)
    path = cache_dir() / "weights" / f"{name}-digits-e{config.epochs}-s{config.seed}.pt"
    if path.is_file():
        return path
    entry = get_entry(name)
    model = create_model(name, num_classes=10)
    fit(model, load_dataset("digits", "train"), entry.input_spec(), config, progress)
    with atomic_path(path) as tmp:
        torch.save(model.state_dict(), tmp)
    return path


def load_trained(
    name: str, config: TrainConfig | None = None, progress: Progress | None = None
) -> LoadedModel:
    """Registry model ``name`` with digits-trained weights, as a loaded model."""
    weights = trained_weights(name, config, progress)
    return load_model(name, SourceOptions(num_classes=10, weights=weights))
