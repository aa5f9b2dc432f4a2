"""TFLite export: Keras or PyTorch/ONNX models, FP32, FP16, dynamic-range and full-integer INT8.

Both sources meet at a TensorFlow SavedModel with NHWC input:
- Keras: Keras 3's ``ExportArchive`` (TensorFlow's documented Keras 3 -> TFLite path);
- PyTorch/ONNX: the FP32 ONNX graph, verified against its source in ONNX Runtime,
  converted by onnx2tf (which turns NCHW into NHWC once, at the input). onnx2tf
  wants sample images for its own checks and would download them; it is
  handed real images from the verification set instead, so nothing is fetched.
One TFLite converter step then writes every precision from that SavedModel.

onnx2tf is the slow step (about a minute at 224x224), so its SavedModel is kept
in the output folder (``.deploykit-cache/``), keyed by the FP32 ONNX file's
sha256 and what else changes the conversion, and reused by the next precision.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

from deploykit.errors import CalibrationError, InputError, first_line
from deploykit.export.api import BuildInfo, ExportRequest
from deploykit.fileio import ensure_dir, temp_dir
from deploykit.sources import LoadedModel
from deploykit.spec import InputSpec
from deploykit.targets import get_target
from deploykit.tensorflow_compat import (
    import_keras,
    import_tensorflow,
    last_error_line,
    silenced_output,
)

ONNX2TF_SAMPLES = 20  # onnx2tf's own check data is 20 images
CACHE = ".deploykit-cache"  # in the output folder: SavedModels shared by the precisions


def io_type(request: ExportRequest) -> str:
    """``request.options["io"]``: the input/output dtype of a full-integer model."""
    io = get_target("tflite").resolve_options(request.options)["io"]
    if io == "int8" and request.precision != "int8":
        raise InputError("int8 input/output needs --precision int8", "drop --option io=int8")
    return io


def calibration_nhwc(loaded: LoadedModel, request: ExportRequest) -> tuple[np.ndarray, dict]:
    """The calibration set as NHWC model input, and its manifest record."""
    from deploykit.calibration import check_method, load_calibration

    if request.calib is None:
        raise CalibrationError(
            "full-integer INT8 needs a calibration set",
            "make one with `deploykit calibrate digits --samples 256 -o calib.npz` and pass "
            "--calib calib.npz, or use --precision int8-dynamic",
        )
    if check_method(request.calib_method) != "minmax":
        raise InputError(
            f"the TFLite converter calibrates with min/max only, not {request.calib_method!r}",
            "drop --calib-method",
        )
    calib = load_calibration(Path(request.calib), loaded.spec)
    return calib.x.transpose(0, 2, 3, 1).copy(), {**calib.info, "method": "minmax"}


def _keras_saved_model(loaded: LoadedModel, batch: int | None, folder: Path) -> dict[str, Any]:
    tf = import_tensorflow()
    keras = import_keras()
    spec = loaded.spec
    archive = keras.export.ExportArchive()
    archive.track(loaded.model)
    archive.add_endpoint(
        "serve",
        lambda x: loaded.model(x, training=False),
        input_signature=[tf.TensorSpec((batch, *spec.shape[1:]), tf.float32, name=spec.name)],
    )
    archive.write_out(str(folder), verbose=False)
    return {"route": "keras ExportArchive -> SavedModel", "keras": keras.__version__}


@contextlib.contextmanager
def _int8_maxpool_padding(enabled: bool) -> Iterator[None]:
    """Make onnx2tf pad MaxPool with 0 instead of float32's minimum, as its own INT8 mode does.

    A max-pool with explicit padding becomes PAD(-3.4e38) + MAX_POOL; calibrated
    as is, the pad constant stretches the int8 range to a scale of ~1e36 and the
    model is unusable (onnx2tf issue 444). onnx2tf pads with 0 only when it does
    the INT8 conversion itself, which we do not (our converter step does), so the
    flag is passed to its MaxPool op alone. Zero is exact for pools after ReLU.
    """
    if not enabled:
        yield
        return
    import onnx2tf.ops.MaxPool as maxpool

    original = maxpool.make_node

    def make_node(*args: Any, **kwargs: Any) -> Any:
        return original(*args, **{**kwargs, "output_integer_quantized_tflite": True})

    with mock.patch.object(maxpool, "make_node", make_node):
        yield


def _padded_maxpool(onnx_path: Path) -> bool:
    """Whether the graph has a MaxPool with explicit padding (converted differently for INT8)."""
    import onnx

    for node in onnx.load(str(onnx_path), load_external_data=False).graph.node:
        pads = next((a.ints for a in node.attribute if a.name == "pads"), [])
        if node.op_type == "MaxPool" and any(pads):
            return True
    return False


def _cache_key(onnx_path: Path, request: ExportRequest, onnx2tf_version: str) -> str:
    """What decides onnx2tf's SavedModel: the ONNX bytes, onnx2tf, INT8 max-pool padding."""
    from deploykit.fileio import sha256_file

    zero_pad = request.precision == "int8" and _padded_maxpool(onnx_path)
    parts = (sha256_file(onnx_path), onnx2tf_version, f"int8-maxpool-pad0={zero_pad}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def _run_onnx2tf(
    loaded: LoadedModel, request: ExportRequest, onnx_path: Path, folder: Path
) -> None:
    """Convert ``onnx_path`` into a SavedModel at ``folder`` with onnx2tf."""
    import onnx2tf.onnx2tf as converter_module

    from deploykit.export.api import verification_samples

    sample = verification_samples(loaded.spec, request.verify_data, ONNX2TF_SAMPLES)
    sample = sample.transpose(0, 2, 3, 1).copy()
    kwargs: dict[str, Any] = {}
    if loaded.spec.layout == "NHWC":  # already NHWC (e.g. an ONNX file exported from Keras)
        kwargs["keep_nwc_or_nhwc_or_ndhwc_input_names"] = [loaded.spec.name]
    log = onnx_path.parent / "onnx2tf.log"
    try:
        with (
            silenced_output(log),
            mock.patch.object(converter_module, "download_test_image_data", lambda: sample),
            _int8_maxpool_padding(request.precision == "int8"),
        ):
            converter_module.convert(
                input_onnx_file_path=str(onnx_path),
                output_folder_path=str(folder),
                not_use_onnxsim=True,
                non_verbose=True,
                verbosity="error",
                **kwargs,
            )
    except (Exception, SystemExit) as exc:  # onnx2tf calls sys.exit on unsupported graphs
        reason = last_error_line(log) or first_line(exc)
        raise InputError(
            f"onnx2tf could not convert {loaded.name} ({reason})",
            "export to onnx instead, or simplify the model",
        ) from None


