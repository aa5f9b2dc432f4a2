"""Preprocessing driven by an input spec: resize, centre crop, normalise."""

from __future__ import annotations

import numpy as np

from deploykit.spec import InputSpec


def _resize(images: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    if images.shape[2:] == tuple(size):
        return images
    import torch
    import torch.nn.functional as F

    tensor = torch.from_numpy(np.ascontiguousarray(images))
    kwargs = {"align_corners": False, "antialias": True} if mode == "bilinear" else {}
    out = F.interpolate(tensor, size=size, mode=mode, **kwargs)
    return out.numpy()


def _centre_crop(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = images.shape[2:]
    top, left = max(0, (h - size[0]) // 2), max(0, (w - size[1]) // 2)
    return images[:, :, top : top + size[0], left : left + size[1]]


def prepare(images: np.ndarray, spec: InputSpec, chunk: int = 256) -> np.ndarray:
    """Turn raw images into model input (NCHW float32), as ``spec.preprocess`` says.

    Args:
        images: N x C x H x W floats in [0, 1]; C is 1 or 3 (grey is repeated).
        spec: the model's input spec; its layout does not matter here, runners
            convert NCHW to their own layout.
        chunk: images resized at a time, to bound memory at large sizes.
    """
    pre = spec.preprocess
    target = spec.hw
    channels = spec.channels
    out = np.empty((len(images), channels, *target), dtype=np.float32)
    for start in range(0, len(images), chunk):
        block = images[start : start + chunk].astype(np.float32, copy=False)
        if block.shape[1] != channels:
            block = np.repeat(block[:, :1], channels, axis=1)
        if pre.channel_order == "BGR":
            block = block[:, ::-1]
        if pre.resize:
            h, w = block.shape[2:]
            scale = pre.resize / min(h, w)
            block = _resize(block, (round(h * scale), round(w * scale)), pre.interpolation)
            block = _centre_crop(block, (pre.crop, pre.crop) if pre.crop else target)
        block = _resize(block, target, pre.interpolation)
        mean = np.asarray(pre.mean[:channels], dtype=np.float32).reshape(1, -1, 1, 1)
        std = np.asarray(pre.std[:channels], dtype=np.float32).reshape(1, -1, 1, 1)
        out[start : start + len(block)] = (block - mean) / std
    return out
