"""Flat report formats of a run: CSV rows and a Markdown section (fit for a CI job summary)."""

from __future__ import annotations

import csv
import io
from typing import Any

from deploykit.bench.results import BenchRun, Cell

CSV_COLUMNS = (
    "key",
    "label",
    "item",
    "fmt",
    "backend",
    "device",
    "precision",
    "batch",
    "status",
    "error",
    "size_bytes",
    "top1",
    "top1_ci_low",
    "top1_ci_high",
    "top5",
    "n",
    "delta_vs_ref",
    "p_vs_ref",
    "agreement",
    "mean_ms",
    "p50_ms",
    "p90_ms",
    "p95_ms",
    "p99_ms",
    "std_ms",
    "cv",
    "throughput",
    "compute_p50_ms",
    "speedup",
    "peak_rss_mib",
    "gpu_mib",
    "reference",
    "device_name",
    "ran_on",
)


def cell_row(cell: Cell) -> dict[str, Any]:
    """One flat record per cell (the CSV row; also used by the HTML report)."""
    lat, acc, fid, mem = (
        cell.latency or {},
        cell.accuracy or {},
        cell.fidelity or {},
        cell.memory or {},
    )
    ci = acc.get("top1_ci") or [None, None]
    paired = acc.get("vs_reference") or {}
    return {
        "key": cell.key,
        "label": cell.label,
        "item": cell.item,
        "fmt": cell.fmt,
        "backend": cell.backend,
        "device": cell.device,
        "precision": cell.precision,
        "batch": cell.batch,
        "status": cell.status,
        "error": cell.error or "",
        "size_bytes": cell.size_bytes,
        "top1": acc.get("top1"),
        "top1_ci_low": ci[0],
        "top1_ci_high": ci[1],
        "top5": acc.get("top5"),
        "n": acc.get("n"),
        "delta_vs_ref": paired.get("delta"),
        "p_vs_ref": paired.get("p_value"),
        "agreement": fid.get("top1_agreement"),
        "mean_ms": lat.get("mean_ms"),
        "p50_ms": lat.get("p50_ms"),
        "p90_ms": lat.get("p90_ms"),
        "p95_ms": lat.get("p95_ms"),
        "p99_ms": lat.get("p99_ms"),
        "std_ms": lat.get("std_ms"),
        "cv": lat.get("cv"),
        "throughput": lat.get("throughput"),
        "compute_p50_ms": (lat.get("compute") or {}).get("p50_ms"),
        "speedup": cell.speedup,
        "peak_rss_mib": mem.get("peak_rss_mib"),
        "gpu_mib": mem.get("gpu_mib"),
        "reference": cell.reference,
        "device_name": cell.device_name,
        "ran_on": cell.ran_on,
    }


def to_csv(run: BenchRun) -> str:
    """All cells as CSV with a header row."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for cell in run.cells:
        writer.writerow({k: "" if v is None else v for k, v in cell_row(cell).items()})
    return buffer.getvalue()


def fmt_pct(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value * 100:.1f}"


def accuracy_text(cell: Cell) -> str:
    """``98.8 (97.1-99.5)``: top-1 % with its 95 % interval."""
    acc = cell.accuracy or {}
    if acc.get("top1") is None:
        return "-"
    ci = acc.get("top1_ci")
    return (
        f"{fmt_pct(acc['top1'])} ({fmt_pct(ci[0])}-{fmt_pct(ci[1])})"
        if ci
        else fmt_pct(acc["top1"])
    )


def paired_text(cell: Cell) -> str:
    """``-0.5 (p=0.50)`` top-1 points against the reference; ``*`` marks a significant loss."""
    test = (cell.accuracy or {}).get("vs_reference")
    if not test or cell.reference:
        return "-"
    mark = " *" if test.get("regressed") else ""
    return f"{test['delta'] * 100:+.1f} (p={test['p_value']:.2g}){mark}"


def environment_line(run: BenchRun) -> str:
    """One line: CPU, cores, flags, GPUs, Jetson."""
    env = run.environment
    cpu = env.get("cpu", {})
    parts = [
        f"{cpu.get('model', '?')} ({cpu.get('usable_cores', cpu.get('logical_cores', '?'))} cores"
        f"{', ' + ' '.join(cpu['flags'][-4:]) if cpu.get('flags') else ''})"
    ]
    parts += [f"{g.get('name')} (driver {g.get('driver_version')})" for g in env.get("gpus", [])]
    if jetson := env.get("jetson"):
        parts.append(
            f"{jetson.get('model', 'Jetson')} L4T {jetson.get('l4t', '?')} "
            f"power mode {jetson.get('power_mode', '?')}"
        )
    return "; ".join(parts)


def to_markdown(run: BenchRun, title: str = "deploykit bench") -> str:
    """The run as a Markdown section: environment, the cell table, failures.

    A fleet run adds each device's line and the device x artifact matrix, and a device column.
    """
    from deploykit.bench.devices import device_lines, device_names, matrix_markdown

    lines = [f"### {title}", "", f"Measured on {environment_line(run)}, {run.created[:19]} UTC."]
    if not run.complete:
        lines.append("\n**Partial run**: interrupted before every cell was measured.")
    fleet = bool(device_names(run))
    if fleet:
        lines += ["", *(f"- {line}" for line in device_lines(run)), *matrix_markdown(run)]
    lines += [
        "",
        ("| device " if fleet else "")
        + "| item | backend | prec | batch | status | MiB | top-1 % (95 % CI) | Δ top-1 vs ref (p) "
        "| p50 ms | p90 ms | img/s | speed-up | peak RSS MiB |",
        ("|---" if fleet else "") + "|---|---|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for cell in run.cells:
        size = f"{cell.size_bytes / 2**20:.2f}" if cell.size_bytes else "-"
        label = (f"{cell.device_name} | " if fleet else "") + cell.label
        label += " (ref)" if cell.reference else ""
        if cell.status != "ok":
            error = (cell.error or "").replace("|", "\\|")
            lines.append(
                f"| {label} | {cell.backend} | {cell.precision} | {cell.batch} | "
                f"failed: {error} | {size} | - | - | - | - | - | - | - |"
            )
            continue
        lat, mem = cell.latency, cell.memory or {}
        lines.append(
            f"| {label} | {cell.backend} | {cell.precision} | {cell.batch} | ok | {size} | "
            f"{accuracy_text(cell)} | {paired_text(cell)} | {lat['p50_ms']:.3f} | "
            f"{lat['p90_ms']:.3f} | {lat['throughput']:.0f} | "
            f"{f'{cell.speedup:.2f}x' if cell.speedup else '-'} | {mem.get('peak_rss_mib', '-')} |"
        )
    lines += [
        "",
        "Δ top-1 is the paired difference to the reference on the same images "
        "(McNemar exact test; * marks a significant loss).",
    ]
    return "\n".join(lines) + "\n"
