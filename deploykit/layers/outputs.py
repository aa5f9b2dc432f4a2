"""Writing a layer report and its renderings into the output folder."""

from __future__ import annotations

from pathlib import Path

from deploykit.fileio import write_text_atomic
from deploykit.layers.report import LayerReport, write_report


def write_outputs(report: LayerReport, out_dir: Path, k: int = 10) -> dict[str, Path]:
    """Write ``layers.json``, ``layers.md``, ``layers.html`` and the Model Explorer overlays.

    Args:
        report: the measured report.
        out_dir: the output folder (every file goes inside it).
        k: rows per table in the Markdown and HTML summaries.

    Returns:
        What was written, by kind.
    """
    from deploykit.layers.explorer import FOLDER, INDEX, write_overlays
    from deploykit.layers.html import to_html
    from deploykit.layers.render import to_markdown

    written = {"json": write_report(report, out_dir)}
    written["markdown"] = write_text_atomic(out_dir / "layers.md", to_markdown(report, k))
    written["html"] = write_text_atomic(out_dir / "layers.html", to_html(report, k))
    write_overlays(report, out_dir)
    written["explorer"] = out_dir / FOLDER / INDEX
    return written
