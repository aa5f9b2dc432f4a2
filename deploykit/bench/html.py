"""A self-contained HTML report: tables plus plots rendered to inline SVG (matplotlib, Agg).

Plots: latency vs top-1 with the Pareto front, p50 latency per backend, and
throughput against batch size. No external files, scripts or fonts are loaded.
"""

from __future__ import annotations

import html
import io
import json

from deploykit.bench.devices import device_names
from deploykit.bench.formats import environment_line, to_markdown
from deploykit.bench.results import BenchRun, Cell


def _svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of points not dominated (lower latency and higher accuracy are better)."""
    front = []
    for i, (lat, acc) in enumerate(points):
        dominated = any(
            (lat2 <= lat and acc2 >= acc) and (lat2 < lat or acc2 > acc)
            for j, (lat2, acc2) in enumerate(points)
            if j != i
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: points[i][0])


# Beyond this many points the scatter is left unlabelled (the table's tooltips name each cell).
MAX_LABELS = 16


def _name(cell: Cell) -> str:
    where = f"{cell.device_name}: " if cell.device_name else ""
    return f"{where}{cell.label} · {cell.backend}"


def plots(run: BenchRun) -> list[tuple[str, str]]:
    """(title, inline SVG) for each plot the run has data for."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [c for c in run.cells if c.status == "ok" and c.latency]
    if not ok:
        return []
    figures = []
    batch = min(c.batch for c in ok)
    first = [c for c in ok if c.batch == batch and (c.accuracy or {}).get("top1") is not None]
    if first:
        points = [(c.latency["p50_ms"], c.accuracy["top1"] * 100) for c in first]
        fig, ax = plt.subplots(figsize=(6.5, 4))
        ax.scatter(*zip(*points, strict=True), color="tab:blue")
        for cell, (x, y) in zip(first if len(first) <= MAX_LABELS else [], points, strict=False):
            ax.annotate(_name(cell), (x, y), fontsize=7, xytext=(4, 2), textcoords="offset points")
        front = pareto_front(points)
        ax.plot(
            [points[i][0] for i in front],
            [points[i][1] for i in front],
            "--",
            color="tab:red",
            label="Pareto front",
        )
        ax.set_xlabel(f"p50 latency, batch {batch} (ms)")
        ax.set_ylabel("top-1 (%)")
        ax.legend(loc="lower right", fontsize=8)
        figures.append(("Latency vs accuracy", _svg(fig)))
        plt.close(fig)
        fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(first) + 1))
        ax.barh([_name(c) for c in first], [c.latency["p50_ms"] for c in first], color="tab:green")
        ax.invert_yaxis()
        ax.set_xlabel(f"p50 latency, batch {batch} (ms)")
        figures.append(("Latency per backend", _svg(fig)))
        plt.close(fig)
    groups: dict[str, list[Cell]] = {}
    for cell in ok:
        groups.setdefault(_name(cell), []).append(cell)
    if any(len(cells) > 1 for cells in groups.values()):
        fig, ax = plt.subplots(figsize=(6.5, 4))
        for name, cells in groups.items():
            cells.sort(key=lambda c: c.batch)
            ax.plot(
                [c.batch for c in cells], [c.latency["throughput"] for c in cells], "o-", label=name
            )
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size")
        ax.set_ylabel("throughput (images/s)")
        if len(groups) <= MAX_LABELS:
            ax.legend(fontsize=7)
        figures.append(("Batch-size scaling", _svg(fig)))
        plt.close(fig)
    return figures


def _markdown_table_to_html(markdown: str) -> str:
    rows = [line for line in markdown.splitlines() if line.startswith("|")]
    if len(rows) < 2:
        return ""
    cells = [[c.strip() for c in row.strip("|").split(" | ")] for row in rows]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cells[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in cells[2:]
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _tables_to_html(markdown: str) -> str:
    """Every Markdown table of ``markdown`` (a fleet report has the device matrix first)."""
    blocks: list[list[str]] = [[]]
    for line in markdown.splitlines():
        if line.startswith("|"):
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    return "".join(_markdown_table_to_html("\n".join(b)) for b in blocks if b)


# Fleet reports: filter rows by device, backend and precision; a row's cells as its tooltip.
FILTER_SCRIPT = """
<script>
(function(){
  var table=document.querySelectorAll('table')[document.querySelectorAll('table').length-1];
  var heads=[].map.call(table.tHead.rows[0].cells,function(c){return c.textContent});
  var rows=[].slice.call(table.tBodies[0].rows);
  rows.forEach(function(r){r.title=[].map.call(r.cells,function(c,i){
    return heads[i]+': '+c.textContent}).join('\\n')});
  var bar=document.getElementById('filters');
  var picks={};
  ['device','backend','prec'].forEach(function(name){
    var col=heads.indexOf(name); if(col<0)return;
    var values=[]; rows.forEach(function(r){var v=r.cells[col].textContent;
      if(values.indexOf(v)<0)values.push(v)});
    var sel=document.createElement('select'); sel.id='filter-'+name;
    sel.innerHTML='<option value=\"\">all '+name+'</option>'+values.map(function(v){
      return '<option>'+v+'</option>'}).join('');
    sel.onchange=function(){picks[col]=sel.value;rows.forEach(function(r){
      r.style.display=Object.keys(picks).every(function(c){
        return !picks[c]||r.cells[c].textContent===picks[c]})?'':'none'})};
    bar.appendChild(sel);
  });
})();
</script>
"""


STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px}
th{background:#f3f3f3}td{text-align:right}td:nth-child(-n+3),td:nth-child(5){text-align:left}
figure{display:inline-block;margin:1em;vertical-align:top}svg{max-width:640px;height:auto}
pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:12px}
"""


def to_html(run: BenchRun, title: str = "deploykit bench") -> str:
    """The whole report as one HTML document."""
    figures = "".join(
        f"<figure><figcaption>{html.escape(t)}</figcaption>{svg}</figure>" for t, svg in plots(run)
    )
    env = html.escape(json.dumps(run.environment, indent=2))
    status = "" if run.complete else "<p><b>Partial run</b>: interrupted before every cell ran.</p>"
    fleet = bool(device_names(run))
    filters = "<p id='filters'>Show: </p>" if fleet else ""
    script = FILTER_SCRIPT if fleet else ""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(environment_line(run))} — {html.escape(run.created[:19])} UTC, "
        f"schema {html.escape(run.schema)}</p>{status}"
        f"{filters}{_tables_to_html(to_markdown(run))}<h2>Plots</h2>{figures}"
        f"<h2>Environment</h2><pre>{env}</pre>{script}</body></html>\n"
    )
