"""Fixtures for the pruning tests: a tiny labelled set and small input sizes per architecture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

# The smallest square input each seed architecture accepts (default 32).
TINY_SIZES = {"alexnet": 64, "inception_v3": 75}


def tiny_size(name: str) -> int:
    return TINY_SIZES.get(name, 32)


@pytest.fixture(scope="session")
def tiny_digits(tmp_path_factory) -> str:
    """256 real digits images with labels in a .npz (train and test alike): a quick fine-tune set."""
    from deploykit.data import load_dataset

    data = load_dataset("digits", split="train", limit=256)
    path = Path(tmp_path_factory.mktemp("data")) / "digits256.npz"
    np.savez(path, x=data.images, y=data.labels)
    return str(path)
