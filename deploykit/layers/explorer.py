"""Model Explorer node-data overlays: one file per metric and backend.

Google's AI Edge Model Explorer colours graph nodes from "node data" JSON:
``{graph_id: {"results": {node_id: {"value": v}}, "gradient": [...]}}``. Its
ONNX adapter (``model-explorer-onnx``) uses the ONNX node name as the node id
and the graph's name as the graph id, so overlays for an ONNX artifact are
keyed by the artifact's node names; for a TFLite artifact they are drawn on
the reference ONNX graph (``reference.onnx``), whose node names the rows carry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deploykit.fileio import ensure_dir, write_json_atomic
from deploykit.layers.graph import Graph
from deploykit.layers.report import LayerReport

FOLDER = "explorer"
INDEX = "index.json"
# Low SQNR is bad (red); high time is bad (red).
ERROR_GRADIENT = [{"stop": 0, "bgColor": "#d73027"}, {"stop": 1, "bgColor": "#e8f5e9"}]
TIME_GRADIENT = [{"stop": 0, "bgColor": "#eef3fb"}, {"stop": 1, "bgColor": "#d73027"}]
METRICS = (
    ("accuracy", "local_sqnr_db", ERROR_GRADIENT),
    ("accuracy", "sqnr_db", ERROR_GRADIENT),
    ("latency", "ms", TIME_GRADIENT),
)


def graph_name(path: Path) -> str:
    """The ONNX graph's name (Model Explorer's graph id)."""
    import onnx

    return onnx.load(str(path), load_external_data=False).graph.name or "<main>"


def node_ids(source: Graph, graph: Graph) -> dict[str, str]:
    """Source node -> id of the node drawn for it in ``graph``: the node of the same name,
    else the producer of the source node's output tensor."""
    ids = {}
    for node, (_, _, outputs) in source.nodes.items():
        if node in graph.nodes:
            ids[node] = node
        elif outputs and outputs[0] in graph.producer:
            ids[node] = graph.producer[outputs[0]]
    return ids


def write_overlays(report: LayerReport, out_dir: Path) -> dict[str, Any]:
    """Write ``explorer/<backend>.<metric>.json`` files and ``explorer/index.json``.

    Returns the index: the graph file the overlays belong to and the files written.
    """
    artifact = Path(report.artifact["path"])
    viewed = artifact if report.artifact["format"] == "onnx" else out_dir / report.reference["onnx"]
    ids = node_ids(Graph.load(out_dir / report.reference["onnx"]), Graph.load(viewed))
    graph_id = graph_name(viewed)
    folder = ensure_dir(out_dir / FOLDER)
    files = []
    for section, metric, gradient in METRICS:
        for backend in report.backends:
            results = {}
            for row in report.layers:
                value = getattr(row, section).get(backend, {}).get(metric)
                if value is not None and row.node in ids:
                    results[ids[row.node]] = {"value": round(float(value), 6)}
            if not results:
                continue
            name = f"{backend}.{metric}.json"
            data = {
                graph_id: {"name": f"{backend} {metric}", "results": results, "gradient": gradient}
            }
            write_json_atomic(folder / name, data)
            files.append(name)
    index = {"graph": str(viewed.resolve()), "graph_id": graph_id, "files": files}
    write_json_atomic(folder / INDEX, index)
    return index
