"""Text renderings of a layer report: the terminal tables and Markdown.

Both show, per backend, the top-k worst layers (the sensitivity ranking: the
layers measured kept in FP32 first, by the output cosine that recovers, then the
rest by local SQNR, whose own conversion loses the most) and the top-k slowest,
then the unattributed time and the ratio of the per-layer sum to the end-to-end
median.
"""

from __future__ import annotations

from typing import Any

from deploykit.layers.report import LayerReport, LayerRow, recovery, slowest_layers, worst_layers

ACCURACY_COLUMNS = (
    "rank",
    "node",
    "op",
    "FP32-kept out cos",
    "agree",
    "local SQNR dB",
    "SQNR dB",
    "cosine",
    "max abs",
    "fused",
)
RANKING = "most recovered when kept in FP32 first, then lowest local SQNR"
LATENCY_COLUMNS = ("rank", "node", "op", "ms", "share", "precision", "fused members")


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}"


def accuracy_rows(report: LayerReport, backend: str, k: int) -> list[list[str]]:
    """Cells of the worst-k table for ``backend``."""
    cells = []
    for rank, row in enumerate(worst_layers(report, backend, k), 1):
        acc = row.accuracy[backend]
        local = _num(acc.get("local_sqnr_db"))
        if acc.get("local") == "estimated" and local != "-":
            local += " (est.)"
        kept = recovery(row, backend) or {}
        cells.append(
            [
                str(rank),
                row.node,
                row.op,
                _num(kept.get("cosine"), 5),
                f"{kept['agreement']:.0%}" if kept else "-",
                local,
                _num(acc.get("sqnr_db")),
                _num(acc.get("cosine"), 5),
                _num(acc.get("max_abs"), 4),
                ", ".join(acc.get("members") or []),
            ]
        )
    return cells


def latency_rows(report: LayerReport, backend: str, k: int) -> list[list[str]]:
    """Cells of the slowest-k table for ``backend``, then the unattributed row."""
    cells = []
    for rank, row in enumerate(slowest_layers(report, backend, k), 1):
        lat = row.latency[backend]
        share = lat.get("share")
        cells.append(
            [
                str(rank),
                row.node,
                row.op,
                _num(lat["ms"], 4),
                f"{share:.1%}" if share is not None else "-",
                lat.get("precision") or "-",
                ", ".join(lat.get("members") or []),
            ]
        )
    lost = report.unattributed.get(backend)
    if lost is not None:
        share = lost.get("share")
        cells.append(
            [
                "",
                "unattributed",
                "",
                _num(lost.get("ms"), 4),
                f"{share:.1%}" if share is not None else "-",
                "",
                ", ".join(lost.get("kernels") or [])[:80],
            ]
        )
    return cells


def sensitivity_line(report: LayerReport, backend: str) -> str | None:
    """How the ranking was made: the INT8 output's fidelity, and how many layers were measured."""
    summary = (report.backends[backend].get("accuracy") or {}).get("sensitivity")
    if not summary:
        return None
    int8 = summary["int8"]
    top1 = (
        f", top-1 {int8['top1']:.1f} % (FP32 {summary['fp32_top1']:.1f} %)"
        if "top1" in int8
        else ""
    )
    return (
        f"artifact output vs FP32 on {summary['images']} images: cosine {int8['cosine']:.5f}, "
        f"top-1 agreement {int8['agreement']:.0%}{top1}; the {summary['measured']} worst layers "
        "by local SQNR were each kept in FP32 and run end to end (FP32-kept out cos, agree), "
        "and lead the ranking by what they recover"
    )


