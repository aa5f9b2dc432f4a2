"""The input spec: what a model eats, recorded in every manifest.

Data flows through deploykit as float32 NCHW batches already preprocessed for
the model; a runner whose artifact wants NHWC converts at its boundary, driven
by the spec's ``layout``.
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from deploykit.errors import InputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LAYOUTS = ("NCHW", "NHWC")


@dataclass(frozen=True)
class Preprocess:
    """How raw RGB images in [0, 1] become model input.

    Attributes:
        resize: shorter side is resized to this before cropping; None resizes
            straight to the input size.
        crop: centre crop size (square); None means no crop.
        mean: per-channel mean subtracted after scaling to [0, 1].
        std: per-channel divisor.
        interpolation: "bilinear" or "nearest".
        channel_order: "RGB", or "BGR" for models trained on BGR images (Caffe style);
            ``mean`` and ``std`` are in the model's channel order.
    """

    resize: int | None = None
    crop: int | None = None
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    interpolation: str = "bilinear"
    channel_order: str = "RGB"

    def __post_init__(self) -> None:
        for name in ("mean", "std"):
            values = getattr(self, name)
            if not values or not all(
                isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
                for v in values
            ):
                raise InputError(
                    f"preprocessing {name} {list(values)!r} is not a list of finite numbers",
                    "e.g. [0.485, 0.456, 0.406]",
                )
        if any(v == 0 for v in self.std):
            raise InputError(
                f"preprocessing std {list(self.std)} has a 0 (every image would divide by zero)",
                "use the std the model was trained with, e.g. [0.229, 0.224, 0.225]",
            )

    def check_channels(self, channels: int) -> None:
        """Refuse a mean or std that cannot cover ``channels`` (one value covers all)."""
        for name in ("mean", "std"):
            values = getattr(self, name)
            if len(values) != 1 and len(values) < channels:
                raise InputError(
                    f"preprocessing {name} has {len(values)} values for {channels} channels",
                    f"give one value per channel ({channels})",
                )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "mean": list(self.mean), "std": list(self.std)}

    def override(
        self,
        mean: tuple[float, ...] | None = None,
        std: tuple[float, ...] | None = None,
        scale: float | None = None,
        channel_order: str | None = None,
    ) -> Preprocess:
        """This recipe with the user's values: ``mean`` and ``std`` in pixel units of
        ``scale`` (pixels run 0..scale; default 1, so [0, 1]); one value means every channel."""
        unit = scale or 1.0

        def per_channel(values: tuple[float, ...] | None, own: tuple[float, ...]) -> tuple:
            if values is None:
                return own
            values = tuple(values) * 3 if len(values) == 1 else tuple(values)
            return tuple(v / unit for v in values)

        return replace(
            self,
            mean=per_channel(mean, self.mean),
            std=per_channel(std, self.std),
            channel_order=channel_order or self.channel_order,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocess:
        _require_object(data, "preprocess")
        for name in ("mean", "std"):
            if name in data and not isinstance(data[name], list):
                raise InputError(f"preprocessing {name} {data[name]!r} is not a list")
        return cls(
            resize=data.get("resize"),
            crop=data.get("crop"),
            mean=tuple(data.get("mean", IMAGENET_MEAN)),
            std=tuple(data.get("std", IMAGENET_STD)),
            interpolation=data.get("interpolation", "bilinear"),
            channel_order=data.get("channel_order", "RGB"),
        )


# What loaders use when nothing records a model's preprocessing (a factory, a bare .pt2 or
# .onnx, a .keras file): ImageNet mean/std. ``load_model`` tells this object apart by identity
# and says in one line that it was assumed.
ASSUMED_PREPROCESS = Preprocess()


@dataclass(frozen=True)
class InputSpec:
    """One image input of a classifier.

    Attributes:
        shape: full shape including the batch axis, in ``layout`` order; the
            batch entry is the example batch size (the axis itself is dynamic
            when ``dynamic_batch`` is set).
        name: the input's name in exported graphs.
        dtype: numpy dtype name of the input.
        layout: "NCHW" (PyTorch) or "NHWC" (Keras, TFLite).
        dynamic_batch: whether artifacts accept any batch size.
        preprocess: how images are prepared for the model.
    """

    shape: tuple[int, ...]
    name: str = "input"
    dtype: str = "float32"
    layout: str = "NCHW"
    dynamic_batch: bool = True
    preprocess: Preprocess = field(default_factory=Preprocess)

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise InputError(f"unknown layout {self.layout!r}", f"use one of {', '.join(LAYOUTS)}")
        if len(self.shape) != 4 or any(int(d) <= 0 for d in self.shape):
            raise InputError(
                f"input shape {'x'.join(map(str, self.shape))} is not an image batch",
                "give four positive sizes, e.g. 1x3x224x224 (NCHW) or 1x224x224x3 (NHWC)",
            )
        self.preprocess.check_channels(self.channels)

    @property
    def channels(self) -> int:
        return self.shape[1] if self.layout == "NCHW" else self.shape[3]

    @property
    def hw(self) -> tuple[int, int]:
        """Spatial size (height, width)."""
        return (self.shape[2], self.shape[3]) if self.layout == "NCHW" else self.shape[1:3]

    @property
    def nchw(self) -> tuple[int, int, int, int]:
        """The shape in NCHW order, whatever the layout."""
        h, w = self.hw
        return (self.shape[0], self.channels, h, w)

    def with_batch(self, batch: int) -> InputSpec:
        return replace(self, shape=(batch, *self.shape[1:]))

    def with_layout(self, layout: str) -> InputSpec:
        """The same input seen in another layout."""
        if layout == self.layout:
            return self
        n, c, h, w = self.nchw
        shape = (n, c, h, w) if layout == "NCHW" else (n, h, w, c)
        return replace(self, layout=layout, shape=shape)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "layout": self.layout,
            "dynamic_batch": self.dynamic_batch,
            "preprocess": self.preprocess.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputSpec:
        _require_object(data, "input")
        if not isinstance(data.get("shape"), list):
            raise InputError(f"input shape {data.get('shape')!r} is not a list of sizes")
        return cls(
            shape=tuple(int(d) for d in data["shape"]),
            name=data.get("name", "input"),
            dtype=data.get("dtype", "float32"),
            layout=data.get("layout", "NCHW"),
            dynamic_batch=bool(data.get("dynamic_batch", True)),
            preprocess=Preprocess.from_dict(data.get("preprocess", {})),
        )


def _require_object(data: Any, what: str) -> None:
    if not isinstance(data, dict):
        raise InputError(f"{what} is a {type(data).__name__}, expected an object (a JSON mapping)")


_SHAPE_RE = re.compile(r"^\s*\d+(\s*[x,]\s*\d+)*\s*$")


def parse_shape(text: str) -> tuple[int, ...]:
    """Parse ``"1x3x224x224"`` (or commas) into a tuple of ints.

    Raises:
        InputError: on anything else, with the expected syntax.
    """
    if not _SHAPE_RE.match(text or ""):
        raise InputError(
            f"cannot read input shape {text!r}",
            "write it as NxCxHxW, e.g. --input-shape 1x3x224x224",
        )
    dims = tuple(int(d) for d in re.split(r"\s*[x,]\s*", text.strip()))
    if len(dims) != 4 or min(dims) <= 0:
        raise InputError(
            f"input shape {text!r} must have four positive sizes",
            "write it as NxCxHxW, e.g. --input-shape 1x3x224x224",
        )
    return dims


def spec_for_shape(shape: tuple[int, ...], preprocess: Preprocess | None = None) -> InputSpec:
    """An NCHW or NHWC spec from a shape, guessing the layout from where 1 or 3 channels sit."""
    layout = "NHWC" if shape[3] in (1, 3) and shape[1] not in (1, 3) else "NCHW"
    return InputSpec(shape=shape, layout=layout, preprocess=preprocess or Preprocess())
