"""Terminal report: the cells as tables that fit the terminal, and plain summary sentences.

In a narrow terminal the run is shown as two tables, latency (one row per cell)
and accuracy (one row per item and backend, since accuracy does not depend on the
batch size), each leaving out its least important columns when it still does
not fit; ``wide`` prints one table with every column. JSON, CSV, Markdown and
HTML always hold everything.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from deploykit.bench.formats import fmt_pct, paired_text
from deploykit.bench.results import BenchRun, Cell
from deploykit.metrics import class_mismatch
from deploykit.terminal import Column, fit_table, natural_width, print_lines, print_table

KEY = (
    Column("item", "left", keep=100, fold=True),
    Column("backend", "left", keep=90),
    Column("prec", "left", keep=80),
)
BATCH = Column("batch", keep=85)
STATUS = Column("status", "left", keep=70)
SIZE = Column("MiB", keep=20)
LATENCY = (
    Column("p50 ms", keep=65),
    Column("p90 ms", keep=8),
    Column("img/s", keep=30),
    Column("speed-up", keep=45),
    Column("RSS MiB", keep=3),
)
ACCURACY = (
    Column("top-1 %", keep=60),
    Column("top-5 %", keep=5),
    Column("Δ ref (p)", keep=50),
    Column("agree %", keep=40),
)


def _key(cell: Cell) -> list[str]:
    label = cell.label + (" (ref)" if cell.reference else "")
    if cell.device_name:  # a fleet run: the device names the row first
        label = f"{cell.device_name}: {label}"
    return [label, cell.backend, cell.precision]


def _status(cell: Cell) -> Text:
    return Text("ok", "green") if cell.status == "ok" else Text("failed", "red")


def _size(cell: Cell) -> str:
    return f"{cell.size_bytes / 2**20:.2f}" if cell.size_bytes else "-"


def _latency(cell: Cell) -> list[str]:
    if cell.status != "ok" or not cell.latency:
        return ["-"] * len(LATENCY)
    lat = cell.latency
    return [
        f"{lat['p50_ms']:.2f}" + (" ~" if lat.get("noisy") else ""),
        f"{lat['p90_ms']:.2f}",
        f"{lat['throughput']:.0f}",
        f"{cell.speedup:.2f}x" if cell.speedup else "-",
        f"{(cell.memory or {}).get('peak_rss_mib', '-')}",
    ]


def _accuracy(cell: Cell) -> list[str]:
    if cell.status != "ok":
        return ["-"] * len(ACCURACY)
    acc, fid = cell.accuracy or {}, cell.fidelity or {}
    return [
        fmt_pct(acc.get("top1")),
        fmt_pct(acc.get("top5")),
        paired_text(cell),
        fmt_pct(fid.get("top1_agreement")),
    ]


def _first_per_group(run: BenchRun) -> list[Cell]:
    """One cell per (item, backend): its first measured cell, else its first cell."""
    groups: dict[tuple[str, str], Cell] = {}
    for cell in run.cells:
        held = groups.get((cell.item, cell.backend))
        if held is None or (held.status != "ok" and cell.status == "ok"):
            groups[(cell.item, cell.backend)] = cell
    return list(groups.values())


def results_tables(run: BenchRun, width: int | None = None) -> list[Table]:
    """The run as tables that fit ``width`` columns (None: one table with every column).

    Args:
        run: the benchmark run.
        width: the terminal width; one combined table when it fits, else a latency
            table and an accuracy table, each leaving out what still does not fit.
    """
    caption = run.environment.get("cpu", {}).get("model")
    columns = [*KEY, BATCH, STATUS, SIZE, *ACCURACY, *LATENCY]
    rows = [
        [*_key(c), str(c.batch), _status(c), _size(c), *_accuracy(c), *_latency(c)]
        for c in run.cells
    ]
    if width is None or natural_width(columns, rows) <= width:
        return [fit_table(columns, rows, None, "deploykit bench", caption)]
    latency = fit_table(
        [*KEY, BATCH, STATUS, *LATENCY],
        [[*_key(c), str(c.batch), _status(c), *_latency(c)] for c in run.cells],
        width,
        "latency",
        caption,
    )
    groups = _first_per_group(run)
    accuracy = fit_table(
        [*KEY, SIZE, *ACCURACY],
        [[*_key(c), _size(c), *_accuracy(c)] for c in groups],
        width,
        f"accuracy on {_data_name(run)}",
        "Δ ref: top-1 points against the reference on the same images (McNemar p; * a "
        "significant loss)",
    )
    return [latency, accuracy]


def _data_name(run: BenchRun) -> str:
    data = run.config.get("data", "?")
    limit = run.config.get("limit")
    return f"{data} (at most {limit} images)" if limit else str(data)


def print_report(console: Console, run: BenchRun, wide: bool = False) -> None:
    """Print the tables (fitted to ``console``'s width unless ``wide``) and the summary lines."""
    for table in results_tables(run, None if wide else console.width):
        print_table(console, table, wide)
    print_lines(console, summary_lines(run))


def _class_warnings(run: BenchRun) -> list[str]:
    """Items whose output width disagrees with the data's labels or with the reference's."""
    lines = []
    groups = [c for c in _first_per_group(run) if c.status == "ok" and c.accuracy]
    ref = next((c for c in groups if c.reference), None)
    data = str(run.config.get("data", "the data"))
    for cell in groups:
        outputs = cell.accuracy.get("outputs")
        if outputs is None:  # results written before outputs were recorded
            continue
        warning = class_mismatch(outputs, cell.accuracy.get("classes", 0), data)
        if warning:
            lines.append(f"! {cell.label} on {cell.backend}: {warning}")
        if ref is not None and ref.accuracy.get("outputs", outputs) != outputs:
            lines.append(
                f"! {cell.label} on {cell.backend} has {outputs} outputs, the reference "
                f"{ref.label} has {ref.accuracy['outputs']}: no agreement figures against it"
            )
    return lines


def summary_lines(run: BenchRun) -> list[str]:
    """Plain sentences: notes from the run, the fastest backend per item, noisy measurements."""
    lines = list(run.config.get("notes", []))
    by_item: dict[str, list] = {}
    for cell in run.cells:
        if cell.status == "ok":
            by_item.setdefault(f"{cell.device_name}|{cell.label}|{cell.batch}", []).append(cell)
    for cells in by_item.values():
        if len(cells) > 1:
            cells.sort(key=lambda c: c.latency["p50_ms"])
            best, runner_up = cells[0], cells[1]
            ratio = runner_up.latency["p50_ms"] / best.latency["p50_ms"]
            where = f" on {best.device_name}" if best.device_name else ""
            lines.append(
                f"fastest for {best.label} (batch {best.batch}){where}: {best.backend} "
                f"({best.latency['p50_ms']:.2f} ms p50, {ratio:.2f}x faster than "
                f"{runner_up.backend})"
            )
    noisy = [c for c in run.cells if c.status == "ok" and c.latency.get("noisy")]
    if noisy:
        lines.append(
            f"~ {len(noisy)} measurement(s) varied by more than 10% (coefficient of "
            "variation); the machine may be busy: rerun with --min-time larger"
        )
    warned: dict[str, list[str]] = {}
    for cell in run.cells:
        for warning in (cell.runner or {}).get("details", {}).get("warnings", []):
            warned.setdefault(warning, []).append(f"{cell.label} on {cell.backend}")
    for warning, where in warned.items():
        lines.append(f"! {', '.join(dict.fromkeys(where))}: {warning}")
    lines += _class_warnings(run)
    lost = [c for c in run.cells if (c.accuracy or {}).get("vs_reference", {}).get("regressed")]
    for cell in lost:
        test = cell.accuracy["vs_reference"]
        lines.append(
            f"* {cell.label} on {cell.backend} loses {-test['delta'] * 100:.1f} top-1 points "
            f"against the reference on the same images (McNemar p={test['p_value']:.2g})"
        )
    for cell in run.cells:
        if cell.status != "ok":
            lines.append(
                f"failed: {cell.label} on {cell.backend} (batch {cell.batch}): {cell.error}"
            )
    return lines
