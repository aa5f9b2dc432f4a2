"""``deploykit bench``: latency and accuracy of artifacts and models on every backend."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Optional

import typer

from deploykit.bench.api import BenchConfig
from deploykit.cli.common import WIDE_HELP, console, out
from deploykit.errors import InputError
from deploykit.fileio import refuse_overwriting_inputs
from deploykit.fleet.request import FleetRequest
from deploykit.manifest import manifest_path
from deploykit.options import check_options, declared, option, overlay


@dataclass(frozen=True)
class BenchDisplay:
    """What ``deploykit bench`` prints on the terminal besides the table."""

    verbose: bool = option(
        False, "Print the tail of each failed cell's traceback.", flag="--verbose", suite=False
    )

    def __post_init__(self) -> None:
        check_options(self)


@declared
def bench(
    config: BenchConfig,
    display: BenchDisplay,
    fleet: FleetRequest,
    items: Annotated[
        Optional[list[str]],
        typer.Argument(
            help="Artifacts (.onnx, .tflite, .engine, .pt2) or model names; the first is the reference."
        ),
    ] = None,
    suite: Annotated[
        Optional[Path],
        typer.Option("--suite", help="A suite YAML (models x targets x precisions x batch sizes)."),
    ] = None,
    results_dir: Annotated[
        Optional[Path],
        typer.Option(
            "-o",
            "--out",
            help="Write results.json, .csv, .md and report.html here (suite: results/).",
        ),
    ] = None,
    delegate: Annotated[
        Optional[str], typer.Option("--delegate", help="LiteRT delegate, e.g. gpu.")
    ] = None,
    delegate_path: Annotated[
        Optional[Path], typer.Option("--delegate-path", help="Delegate library file.")
    ] = None,
    json_path: Annotated[
        Optional[Path], typer.Option("--json", help="Write results JSON here (as cells finish).")
    ] = None,
    csv_path: Annotated[Optional[Path], typer.Option("--csv", help="Write a CSV here.")] = None,
    markdown_path: Annotated[
        Optional[Path], typer.Option("--markdown", help="Write a Markdown report here.")
    ] = None,
    html_path: Annotated[
        Optional[Path], typer.Option("--html", help="Write a self-contained HTML report here.")
    ] = None,
    wide: Annotated[bool, typer.Option("--wide", help=WIDE_HELP)] = False,
) -> None:
    """Measure latency and accuracy of ITEMS (or a --suite) on each backend, side by side."""
    if suite is not None:
        if items:
            raise InputError("pass either ITEMS or --suite, not both", "the suite lists its models")
        from deploykit.bench.suite import load_suite, prepare_items

        spec = load_suite(suite, overrides=config)
        fleet = overlay(spec.fleet, fleet)
        if fleet.cluster is not None:  # the cluster and its devices first, before any export
            from deploykit.fleet.scheduler import preflight

            preflight(fleet)
        results_dir = results_dir or Path("results")
        with console.status("preparing artifacts") as status:
            bench_items, artifacts = prepare_items(
                spec, results_dir, status.update, on_devices=fleet.cluster is not None
            )
        for record in artifacts:
            verb = "reused" if record["reused"] else "exported"
            console.print(f"{verb} {record['artifact']}")
        config = spec.config
        extra = {"suite": {"name": spec.name, "path": str(suite)}, "artifacts": artifacts}
        title = f"deploykit bench: {spec.name}"
    else:
        if not items:
            raise InputError(
                "nothing to benchmark", "pass artifact files or model names, or --suite"
            )
        runner_extra = dict(config.runner_extra)
        if delegate:
            runner_extra["delegate"] = delegate
        if delegate_path:
            runner_extra["delegate_path"] = str(delegate_path)
        if runner_extra.get("delegate"):  # --delegate or --runner-option delegate=...
            # A delegate that cannot load ends the run (one line, non-zero), never a CPU cell.
            from deploykit.runners.litert import check_delegate

            check_delegate(runner_extra)
        config = replace(config, runner_extra=runner_extra)
        bench_items, extra, title = list(items), None, "deploykit bench"
    paths = _output_paths(results_dir, json_path, csv_path, markdown_path, html_path)
    inputs = [getattr(item, "ref", item) for item in bench_items] + [config.data]
    manifests = [manifest_path(Path(ref)) for ref in inputs if Path(ref).is_file()]
    refuse_overwriting_inputs(paths.values(), [*inputs, *manifests, *([suite] if suite else [])])
    if fleet.cluster is None and fleet.devices:
        console.print("devices are measured only with --cluster: running on this machine")
    run = _run_with_progress(bench_items, config, paths.get("json"), extra, display, fleet)
    from deploykit.bench.devices import matrix_table
    from deploykit.bench.report import print_report

    print_report(out, run, wide)
    if (matrix := matrix_table(run)) is not None:
        out.print(matrix)
    _write_reports(run, paths, title)
    from deploykit.bench.api import check_cells

    check_cells(run, config.strict)  # after the reports: what was measured is kept


def _output_paths(results_dir: Path | None, *explicit: Path | None) -> dict[str, Path]:
    """Where each report goes: explicit options win over the -o folder's default names."""
    names = ("json", "csv", "markdown", "html")
    defaults = ("results.json", "results.csv", "results.md", "report.html")
    paths = {n: p for n, p in zip(names, explicit, strict=True) if p is not None}
    if results_dir is not None:
        from deploykit.fileio import ensure_dir

        ensure_dir(results_dir)
        for name, default in zip(names, defaults, strict=True):
            paths.setdefault(name, results_dir / default)
    return paths


def _run_with_progress(
    items,
    config,
    checkpoint: Path | None,
    extra: dict | None,
    display: BenchDisplay,
    fleet: FleetRequest | None = None,
):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from deploykit.bench import run_bench

    columns = (
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("benchmarking", total=None)

        def on_cell(cell, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)
            if cell.status != "ok":
                console.print(f"failed {cell.key}: {cell.error}", markup=False, highlight=False)
                if display.verbose and cell.traceback:
                    console.print(cell.traceback, markup=False, highlight=False)

        return run_bench(
            items,
            config,
            progress=lambda text: bar.update(task, description=f"benchmarking {text}"),
            on_cell=on_cell,
            checkpoint=checkpoint,
            extra=extra,
            fleet=fleet,
        )


def _write_reports(run, paths: dict[str, Path], title: str) -> None:
    from deploykit.bench.formats import to_csv, to_markdown
    from deploykit.bench.html import to_html
    from deploykit.fileio import WriteError, write_text_atomic

    writers = {
        "json": run.write_json,
        "csv": lambda path: write_text_atomic(path, to_csv(run)),
        "markdown": lambda path: write_text_atomic(path, to_markdown(run, title)),
        "html": lambda path: write_text_atomic(path, to_html(run, title)),
    }
    try:
        for name, write in writers.items():
            if name in paths:
                write(paths[name])
    except WriteError as exc:  # a full disk or a read-only folder: the table above has it all
        raise WriteError(exc.message, "the measurements are in the table above") from None
    for path in paths.values():
        out.print(f"wrote {path}")
