"""Per-layer truth: which layers of an artifact lose accuracy and which take the time.

Every figure is keyed by a node of the source (FP32) ONNX graph: accuracy per
layer (SQNR, cosine, max abs; local and cumulative) and latency per layer per
backend, attributed back through each runtime's own fusion records, with an
explicit unattributed row. ``layers.json`` (:mod:`deploykit.layers.report`) is
the source of truth; the terminal table, Markdown, HTML and Model Explorer
node-data files are renderings of it, and :mod:`deploykit.layers.diff`
compares two of them.
"""
