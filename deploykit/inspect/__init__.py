"""Looking inside models: per-layer weight statistics, feature maps, exported graph summaries.

``weights`` tabulates a torch model layer by layer, ``featuremaps`` renders
activations at chosen layers as PNG grids, ``graph`` summarises an ONNX or
TFLite file. Each module imports its frameworks lazily.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deploykit.options import check_options, option

DEFAULT_EPS = 1e-3
DEFAULT_MAX_CHANNELS = 64


@dataclass(frozen=True)
class InspectRequest:
    """What ``deploykit inspect`` shows besides the per-layer table.

    Attributes:
        feature_maps: image whose activations to render as PNG grids.
        layers: layer names for the feature maps.
        max_channels: channels drawn per layer.
        eps: weights with ``|w| < eps`` count as near zero.
        out_dir: folder for the feature-map PNGs.
        tensorboard: folder for a TensorBoard run (graph, weight histograms, feature maps).
    """

    feature_maps: Path | None = option(None, "Image whose activations to render as PNG grids.")
    layers: tuple[str, ...] = option((), "Layer names for --feature-maps, e.g. layer1,layer3.")
    max_channels: int = option(DEFAULT_MAX_CHANNELS, "Channels drawn per layer.", min=1)
    eps: float = option(DEFAULT_EPS, "Weights with |w| < eps count as near zero.", min=0)
    out_dir: Path = option(Path("maps"), "Folder for feature-map PNGs.", flag="--out", short="-o")
    tensorboard: Path | None = option(
        None, "Write the graph, weight histograms and feature maps for TensorBoard here."
    )

    def __post_init__(self) -> None:
        check_options(self)
