"""The device axis of fleet results: which devices a run measured, and which backend wins where.

A local run has no device names and none of this applies; a fleet run (see
:mod:`deploykit.fleet`) records each cell's ``device_name``, and the reports group
by it and add a device x artifact matrix of the fastest backend and its latency.
"""

from __future__ import annotations

from dataclasses import dataclass

from deploykit.bench.results import BenchRun, Cell


@dataclass(frozen=True)
class Winner:
    """The fastest successful cell of one (device, artifact) at the run's smallest batch.

    Attributes:
        backend: the winning backend.
        p50_ms: its median latency.
        batch: the batch size compared.
    """

    backend: str
    p50_ms: float
    batch: int


def device_names(run: BenchRun) -> list[str]:
    """The fleet devices of ``run`` in the order its cells name them (empty: a local run)."""
    return list(dict.fromkeys(c.device_name for c in run.cells if c.device_name))


def artifact_name(cell: Cell) -> str:
    """How the matrix names an artifact: its label and precision."""
    return f"{cell.label} {cell.precision}"


def fastest_matrix(run: BenchRun) -> dict[tuple[str, str], Winner]:
    """(device, artifact) -> the fastest backend there, at the smallest batch size measured."""
    ok = [c for c in run.cells if c.device_name and c.status == "ok" and c.latency]
    if not ok:
        return {}
    batch = min(c.batch for c in ok)
    best: dict[tuple[str, str], Winner] = {}
    for cell in ok:
        if cell.batch != batch:
            continue
        key = (cell.device_name, artifact_name(cell))
        p50 = cell.latency["p50_ms"]
        if key not in best or p50 < best[key].p50_ms:
            best[key] = Winner(cell.backend, p50, batch)
    return best


def matrix_rows(run: BenchRun) -> tuple[list[str], list[list[str]]]:
    """The matrix as a header (``device``, then artifacts) and one row of text per device."""
    best = fastest_matrix(run)
    artifacts = list(dict.fromkeys(artifact_name(c) for c in run.cells if c.device_name))
    rows = []
    for device in device_names(run):
        row = [device]
        for artifact in artifacts:
            won = best.get((device, artifact))
            row.append(f"{won.backend} {won.p50_ms:.2f} ms" if won else "-")
        rows.append(row)
    return ["device", *artifacts], rows


def matrix_markdown(run: BenchRun) -> list[str]:
    """The matrix as Markdown lines (empty for a local run)."""
    if not device_names(run):
        return []
    header, rows = matrix_rows(run)
    batch = next(iter(fastest_matrix(run).values()), None)
    lines = [
        "",
        f"Fastest backend per device and artifact (p50 at batch {batch.batch if batch else '-'}):",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def matrix_table(run: BenchRun):
    """The matrix as a rich Table (None for a local run)."""
    if not device_names(run):
        return None
    from rich.table import Table

    header, rows = matrix_rows(run)
    table = Table(title="fastest backend per device (p50)")
    for name in header:
        table.add_column(name, no_wrap=name == "device")
    for row in rows:
        table.add_row(*row)
    return table


def device_lines(run: BenchRun) -> list[str]:
    """One line per fleet device: its CPU, GPU or Jetson, from its environment capture."""
    from deploykit.bench.formats import environment_line

    return [
        f"{name}: {environment_line(BenchRun([], env, {}))}" for name, env in run.devices.items()
    ]
