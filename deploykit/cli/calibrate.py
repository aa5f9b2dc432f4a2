"""``deploykit calibrate``: draw a calibration set for INT8 export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from deploykit.calibration import CalibrateRequest
from deploykit.cli.common import console, out
from deploykit.options import declared


@declared
def calibrate(
    data: Annotated[str, typer.Argument(help="digits, an ImageFolder directory, .npy or .npz.")],
    request: CalibrateRequest,
    output: Annotated[Path, typer.Option("-o", "--out", help="The .npz to write.")] = Path(
        "calibration/calib.npz"
    ),
) -> None:
    """Draw SAMPLES images from DATA with a fixed seed into a calibration set (.npz + .json).

    Without --model or --input-shape the images stay raw (native size, [0, 1]) and are
    resized and normalised for each model at export time.
    """
    from deploykit.calibration import make_calibration_set, spec_for

    samples, seed = request.samples, request.seed
    spec = spec_for(request.model, request.input_shape)
    with console.status(f"drawing {samples} calibration images from {data}"):
        path = make_calibration_set(data, samples, seed, output, spec)
    prepared = "raw images" if spec is None else f"prepared for {'x'.join(map(str, spec.nchw))}"
    out.print(
        f"[bold green]wrote[/] {path} ({samples} {prepared}, seed {seed}) "
        f"+ {path.with_suffix('.json').name}"
    )