def latency_line(report: LayerReport, backend: str) -> str:
    """``per-layer sum 1.234 ms = 0.97 x end-to-end median 1.270 ms (30 runs); why``."""
    summary = report.backends[backend]["latency"]
    lost = report.unattributed.get(backend, {})
    ratio = summary.get("ratio")
    line = (
        f"per-layer sum {summary['layer_sum_ms']:.3f} ms = {ratio:.2f} x end-to-end median "
        f"{summary['e2e_median_ms']:.3f} ms ({summary['runs']} runs)"
    )
    if lost.get("why"):
        line += f"; unattributed: {lost['why']}"
    return line


def terminal(report: LayerReport, k: int, console: Any) -> None:
    """Print the tables to a rich console."""
    from rich.table import Table

    console.print(
        f"[bold]{report.artifact['path']}[/] vs {report.reference['ref']} on "
        f"{report.data['samples']} images of {report.data['name']}"
    )
    for backend, entry in report.backends.items():
        if entry.get("accuracy"):
            table = Table(title=f"{backend}: worst {k} layers ({RANKING})")
            for column in ACCURACY_COLUMNS:
                table.add_column(  # fold, never cut: a node name is what the user looks up
                    column,
                    justify="left" if column in ("node", "op", "fused") else "right",
                    overflow="fold",
                )
            for cells in accuracy_rows(report, backend, k):
                table.add_row(*cells)
            console.print(table)
            if line := sensitivity_line(report, backend):
                console.print(line)
        if entry.get("latency"):
            table = Table(title=f"{backend}: slowest {k} layers")
            for column in LATENCY_COLUMNS:
                table.add_column(
                    column,
                    justify="right" if column in ("ms", "share") else "left",
                    overflow="fold",
                )
            for cells in latency_rows(report, backend, k):
                table.add_row(*cells)
            console.print(table)
            console.print(latency_line(report, backend))
        for note in entry.get("notes", []):
            console.print(f"{backend}: {note}")


def _md_table(columns: tuple[str, ...], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def to_markdown(report: LayerReport, k: int = 10) -> str:
    """The report as Markdown: per backend, worst and slowest tables and the sum check."""
    parts = [
        f"# Per-layer report: `{report.artifact['path']}`",
        "",
        f"Reference `{report.reference['ref']}`, {report.data['samples']} images of "
        f"{report.data['name']}, precision {report.artifact.get('precision') or 'unknown'}.",
    ]
    for backend, entry in report.backends.items():
        parts += ["", f"## {backend}"]
        if entry.get("accuracy"):
            parts += [
                "",
                f"Worst {k} layers ({RANKING}). {entry['accuracy']['method']}.",
                "",
            ]
            parts.append(_md_table(ACCURACY_COLUMNS, accuracy_rows(report, backend, k)))
            if line := sensitivity_line(report, backend):
                parts += ["", line]
        if entry.get("latency"):
            parts += ["", f"Slowest {k} layers.", ""]
            parts.append(_md_table(LATENCY_COLUMNS, latency_rows(report, backend, k)))
            parts += ["", latency_line(report, backend)]
        parts += [f"\n_{note}_" for note in entry.get("notes", [])]
    return "\n".join(parts) + "\n"


def row_cells(
    row: LayerRow, accuracy: list[str], latency: list[str], rows: list[LayerRow]
) -> dict[str, Any]:
    """One row's sortable values for the HTML table: ``{column: value}``.

    Args:
        row: the layer.
        accuracy: backends with per-layer error; latency: backends with per-layer time.
        rows: every row (a backend's FP32-kept column appears when any row was measured).
    """
    cells: dict[str, Any] = {"index": row.index, "node": row.node, "op": row.op}
    for backend in accuracy:
        acc = row.accuracy.get(backend, {})
        cells[f"{backend} local dB"] = acc.get("local_sqnr_db")
        cells[f"{backend} dB"] = acc.get("sqnr_db")
        if any(recovery(r, backend) for r in rows):
            cells[f"{backend} FP32-kept cos"] = (recovery(row, backend) or {}).get("cosine")
    for backend in latency:
        cells[f"{backend} ms"] = row.latency.get(backend, {}).get("ms")
    return cells
