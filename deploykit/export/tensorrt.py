"""TensorRT engines built from our ONNX graphs with the TensorRT Python API.

The ONNX graph is exported first (FP32, FP16 or Q/DQ INT8 from the same
calibration set as every other INT8 path), then parsed and built:

- TensorRT 11 (strongly typed only): FP16 comes from the FP16 ONNX graph, INT8
  from its Q/DQ nodes; no precision flags exist.
- TensorRT 10: FP16 is the builder flag on the FP32 graph; INT8 is the Q/DQ
  graph with the INT8 flag; ``--option calibrator=legacy`` instead calibrates
  the FP32 graph with ``IInt8EntropyCalibrator2`` and a calibration cache
  (the JetPack 6 path; TensorRT 11 removed it).

Options (``--option KEY=VALUE``): ``workspace`` (MiB), ``min_batch``,
``opt_batch``, ``max_batch`` (optimisation profile of the batch axis),
``timing_cache`` (file, read and updated), ``dla_core`` (Jetson),
``calibrator`` (``legacy``, TensorRT <= 10), ``calib_cache`` (file).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from deploykit import tensorrt_compat as compat
from deploykit.errors import InputError
from deploykit.export.api import BuildInfo, ExportRequest
from deploykit.fileio import atomic_path, temp_dir
from deploykit.sources import LoadedModel
from deploykit.targets import get_target


def plan(version: str, precision: str, options: dict[str, Any]) -> dict[str, Any]:
    """How to build an engine at ``precision`` on TensorRT ``version``.

    Returns:
        ``onnx_precision`` (the graph to export), ``strongly_typed``,
        ``flags`` (builder flag names) and ``legacy_calibrator``.

    Args:
        options: the target's options, resolved and checked by the capability table.

    Raises:
        InputError: for the legacy calibrator on TensorRT 11.
    """
    legacy = options.get("calibrator") == "legacy"
    if legacy and (precision != "int8" or not compat.has_legacy_calibrator(version)):
        raise InputError(
            f"calibrator=legacy needs --precision int8 and TensorRT <= 10 (here {version})",
            "drop the option: the default Q/DQ path works on every TensorRT version",
        )
    if compat.strongly_typed_only(version):
        return {
            "onnx_precision": precision,
            "strongly_typed": True,
            "flags": [],
            "legacy_calibrator": False,
        }
    onnx_precision = "int8" if precision == "int8" and not legacy else "fp32"
    flags = {"fp32": [], "fp16": ["FP16"], "int8": ["INT8"]}[precision]
    return {
        "onnx_precision": onnx_precision,
        "strongly_typed": False,
        "flags": flags,
        "legacy_calibrator": legacy,
    }


def _parse(trt: Any, builder: Any, onnx_path: Path, strongly_typed: bool, logger: Any):
    network = builder.create_network(compat.network_flags(trt, strongly_typed))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise InputError(
            f"TensorRT cannot parse the ONNX graph ({'; '.join(errors)[:300]})",
            "export with another --opset, or check the op is supported by TensorRT",
        )
    return network, parser


def _profile(builder: Any, network: Any, options: dict[str, Any]) -> dict[str, Any] | None:
    """An optimisation profile over the batch axis when the input's batch is dynamic."""
    tensor = network.get_input(0)
    shape = tuple(tensor.shape)
    if shape[0] != -1:
        return None
    rest = shape[1:]
    sizes = [int(options[k]) for k in ("min_batch", "opt_batch", "max_batch")]
    if not sizes[0] <= sizes[1] <= sizes[2]:
        raise InputError(f"batch profile must have min <= opt <= max, got {sizes}")
    profile = builder.create_optimization_profile()
    profile.set_shape(tensor.name, *[(b, *rest) for b in sizes])
    return {"profile": profile, "batch": sizes}


def _configure(trt: Any, builder: Any, config: Any, plan_: dict, options: dict) -> dict:
    """Workspace, precision flags, DLA and timing cache; returns what to record."""
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(options["workspace"]) << 20)
    for flag in plan_["flags"]:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    record: dict[str, Any] = {"workspace_mib": int(options["workspace"]), "flags": plan_["flags"]}
    if options.get("dla_core") is not None:
        core = int(options["dla_core"])
        if builder.num_DLA_cores <= core:
            raise InputError(f"no DLA core {core} here ({builder.num_DLA_cores} cores)")
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = core
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
        record["dla_core"] = core
    if options.get("timing_cache"):
        cache_path = Path(options["timing_cache"])
        blob = cache_path.read_bytes() if cache_path.is_file() else b""
        config.set_timing_cache(config.create_timing_cache(blob), ignore_mismatch=False)
        record["timing_cache"] = str(cache_path)
    return record


