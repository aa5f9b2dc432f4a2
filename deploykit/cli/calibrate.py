"""``deploykit calibrate``: draw a calibration set for INT8 export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from deploykit.cli.common import InputShape, console, out


def calibrate(
    data: Annotated[str, typer.Argument(help="digits, an ImageFolder directory, .npy or .npz.")],
    output: Annotated[Path, typer.Option("-o", "--out", help="The .npz to write.")] = Path(
        "calibration/calib.npz"
    ),
    samples: Annotated[int, typer.Option("--samples", help="Images to draw.")] = 256,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the draw.")] = 0,
    model: Annotated[
        Optional[str],
        typer.Option("--model", help="Prepare the images for this model (default: keep raw)."),
    ] = None,
    input_shape: InputShape = None,
) -> None:
    """Draw SAMPLES images from DATA with a fixed seed into a calibration set (.npz + .json).

    Without --model or --input-shape the images stay raw (native size, [0, 1]) and are
    resized and normalised for each model at export time.
    """
    from deploykit.calibration import make_calibration_set, spec_for

    spec = spec_for(model, input_shape)
    with console.status(f"drawing {samples} calibration images from {data}"):
        path = make_calibration_set(data, samples, seed, output, spec)
    prepared = "raw images" if spec is None else f"prepared for {'x'.join(map(str, spec.nchw))}"
    out.print(
        f"[bold green]wrote[/] {path} ({samples} {prepared}, seed {seed}) "
        f"+ {path.with_suffix('.json').name}"
    )
