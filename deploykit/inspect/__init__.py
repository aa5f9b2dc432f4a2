"""Looking inside models: per-layer weight statistics, feature maps, exported graph summaries.

``weights`` tabulates a torch model layer by layer, ``featuremaps`` renders
activations at chosen layers as PNG grids, ``graph`` summarises an ONNX or
TFLite file. Each module imports its frameworks lazily.
"""
