"""Image files to RGB floats in [0, 1], by Pillow mode, with Pillow's decompression-bomb limit.

``Image.convert("RGB")`` clips 16-bit and 32-bit pixels to 255 (a 16-bit PNG reads
as all white), so high-bit-depth modes are scaled here from their own range.
Alpha is dropped as torchvision's ImageFolder loader drops it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from deploykit.errors import InputError

# Modes whose pixels are integers with this full-scale value; read without convert().
_HIGH_BIT = {"I;16": 65535, "I;16L": 65535, "I;16B": 65535, "I;16N": 65535, "I": 65535}


def read_image(path: Path, size: int | None = None) -> np.ndarray:
    """One image file as 3 x H x W float32 in [0, 1], optionally resized to ``size`` square.

    Args:
        path: the image file.
        size: resize to this square size (bilinear); None keeps the file's size.

    Raises:
        InputError: missing file, not an image, over Pillow's pixel limit, or pixel
            values outside the range its mode allows.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                grey = _grey_levels(img, path)
                if grey is None:
                    img = img.convert("RGB")
                    if size:
                        img = img.resize((size, size), Image.BILINEAR)
                    return (np.asarray(img, dtype=np.float32) / 255.0).transpose(2, 0, 1)
    except FileNotFoundError:
        raise InputError(f"image {path} does not exist", "check the path") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(
            f"image {path} claims more than {Image.MAX_IMAGE_PIXELS:,} pixels",
            "refused as a decompression bomb; resize it first if it is real",
        ) from None
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"cannot read image {path} ({exc})", "give a PNG or JPEG file") from None
    if size:
        grey = np.asarray(Image.fromarray(grey, mode="F").resize((size, size), Image.BILINEAR))
    return np.repeat(grey[None], 3, axis=0).astype(np.float32)


def _grey_levels(img, path: Path) -> np.ndarray | None:
    """Grey levels in [0, 1] for 16-bit, 32-bit and float images; None for 8-bit modes."""
    if img.mode in _HIGH_BIT:
        pixels = np.asarray(img).astype(np.float64)
        if pixels.size and (pixels.min() < 0 or pixels.max() > _HIGH_BIT[img.mode]):
            raise InputError(
                f"image {path} is {img.mode} with values {pixels.min():g}..{pixels.max():g}, "
                "outside 0..65535",
                "save it as an 8- or 16-bit PNG",
            )
        return (pixels / _HIGH_BIT[img.mode]).astype(np.float32)
    if img.mode == "F":
        pixels = np.asarray(img, dtype=np.float32)
        if pixels.size and (not np.isfinite(pixels).all() or pixels.min() < 0 or pixels.max() > 1):
            raise InputError(
                f"image {path} holds floats outside [0, 1] ({np.nanmin(pixels):g}..{np.nanmax(pixels):g})",
                "scale float images to [0, 1] or save them as 8- or 16-bit PNG",
            )
        return pixels
    return None
