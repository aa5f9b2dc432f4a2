"""Options shared by several verbs, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from deploykit.sources import SourceOptions
from deploykit.spec import parse_shape

console = Console(stderr=True)
# Tables are wide; when stdout is a file or pipe, don't squeeze them into 80 columns.
out = Console() if Console().is_terminal else Console(width=200)

NumClasses = Annotated[
    Optional[int], typer.Option("--num-classes", help="Classifier width (default: the model's).")
]
Weights = Annotated[
    Optional[Path],
    typer.Option("--weights", help="state_dict file, loaded with weights_only=True."),
]
InputShape = Annotated[
    Optional[str],
    typer.Option("--input-shape", help="e.g. 1x3x224x224 (NCHW) or 1x96x96x3 (NHWC)."),
]
TrustPickle = Annotated[
    bool, typer.Option("--trust-pickle", help="Allow unpickling a whole-model .pt (runs its code).")
]
TrustCode = Annotated[
    bool, typer.Option("--trust-code", help="Allow Keras Lambda layers/custom objects (runs code).")
]
Threads = Annotated[Optional[int], typer.Option("--threads", help="Intra-op threads per runner.")]
OutDir = Annotated[Path, typer.Option("-o", "--out", help="Output directory.")]


def source_options(
    num_classes: int | None,
    weights: Path | None,
    input_shape: str | None,
    trust_pickle: bool = False,
    trust_code: bool = False,
) -> SourceOptions:
    """Build :class:`SourceOptions` from the shared CLI options."""
    return SourceOptions(
        num_classes=num_classes,
        weights=weights,
        input_shape=parse_shape(input_shape) if input_shape else None,
        trust_pickle=trust_pickle,
        trust_code=trust_code,
    )


def split_list(text: str | None) -> list[str]:
    """``"a,b, c"`` -> ``["a", "b", "c"]``."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]
