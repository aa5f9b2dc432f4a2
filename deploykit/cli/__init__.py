"""The ``deploykit`` command: a thin Typer layer over the library.

Each verb lives in its own module and is registered here. User errors
(:class:`DeployKitError`) print one line and exit non-zero; bugs stay tracebacks.
"""

from __future__ import annotations

import sys

import typer

from deploykit.cli import (
    bench,
    calibrate,
    compare,
    demo,
    export,
    finetune,
    inspect,
    models,
    prune,
    signals,
)
from deploykit.cli import layers as layers_verb
from deploykit.cli import view as view_verb
from deploykit.cli.agent import agent
from deploykit.cli.devices import devices
from deploykit.errors import DeployKitError
from deploykit.fileio import write_failure

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
    """Run the CLI; return (and, as a console script, exit with) the exit code.

    SIGTERM (what CI runners and ``timeout`` send) is handled like Ctrl-C: the
    exception unwinds through every ``with`` block, so temporary files are removed
    and bench workers are killed, then one line is printed and the exit code is 143.
    A full disk, a file-size limit or a read-only folder is one line too.
    """
    with signals.SigtermGuard() as sigterm:
        try:
            app(args=argv, prog_name="deploykit")
            code = 0
        except SystemExit as exc:  # typer exits itself after --help, usage errors and Ctrl-C
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        except DeployKitError as exc:
            print(f"error: {exc}", file=sys.stderr)
            code = exc.exit_code
        except KeyboardInterrupt:
            code = 130
        except OSError as exc:
            failure = write_failure(exc)
            if failure is None:
                raise
            print(f"error: {failure}", file=sys.stderr)
            code = failure.exit_code
    if sigterm.received:
        print("error: terminated by SIGTERM; temporary files removed", file=sys.stderr)
        code = 143
    elif code == 130:
        print("error: interrupted", file=sys.stderr)
    if argv is None:
        sys.exit(code)
    return code
