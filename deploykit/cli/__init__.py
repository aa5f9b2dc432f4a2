"""The ``deploykit`` command: a thin Typer layer over the library.

Each verb lives in its own module and is registered here. User errors
(:class:`DeployKitError`) print one line and exit non-zero; bugs stay tracebacks.
"""

from __future__ import annotations

import sys

import typer

from deploykit.cli import bench, calibrate, compare, demo, export, finetune, inspect, models, prune
from deploykit.cli import layers as layers_verb
from deploykit.cli import view as view_verb
from deploykit.cli.agent import agent
from deploykit.cli.devices import devices
from deploykit.errors import DeployKitError

app = typer.Typer(
    name="deploykit",
    help="Prune, export and benchmark image classifiers for edge deployment.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("models")(models.models)
app.command("export")(export.export)
app.command("inspect")(inspect.inspect)
app.command("finetune")(finetune.finetune)
app.command("prune")(prune.prune)
app.command("bench")(bench.bench)
app.command("compare")(compare.compare)
app.command("demo")(demo.demo)
app.command("calibrate")(calibrate.calibrate)
app.command("layers")(layers_verb.layers)
app.command("view")(view_verb.view)
app.command("agent")(agent)
app.command("devices")(devices)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return (and, as a console script, exit with) the exit code."""
    try:
        app(args=argv, prog_name="deploykit")
        code = 0
    except SystemExit as exc:  # typer exits itself after --help and usage errors
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    except DeployKitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        code = 130
    if argv is None:
        sys.exit(code)
    return code
