"""``deploykit inspect``: per-layer weight table, feature-map PNGs, or an exported graph's summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from deploykit.cli.common import WIDE_HELP, note_assumptions, out
from deploykit.errors import InputError
from deploykit.inspect import InspectRequest
from deploykit.options import declared
from deploykit.sources import SourceOptions
from deploykit.targets import format_of
from deploykit.terminal import Column, fit_table, print_table

# Formats summarised as graphs (deploykit.inspect.graph) rather than loaded as models.
GRAPH_FORMATS = ("onnx", "tflite")


def _print_graph(summary) -> None:
    out.print(
        f"[bold]{summary.path}[/]  {summary.format}, {summary.size_bytes / 2**20:.2f} MiB, "
        f"{summary.nodes} ops, {summary.params / 1e6:.2f} M stored weights"
    )
    if summary.opset:
        out.print("opset: " + ", ".join(f"{d} {v}" for d, v in summary.opset.items()))
    io = Table(title="inputs and outputs")
    for column in ("", "name", "shape", "dtype"):
        io.add_column(column)
    for kind, values in (("input", summary.inputs), ("output", summary.outputs)):
        for v in values:
            io.add_row(kind, v["name"], "x".join(map(str, v["shape"])), v["dtype"])
    out.print(io)
    ops = Table(title="ops")
    ops.add_column("op")
    ops.add_column("count", justify="right")
    for op, count in summary.ops.items():
        ops.add_row(op, str(count))
    out.print(ops)
    quant = ", ".join(f"{op} {n}" for op, n in summary.quantized.items())
    out.print(f"quantized ops: {quant or 'none (float graph)'}")


WEIGHT_COLUMNS = (
    Column("layer", "left", keep=100, fold=True),
    Column("type", "left", keep=50),
    Column("shape", "left", keep=60),
    Column("params", keep=90),
    Column("MMACs", keep=80),
    Column("mean", keep=20),
    Column("std", keep=30),
    Column("min", keep=10),
    Column("max", keep=11),
    Column("near 0", keep=40),
)


def _print_weights(name: str, report, wide: bool) -> None:
    shape = "x".join(map(str, report.input_shape or ()))
    rows = [
        [
            row.name,
            row.type,
            "x".join(map(str, row.shape)),
            f"{row.params:,}",
            f"{row.macs / 1e6:.2f}",
            f"{row.mean:+.4f}",
            f"{row.std:.4f}",
            f"{row.min:+.4f}",
            f"{row.max:+.4f}",
            f"{row.near_zero:.1%}",
        ]
        for row in report.layers
    ]
    title = (
        f"{name}: {report.params / 1e6:.3f} M params, {report.macs / 1e6:.1f} M MACs at "
        f"{shape}, {report.near_zero:.2%} of weights |w| < {report.eps:g}"
    )
    table = fit_table(WEIGHT_COLUMNS, rows, None if wide else out.width, title)
    print_table(out, table, wide)


def _tensorboard(loaded, request: InspectRequest, as_json: bool) -> None:
    from deploykit.inspect.featuremaps import image_batch
    from deploykit.inspect.tensorboard import write_tensorboard

    batch = image_batch(request.feature_maps, loaded.spec) if request.feature_maps else None
    record = write_tensorboard(
        loaded.model,
        loaded.spec,
        request.tensorboard,
        batch,
        list(request.layers) or None,
        request.max_channels,
    )
    if as_json:
        out.print_json(json.dumps(record))
        return
    graph = "graph" if record["graph"] is True else f"no graph: {record['graph']}"
    out.print(
        f"wrote {graph}, {len(record['histograms'])} weight histograms and feature maps of "
        f"{', '.join(record['feature_maps'])} to {record['log_dir']} "
        f"(view: tensorboard --logdir {record['log_dir']})"
    )


@declared
def inspect(
    model: Annotated[
        str,
        typer.Argument(help="Registry name, module:factory, .pt2, .pt, or an .onnx/.tflite file."),
    ],
    request: InspectRequest,
    source: SourceOptions,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    wide: Annotated[bool, typer.Option("--wide", help=WIDE_HELP)] = False,
) -> None:
    """Look inside a model: weight statistics per layer, feature maps, or a graph summary."""
    feature_maps, layers = request.feature_maps, request.layers
    if format_of(model) in GRAPH_FORMATS:
        if feature_maps or layers or request.tensorboard:
            which = "--tensorboard" if request.tensorboard else "--feature-maps"
            raise InputError(
                f"{which} needs a torch model", "pass a registry name, .pt2 or factory"
            )
        from deploykit.inspect.graph import summarize_graph

        summary = summarize_graph(Path(model))
        if as_json:
            out.print_json(json.dumps(summary.to_dict()))
        else:
            _print_graph(summary)
        return
    if layers and not (feature_maps or request.tensorboard):
        raise InputError("--layers selects feature maps", "add --feature-maps IMAGE")
    from deploykit.sources import load_model

    loaded = load_model(model, source)
    note_assumptions(loaded)
    if loaded.kind != "torch":
        raise InputError(
            f"{model} is a {loaded.kind} model; per-layer inspection needs torch",
            "export it and inspect the .onnx or .tflite file",
        )
    if request.tensorboard:
        _tensorboard(loaded, request, as_json)
        return
    if feature_maps:
        from deploykit.inspect.featuremaps import feature_maps as render

        records = render(
            loaded.model,
            loaded.spec,
            feature_maps,
            list(layers),
            request.out_dir,
            request.max_channels,
        )
        if as_json:
            out.print_json(json.dumps(records))
            return
        for record in records:
            shape = "x".join(map(str, record["shape"]))
            out.print(f"{record['layer']}: {shape} -> {record['png']}")
        return
    from deploykit.inspect.weights import weight_report

    report = weight_report(loaded.model, loaded.spec.with_batch(1).nchw, request.eps)
    if as_json:
        out.print_json(json.dumps({"model": loaded.name, **report.to_dict()}))
    else:
        _print_weights(loaded.name, report, wide)