def _save_timing_cache(config: Any, options: dict[str, Any]) -> None:
    if options.get("timing_cache"):
        with atomic_path(Path(options["timing_cache"])) as tmp:
            tmp.write_bytes(memoryview(config.get_timing_cache().serialize()))


def _attach_legacy_calibrator(
    trt: Any, config: Any, loaded: LoadedModel, request: ExportRequest, options: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """Attach ``IInt8EntropyCalibrator2`` (TensorRT <= 10) over our calibration set.

    Returns the calibrator, which the caller keeps alive until the build ends,
    and the calibration record.
    """
    import torch

    from deploykit.calibration import load_calibration

    if request.calib is None:
        raise InputError("INT8 needs a calibration set", "pass --calib calib.npz")
    calib = load_calibration(request.calib, loaded.spec)
    cache_path = Path(options["calib_cache"]) if options.get("calib_cache") else None
    batch = int(options["opt_batch"])

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            super().__init__()
            self._batches = iter(calib.batches(batch))
            self._device = None  # keeps the current batch alive on the GPU

        def get_batch_size(self) -> int:
            return batch

        def get_batch(self, names: list[str]) -> list[int] | None:
            block = next(self._batches, None)
            if block is None or len(block) < batch:
                return None
            self._device = torch.from_numpy(block).cuda().contiguous()
            return [int(self._device.data_ptr())]

        def read_calibration_cache(self) -> bytes | None:
            return cache_path.read_bytes() if cache_path and cache_path.is_file() else None

        def write_calibration_cache(self, cache: Any) -> None:
            if cache_path:
                with atomic_path(cache_path) as tmp:
                    tmp.write_bytes(bytes(cache))

    calibrator = EntropyCalibrator()
    config.int8_calibrator = calibrator
    record = {**calib.info, "method": "tensorrt-entropy2 (legacy)", "cache": str(cache_path or "")}
    return calibrator, record


def build(loaded: LoadedModel, request: ExportRequest, dest: Path) -> BuildInfo:
    """Build a serialized TensorRT engine at ``dest`` (see the module docstring)."""
    trt = compat.tensorrt()
    device = compat.device_record()
    options = get_target("trt").resolve_options(request.options)
    plan_ = plan(trt.__version__, request.precision, options)
    from deploykit.export import onnx as onnx_export

    onnx_request = replace(request, target="onnx", precision=plan_["onnx_precision"], options={})
    with temp_dir(label="trt") as work:
        onnx_path = Path(work) / "model.onnx"
        onnx_info = onnx_export.build(loaded, onnx_request, onnx_path)
        logger = trt.Logger(trt.Logger.WARNING)
        builder = trt.Builder(logger)
        network, _parser = _parse(trt, builder, onnx_path, plan_["strongly_typed"], logger)
        config = builder.create_builder_config()
        details = _configure(trt, builder, config, plan_, options)
        profile = _profile(builder, network, options)
        if profile:
            config.add_optimization_profile(profile["profile"])
            details["batch_profile"] = profile["batch"]
        calibration = onnx_info.calibration
        if plan_["legacy_calibrator"]:
            _calibrator, calibration = _attach_legacy_calibrator(
                trt, config, loaded, request, options
            )
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise InputError(
                "TensorRT could not build the engine (see its log above)",
                "raise --option workspace=MiB, or try another precision",
            )
        dest.write_bytes(memoryview(serialized))
        _save_timing_cache(config, options)
    details.update(
        {
            "strongly_typed": plan_["strongly_typed"],
            "onnx_precision": plan_["onnx_precision"],
            **onnx_info.details,
        }
    )
    return BuildInfo(
        exporter={"name": "tensorrt", "version": trt.__version__, "onnx": onnx_info.exporter},
        calibration=calibration,
        details=details,
        device=device,
    )