def _cached_saved_model(
    loaded: LoadedModel, request: ExportRequest, onnx_path: Path, version: str
) -> tuple[Path, bool]:
    """The SavedModel for ``onnx_path`` from the output folder's cache, converting on a miss.

    Returns the folder and whether it was reused. A new entry is written beside
    its final name and renamed into place, so a half-written one is never read.
    """
    cache = Path(request.out_dir) / CACHE
    final = cache / f"saved_model-{_cache_key(onnx_path, request, version)}"
    if (final / "saved_model.pb").is_file():
        return final, True
    ensure_dir(cache)  # also removes what a killed export left there
    with temp_dir(cache, label="saved_model") as staging:
        _run_onnx2tf(loaded, request, onnx_path, Path(staging) / "saved_model")
        with contextlib.suppress(OSError):  # another export stored it first: keep theirs
            os.replace(Path(staging) / "saved_model", final)
    return final, False


def _onnx_saved_model(
    loaded: LoadedModel, request: ExportRequest, work: Path
) -> tuple[Path, dict[str, Any], dict[str, Any] | None]:
    """FP32 ONNX (verified unless --no-verify) -> onnx2tf SavedModel, reused across precisions.

    Returns the SavedModel folder, exporter facts and the ONNX check.
    """
    from deploykit.export.api import verify_artifact
    from deploykit.export.onnx import export_fp32
    from deploykit.optional import require

    onnx_request = replace(request, target="onnx", precision="fp32", tolerance=None, options={})
    onnx_path = work / "model.onnx"
    exporter = export_fp32(loaded, onnx_request, onnx_path)
    check = (
        verify_artifact(loaded, onnx_request, onnx_path, loaded.spec, BuildInfo(exporter))
        if request.verify
        else None
    )
    onnx2tf = require("onnx2tf")
    folder, reused = _cached_saved_model(loaded, request, onnx_path, onnx2tf.__version__)
    exporter = {
        **{f"onnx_{k}": v for k, v in exporter.items() if k in ("name", "mode", "opset")},
        "route": "torch -> ONNX -> onnx2tf -> SavedModel",
        "onnx2tf": onnx2tf.__version__,
        "saved_model": f"reused from {CACHE}/{folder.name}" if reused else "converted",
    }
    keys = ("n", "top1_agreement", "cosine", "max_abs_diff")
    return folder, exporter, {k: check[k] for k in keys} if check else None


