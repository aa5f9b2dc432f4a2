"""A self-contained HTML page of a layer report: one sortable table with per-layer bars.

No external scripts, styles or fonts: a few lines of inline JavaScript sort the
table when a header is clicked. Bars show each layer's time as a share of the
slowest layer, and its local error as a share of the worst one.
"""

from __future__ import annotations

import html

from deploykit.layers.render import latency_line, row_cells, to_markdown
from deploykit.layers.report import LayerReport

BAR_DB = 60.0
STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:13px}
th,td{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}
th{cursor:pointer;background:#f4f4f4;position:sticky;top:0}
td.t{text-align:left}
.bar{display:inline-block;height:9px;vertical-align:middle;margin-right:5px}
.lat{background:#4a7bd0}.acc{background:#d0544a}
pre{background:#f8f8f8;padding:1em;overflow:auto}
"""

SCRIPT = """
document.querySelectorAll('th').forEach((th, col) => th.addEventListener('click', () => {
  const body = th.closest('table').tBodies[0];
  const asc = th.dataset.asc !== '1'; th.dataset.asc = asc ? '1' : '0';
  const key = r => { const v = r.cells[col].dataset.v; const n = parseFloat(v);
                     return isNaN(n) ? (v || '') : n; };
  [...body.rows].sort((a, b) => { const x = key(a), y = key(b);
    if (x === y) return 0; if (x === '') return 1; if (y === '') return -1;
    return (x < y ? -1 : 1) * (asc ? 1 : -1); }).forEach(r => body.appendChild(r));
}));
"""


def _bar(value: float | None, top: float, kind: str) -> str:
    if value is None or top <= 0:
        return ""
    width = max(1, round(80 * min(value, top) / top))
    return f'<span class="bar {kind}" style="width:{width}px"></span>'


def to_html(report: LayerReport, k: int = 10) -> str:
    """The whole report as one HTML page."""
    accuracy, latency = report.accuracy_backends(), report.latency_backends()
    rows = [row_cells(r, accuracy, latency, report.layers) for r in report.layers]
    columns = list(rows[0]) if rows else []
    # Bars: time against the slowest layer; loss as dB below BAR_DB (a layer near 0 dB local
    # SQNR gets a full bar, one at INT8's usual 35-40 dB a short one, FP16's none).
    tops = {}
    for column in columns:
        values = [r[column] for r in rows if isinstance(r.get(column), (int, float))]
        if column.endswith(" ms") and values:
            tops[column] = max(values)
        elif column.endswith("local dB") and values:
            tops[column] = BAR_DB
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for column in columns:
            value = row[column]
            text = (
                "-"
                if value is None
                else (f"{value:.4g}" if isinstance(value, float) else str(value))
            )
            bar = ""
            if column in tops and isinstance(value, (int, float)):
                if column.endswith(" ms"):
                    bar = _bar(value, tops[column], "lat")
                else:
                    bar = _bar(max(0.0, BAR_DB - value), BAR_DB, "acc")
            css = ' class="t"' if column in ("node", "op") else ""
            data = "" if value is None else html.escape(str(value))
            cells.append(f'<td{css} data-v="{data}">{bar}{html.escape(text)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    lines = "".join(
        f"<p>{html.escape(backend)}: {html.escape(latency_line(report, backend))}</p>"
        for backend in latency
    )
    title = html.escape(f"Layers of {report.artifact['path']}")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{STYLE}</style></head><body><h1>{title}</h1>"
        f"<p>Reference {html.escape(str(report.reference['ref']))}; "
        f"{report.data['samples']} images of {html.escape(str(report.data['name']))}. "
        "Click a header to sort.</p>"
        f"{lines}<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        f"<h2>Summary</h2><pre>{html.escape(to_markdown(report, k))}</pre>"
        f"<script>{SCRIPT}</script></body></html>"
    )
