"""Datasets: the built-in ``digits``, the user's ImageFolder, and .npz arrays.

Every loader returns raw RGB images in [0, 1] (NCHW float32) plus labels;
:func:`prepare` turns them into model input for an :class:`InputSpec`.
"""

from deploykit.data.datasets import Dataset, load_dataset
from deploykit.data.transforms import prepare

__all__ = ["Dataset", "load_dataset", "prepare"]