def _convert(folder: Path, precision: str, io: str, calib: np.ndarray | None) -> bytes:
    """Run the TFLite converter on a SavedModel at one precision."""
    tf = import_tensorflow()
    converter = tf.lite.TFLiteConverter.from_saved_model(str(folder))
    # Builtin ops only: the pip LiteRT runtime has no Flex (TF ops) delegate.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if precision != "fp32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if precision == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    if precision == "int8":

        def representative():
            for i in range(len(calib)):
                yield [calib[i : i + 1]]

        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if io == "int8":
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    return converter.convert()


def tensor_types(path: Path) -> dict[str, Any]:
    """Input/output dtypes and how many weight tensors are int8, read from a ``.tflite``."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    tensors = interp.get_tensor_details()
    constant = [t for t in tensors if len(t["shape"]) > 1 and t["quantization"] != (0.0, 0)]
    return {
        "input_dtype": np.dtype(interp.get_input_details()[0]["dtype"]).name,
        "output_dtype": np.dtype(interp.get_output_details()[0]["dtype"]).name,
        "tensor_dtypes": sorted({np.dtype(t["dtype"]).name for t in tensors}),
        "quantized_tensors": len(constant),
    }


def build(loaded: LoadedModel, request: ExportRequest, dest: Path) -> BuildInfo:
    """Write the ``.tflite`` for ``loaded`` at ``request.precision`` to ``dest``.

    ``request.options["io"]`` (``float`` or ``int8``) sets a full-integer
    model's input/output dtype. Returns the NHWC artifact spec and the facts the
    manifest records.
    """
    tf = import_tensorflow()
    io = io_type(request)
    calib, calibration = (None, None)
    if request.precision == "int8":
        calib, calibration = calibration_nhwc(loaded, request)
    batch = None if request.dynamic_batch else loaded.spec.shape[0]
    details: dict[str, Any] = {"io": io}
    with temp_dir(label="tflite") as tmp:
        folder = Path(tmp) / "saved_model"
        with silenced_output():
            if loaded.kind == "keras":
                exporter = _keras_saved_model(loaded, batch, folder)
            else:
                folder, exporter, details["onnx_verification"] = _onnx_saved_model(
                    loaded, request, Path(tmp)
                )
        try:
            with silenced_output():
                dest.write_bytes(_convert(folder, request.precision, io, calib))
        except Exception as exc:  # the converter raises ConverterError and friends
            raise InputError(
                f"the TFLite converter failed at {request.precision} ({first_line(exc)})",
                "try --precision int8-dynamic or fp16, or --option io=float",
            ) from None
    details.update(tensor_types(dest))
    spec: InputSpec = loaded.spec.with_layout("NHWC")
    spec = replace(spec, dynamic_batch=request.dynamic_batch)
    return BuildInfo(
        exporter={"name": "tf.lite.TFLiteConverter", "tensorflow": tf.__version__, **exporter},
        spec=spec,
        calibration=calibration,
        details=details,
    )
