"""OpenVINO IR export: an ``.xml`` graph and its ``.bin`` weights, at FP32, FP16 or INT8.

Every precision starts from the ONNX artifact deploykit builds for the same
request (:mod:`deploykit.export.onnx`), read by ``openvino.convert_model`` and
saved with ``openvino.save_model``:

- ``fp32``: FP32 weights.
- ``fp16``: FP16 weights (OpenVINO's compressed IR); the CPU computes in its
  inference precision, as for an FP16 ONNX file.
- ``int8``: from the same calibration set as every INT8 artifact, by one of two
  quantizers (``--option quantizer=``): ``nncf`` (default), ``nncf.quantize`` on
  the FP32 IR; or ``qdq``, our Q/DQ ONNX graph (the calibration method,
  ``activations`` and ``weights`` options apply as for ``--to onnx``), whose Q/DQ
  pairs OpenVINO folds into its INT8 layers. NNCF is the default because it
  measured faster on OpenVINO (benchmarks/openvino_ir.py: mobilenet_v2 1.41x the
  Q/DQ file, resnet18 even) at the same top-1. The manifest records which ran.

The export pipeline writes the pair atomically: both files go to temporary
names and are renamed into place only after verification.
"""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from deploykit.errors import CalibrationError, InputError
from deploykit.export.api import BuildInfo, ExportRequest
from deploykit.fileio import temp_dir
from deploykit.optional import require
from deploykit.sources import LoadedModel
from deploykit.targets import TARGETS

QDQ_OPTIONS = ("activations", "weights")  # passed on to the Q/DQ ONNX graph


def build(loaded: LoadedModel, request: ExportRequest, dest: Path) -> BuildInfo:
    """Write the IR at ``dest`` (``.xml``) and ``dest.with_suffix(".bin")``.

    Args:
        loaded: the source model.
        request: precision, calibration set and method, ``--option quantizer=``.
        dest: the ``.xml`` path; the weights go beside it with the same stem.
    """
    ov = require("openvino")
    options = TARGETS["openvino"].resolve_options(request.options)
    from deploykit.export import onnx as onnx_export

    qdq = request.precision == "int8" and options["quantizer"] == "qdq"
    if request.max_accuracy_drop is not None and not qdq:
        raise InputError(
            "--max-accuracy-drop applies to --precision int8 with the qdq quantizer only",
            "drop --max-accuracy-drop, or use --option quantizer=qdq",
        )
    onnx_request = replace(
        request,
        target="onnx",
        precision="int8" if qdq else "fp32",
        options={k: options[k] for k in QDQ_OPTIONS} if qdq else {},
    )
    with temp_dir(dest.parent, label="openvino") as work:
        onnx_path = Path(work) / "model.onnx"
        onnx_info = onnx_export.build(loaded, onnx_request, onnx_path)
        model = ov.convert_model(str(onnx_path))
    calibration = onnx_info.calibration
    quantizer: dict[str, Any] = {}
    if request.precision == "int8" and options["quantizer"] == "nncf":
        model, calibration, quantizer = _nncf(model, loaded, request, options["bias_correction"])
    elif request.precision == "int8":
        quantizer = {"name": "qdq", "tool": "deploykit Q/DQ ONNX (see from)"}
    ov.save_model(model, str(dest), compress_to_fp16=request.precision == "fp16")
    exporter = {
        "name": "openvino.convert_model",
        "openvino": ov.__version__.split("-")[0],
        "from": onnx_info.exporter,
    }
    if quantizer:
        exporter["quantizer"] = quantizer
    return BuildInfo(exporter=exporter, calibration=calibration, details=onnx_info.details)


def _nncf(
    model: Any, loaded: LoadedModel, request: ExportRequest, bias_correction: str
) -> tuple[Any, dict, dict]:
    """``nncf.quantize`` on the FP32 IR with the request's calibration set.

    Full bias correction is our default, not NNCF's fast one: over 24 digits
    trainings of demo_resnet (32 calibration images) fast correction fell to
    cosine 0.961, under the 0.98 INT8 tolerance, on three; full correction kept
    every one at or above 0.993 (benchmarks/nncf_bias_correction.py).
    """
    from deploykit.calibration import load_calibration

    nncf = require("nncf")
    if request.calib is None:
        raise CalibrationError(
            "INT8 export needs a calibration set",
            "make one with `deploykit calibrate digits -o calib.npz` and pass --calib calib.npz",
        )
    if request.calib_method != "minmax":
        raise InputError(
            f"NNCF calibrates with its own statistics, not {request.calib_method!r}",
            "drop --calib-method, or use --option quantizer=qdq",
        )
    calib = load_calibration(Path(request.calib), loaded.spec)
    nncf.set_log_level(logging.ERROR)
    dataset = nncf.Dataset([calib.x[i : i + 1] for i in range(len(calib.x))])
    with contextlib.redirect_stdout(io.StringIO()):  # NNCF draws progress bars on stdout
        quantized = nncf.quantize(
            model,
            dataset,
            subset_size=len(calib.x),
            fast_bias_correction=bias_correction == "fast",
        )
    record = {
        "name": "nncf",
        "tool": f"nncf.quantize (default preset, {bias_correction} bias correction)",
        "nncf": nncf.__version__,
    }
    return quantized, {**calib.info, "method": "nncf min/max"}, record
