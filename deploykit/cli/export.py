"""``deploykit export``: build a verified artifact plus manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from deploykit.cli.common import (
    InputShape,
    NumClasses,
    OutDir,
    TrustCode,
    TrustPickle,
    Weights,
    console,
    out,
    source_options,
    split_list,
)
from deploykit.errors import InputError


def parse_options(pairs: list[str]) -> dict[str, object]:
    """``["workspace=2048", "dla=0"]`` -> ``{"workspace": 2048, "dla": 0}`` (JSON values when valid)."""
    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"cannot read --option {pair!r}", "write it as KEY=VALUE")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


def export(
    model: Annotated[
        str, typer.Argument(help="Registry name, module:factory, .pt2, .onnx, .keras.")
    ],
    to: Annotated[str, typer.Option("--to", help="Target: onnx, tflite or trt.")] = "onnx",
    precision: Annotated[
        str, typer.Option("--precision", help="fp32, fp16, int8, int8-dynamic.")
    ] = "fp32",
    out_dir: OutDir = Path("out"),
    name: Annotated[Optional[str], typer.Option("--name", help="Artifact file stem.")] = None,
    opset: Annotated[int, typer.Option("--opset", help="ONNX opset.")] = 18,
    static_batch: Annotated[
        bool, typer.Option("--static-batch", help="Fix the batch axis.")
    ] = False,
    no_simplify: Annotated[bool, typer.Option("--no-simplify", help="Skip onnxslim.")] = False,
    no_verify: Annotated[bool, typer.Option("--no-verify", help="Skip verification.")] = False,
    atol: Annotated[
        Optional[float], typer.Option("--atol", help="Max |diff| / max |logit|.")
    ] = None,
    min_cosine: Annotated[Optional[float], typer.Option("--min-cosine")] = None,
    min_agreement: Annotated[Optional[float], typer.Option("--min-agreement", help="0..1")] = None,
    verify_data: Annotated[
        str, typer.Option("--verify-data", help="Images to verify on.")
    ] = "digits",
    verify_samples: Annotated[int, typer.Option("--verify-samples")] = 32,
    calib: Annotated[
        Optional[Path], typer.Option("--calib", help="Calibration set (.npz).")
    ] = None,
    calib_method: Annotated[
        str, typer.Option("--calib-method", help="minmax, entropy, percentile.")
    ] = "minmax",
    max_accuracy_drop: Annotated[
        Optional[float], typer.Option("--max-accuracy-drop", help="Top-1 points.")
    ] = None,
    eval_data: Annotated[
        Optional[str], typer.Option("--eval", help="Labelled set for the budget.")
    ] = None,
    keep_fp32: Annotated[
        Optional[str], typer.Option("--keep-fp32", help="Node names/op types, comma-separated.")
    ] = None,
    option: Annotated[
        Optional[list[str]], typer.Option("--option", help="Target option KEY=VALUE (repeatable).")
    ] = None,
    num_classes: NumClasses = None,
    weights: Weights = None,
    input_shape: InputShape = None,
    trust_pickle: TrustPickle = False,
    trust_code: TrustCode = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Export MODEL to an artifact, verify it against the source, and write its manifest."""
    from deploykit.calibration import check_method
    from deploykit.export import ExportRequest, Tolerance, export_model
    from deploykit.export.verify import DEFAULT_TOLERANCES
    from deploykit.fileio import existing_file

    # Fail before the (slow) export on options that cannot work.
    check_method(calib_method)
    if calib is not None:
        existing_file(calib, "calibration set")

    tolerance = None
    if any(v is not None for v in (atol, min_cosine, min_agreement)):
        base = DEFAULT_TOLERANCES.get(precision, Tolerance())
        tolerance = Tolerance(
            max_abs=atol if atol is not None else base.max_abs,
            min_cosine=min_cosine if min_cosine is not None else base.min_cosine,
            min_top1_agreement=min_agreement
            if min_agreement is not None
            else base.min_top1_agreement,
        )
    request = ExportRequest(
        target=to,
        precision=precision,
        out_dir=out_dir,
        name=name,
        opset=opset,
        dynamic_batch=not static_batch,
        simplify=not no_simplify,
        verify=not no_verify,
        tolerance=tolerance,
        verify_data=verify_data,
        verify_samples=verify_samples,
        calib=calib,
        calib_method=calib_method,
        max_accuracy_drop=max_accuracy_drop,
        eval_data=eval_data,
        keep_fp32=tuple(split_list(keep_fp32)),
        options=parse_options(option or []),
    )
    sources = source_options(num_classes, weights, input_shape, trust_pickle, trust_code)
    with console.status(f"exporting {model} to {to} {precision}"):
        result = export_model(model, request, sources)
    manifest = result.manifest
    if as_json:
        out.print_json(json.dumps(manifest.to_dict()))
        return
    size = manifest.size_bytes / 2**20
    out.print(
        f"[bold green]wrote[/] {result.artifact} ({size:.2f} MiB, {manifest.precision}) "
        f"+ {result.artifact.with_suffix('.json').name}"
    )
    check = manifest.verification
    if check:
        out.print(
            f"verified on {check['n']} {check['data']} samples in {check['backend']}: "
            f"top-1 agreement {check['top1_agreement']:.1%}, cosine {check['cosine']:.6f}, "
            f"max |diff| {check['max_abs_diff']:.3g}"
        )
    else:
        out.print("[yellow]not verified[/] (--no-verify)")
    budget = manifest.details.get("accuracy_budget")
    if budget:
        kept = ", ".join(f["layer"] for f in budget["fp32_fallback"]) or "none"
        out.print(
            f"accuracy on {budget['n']} {budget['eval']} images: top-1 FP32 "
            f"{budget['fp32_top1']:.2f}, INT8 {budget['int8_top1']:.2f} (drop {budget['drop']:.2f}, "
            f"budget {budget['max_drop']}); layers kept in FP32: {kept}"
        )
