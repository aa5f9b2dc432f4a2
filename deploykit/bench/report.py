"""Terminal report: one row per cell, and which backend wins for each item."""

from __future__ import annotations

from rich.table import Table

from deploykit.bench.devices import device_names
from deploykit.bench.formats import paired_text
from deploykit.bench.results import BenchRun


def _pct(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value * 100:.1f}"


def results_table(run: BenchRun) -> Table:
    """A rich table in the spirit of Ultralytics' benchmark table."""
    table = Table(title="deploykit bench", caption=run.environment.get("cpu", {}).get("model"))
    fleet = bool(device_names(run))
    if fleet:  # a fleet run: cells grouped by device, one section each
        table.add_column("device", no_wrap=True)
    for name, justify in (
        ("item", "left"),
        ("backend", "left"),
        ("prec", "left"),
        ("batch", "right"),
        ("status", "left"),
        ("MiB", "right"),
        ("top-1 %", "right"),
        ("top-5 %", "right"),
        ("Δ ref (p)", "right"),
        ("agree %", "right"),
        ("p50 ms", "right"),
        ("p90 ms", "right"),
        ("img/s", "right"),
        ("speed-up", "right"),
        ("RSS MiB", "right"),
    ):
        table.add_column(name, justify=justify, no_wrap=name in ("item", "status"))
    previous = None
    for cell in run.cells:
        if fleet and previous is not None and cell.device_name != previous:
            table.add_section()
        previous = cell.device_name
        lead = [cell.device_name or "-"] if fleet else []
        size = f"{cell.size_bytes / 2**20:.2f}" if cell.size_bytes else "-"
        if cell.status != "ok":
            table.add_row(
                *lead,
                cell.label,
                cell.backend,
                cell.precision,
                str(cell.batch),
                f"[red]failed[/]: {cell.error}",
                size,
                *["-"] * 9,
            )
            continue
        lat, acc, fid = cell.latency, cell.accuracy or {}, cell.fidelity or {}
        noisy = " [yellow]~[/]" if lat.get("noisy") else ""
        table.add_row(
            *lead,
            cell.label + (" [dim](ref)[/]" if cell.reference else ""),
            cell.backend,
            cell.precision,
            str(cell.batch),
            "[green]ok[/]",
            size,
            _pct(acc.get("top1")),
            _pct(acc.get("top5")),
            paired_text(cell),
            _pct(fid.get("top1_agreement")),
            f"{lat['p50_ms']:.2f}{noisy}",
            f"{lat['p90_ms']:.2f}",
            f"{lat['throughput']:.0f}",
            f"{cell.speedup:.2f}x" if cell.speedup else "-",
            f"{(cell.memory or {}).get('peak_rss_mib', '-')}",
        )
    return table


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
