"""The export pipeline shared by every target: load, build, verify, rename, manifest."""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from deploykit.calibration import METHODS as CALIB_METHODS
from deploykit.data import load_dataset, prepare
from deploykit.errors import InputError
from deploykit.export.verify import DEFAULT_TOLERANCES, Tolerance, check
from deploykit.fileio import atomic_files, check_file_name, ensure_dir, sha256_file
from deploykit.manifest import WRITER_KEY, Manifest, check_overwrite, manifest_path, writer_key
from deploykit.options import check_options, option, parse_pairs
from deploykit.runners import RunnerOptions, open_runner
from deploykit.sources import LoadedModel, SourceOptions, load_model
from deploykit.spec import InputSpec
from deploykit.targets import PRECISIONS, TARGETS, check_precision, default_backend, get_target

# The opsets torch 2.14's exporters write (torch.onnx._constants ONNX_MIN_OPSET/ONNX_MAX_OPSET).
MIN_OPSET, MAX_OPSET = 7, 23


@dataclass(frozen=True)
class ExportRequest:
    """What to build.

    Attributes:
        target: ``onnx``, ``tflite`` or ``trt`` (see ``deploykit.targets``).
        precision: ``fp32``, ``fp16``, ``int8`` or ``int8-dynamic``.
        out_dir: folder for the artifact and its manifest.
        name: artifact file stem (default: model name, precision and target).
        opset: ONNX opset.
        dynamic_batch: whether the batch axis stays dynamic.
        simplify: run onnxslim on exported ONNX graphs.
        verify: compare the artifact with its source before keeping it.
        tolerance: verification tolerance (default: per precision).
        verify_data: dataset whose images are the verification samples.
        verify_samples: how many samples to verify on.
        calib: calibration set (``.npz``) for INT8.
        calib_method: ``minmax``, ``entropy`` or ``percentile``.
        max_accuracy_drop: top-1 points INT8 may lose against FP32 (needs ``eval_data``).
        eval_data: labelled dataset for the accuracy budget.
        keep_fp32: node names or op types kept in FP32 when quantizing.
        options: target-specific settings (workspace, delegate, int8 I/O, ...).
        force: replace an existing artifact that a different export wrote.
    """

    target: str = option("onnx", "Export target.", flag="--to", choices=lambda: tuple(TARGETS))
    precision: str = option("fp32", "Precision of the artifact.", choices=PRECISIONS)
    out_dir: Path = option(Path("out"), "Output directory.", flag="--out", short="-o", suite=False)
    name: str | None = option(
        None, "Artifact file stem (a file name; default: model, precision, target).", suite=False
    )
    opset: int = option(18, "ONNX opset.", min=MIN_OPSET, max=MAX_OPSET)
    dynamic_batch: bool = option(
        True, "Keep the batch axis dynamic.", flag="--dynamic-batch/--static-batch"
    )
    simplify: bool = option(True, "Simplify exported ONNX graphs with onnxslim.")
    verify: bool = option(True, "Compare the artifact with its source before keeping it.")
    tolerance: Tolerance | None = option(
        None, "Verification tolerance (default: per precision).", cli=False
    )
    verify_data: str = option("digits", "Images to verify on: digits, an ImageFolder or a .npz.")
    verify_samples: int = option(32, "How many samples to verify on.", min=1)
    calib: Path | None = option(None, "Calibration set (.npz) for INT8.")
    calib_method: str = option("minmax", "Calibration method.", choices=CALIB_METHODS)
    max_accuracy_drop: float | None = option(
        None, "Top-1 points INT8 may lose against FP32 (needs --eval).", min=0, unit="points"
    )
    eval_data: str | None = option(None, "Labelled set for the accuracy budget.", flag="--eval")
    keep_fp32: tuple[str, ...] = option(
        (), "Node names or op types kept in FP32 when quantizing, comma-separated."
    )
    options: dict[str, Any] = option(
        default_factory=dict,
        help="Target option KEY=VALUE, repeatable ("
        + "; ".join(f"{t.name}: {', '.join(o.key for o in t.options)}" for t in TARGETS.values())
        + ").",
        flag="--option",
        parse=parse_pairs,
    )
    force: bool = option(
        False, "Replace an existing artifact that a different export wrote.", suite=False
    )

    def __post_init__(self) -> None:
        check_options(self)
        target = get_target(self.target)
        check_precision(target, self.precision)
        target.resolve_options(self.options)
        check_file_name(self.name, "--name")


@dataclass
class BuildInfo:
    """What a target's ``build`` reports about the artifact it wrote.

    Attributes:
        exporter: which tool ran and how (name, version, opset, fallbacks).
        spec: the artifact's input spec when it differs from the source's (e.g. NHWC).
        calibration: calibration set and method, for INT8.
        details: anything else worth recording (fallback layers, node counts).
        device: the device the artifact is bound to (TensorRT).
        runner_extra: backend options needed to run the artifact for verification.
    """

    exporter: dict[str, Any]
    spec: InputSpec | None = None
    calibration: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    device: dict[str, Any] | None = None
    runner_extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExportResult:
    """The artifact, its manifest and the verification record."""

    artifact: Path
    manifest: Manifest


def artifact_name(loaded: LoadedModel, request: ExportRequest) -> str:
    """Default file name: the model, then what sets the artifact apart from the plain export.

    ``resnet18.onnx``, ``resnet18_int8.onnx``, ``resnet18_fp16_tflite.tflite``,
    ``resnet18_int8_io-int8_tflite.tflite`` (a ``--option`` away from its default),
    ``resnet18_int8_drop1.onnx`` (an accuracy budget).
    """
    target = get_target(request.target)
    parts = [request.name or loaded.name]
    if request.name is None:
        if request.precision != "fp32":
            parts.append(request.precision.replace("-", "_"))
        defaults = target.resolve_options({})
        parts += [
            f"{key}-{value}"
            for key, value in sorted(request.options.items())
            if value != defaults.get(key)
        ]
        if request.max_accuracy_drop is not None:
            parts.append(f"drop{request.max_accuracy_drop:g}")
        if request.target != "onnx":
            parts.append(request.target)
    return "_".join(parts) + target.suffix


# Request fields that do not change the artifact's bytes (only whether and how it is checked).
_NOT_IN_KEY = ("out_dir", "name", "force", "verify", "tolerance", "verify_data", "verify_samples")


def export_key(loaded: LoadedModel, request: ExportRequest) -> str:
    """A hash of what makes an artifact: the source (with its weights' hash) and the request."""
    record = {k: v for k, v in asdict(request).items() if k not in _NOT_IN_KEY}
    if request.calib is not None and Path(request.calib).is_file():
        record["calib_sha256"] = sha256_file(Path(request.calib))
    return writer_key(loaded.source, loaded.spec, record)


def verification_samples(spec: InputSpec, data: str, count: int) -> np.ndarray:
    """Real images from ``data`` prepared for ``spec`` (NCHW float32)."""
    dataset = load_dataset(data, split="test", limit=count)
    return prepare(dataset.images, spec)


def source_runner(loaded: LoadedModel, threads: int | None = None):
    """An open runner over the source model itself (the verification reference)."""
    target = loaded.path if loaded.kind == "onnx" else loaded.model
    return open_runner(default_backend(loaded.kind), target, loaded.spec, RunnerOptions(threads))


def reference_logits(loaded: LoadedModel, samples: np.ndarray) -> np.ndarray:
    """The source model's logits on ``samples``."""
    with source_runner(loaded) as runner:
        return runner.infer(samples)


def verify_artifact(
    loaded: LoadedModel, request: ExportRequest, path: Path, spec: InputSpec, info: BuildInfo
) -> dict[str, Any]:
    """Run ``path`` in its default backend and the source on the same real samples."""
    fmt = get_target(request.target).fmt
    samples = verification_samples(loaded.spec, request.verify_data, request.verify_samples)
    reference = reference_logits(loaded, samples)
    options = RunnerOptions(precision=request.precision, extra=info.runner_extra)
    with open_runner(default_backend(fmt), path, spec, options) as runner:
        candidate = runner.infer(samples)
        backend = runner.info
    tolerance = request.tolerance or DEFAULT_TOLERANCES[request.precision]
    record = check(
        reference, candidate, tolerance, f"{request.target} {request.precision} artifact"
    )
    return {**record, "backend": backend.backend, "data": request.verify_data}


def export_model(
    model: str | LoadedModel, request: ExportRequest, source: SourceOptions | None = None
) -> ExportResult:
    """Export a model to one artifact, verify it, and write its manifest beside it.

    Args:
        model: a model reference (see :func:`deploykit.sources.load_model`) or a loaded model.
        request: what to build.
        source: how to load ``model`` when it is a reference.

    Raises:
        DeployKitError: for anything the user can fix; no partial artifact is left.
    """
    target = get_target(request.target)
    check_precision(target, request.precision)
    if request.max_accuracy_drop is not None and not request.eval_data:
        raise InputError(
            "--max-accuracy-drop needs a labelled set", "add --eval digits or a folder"
        )
    if request.max_accuracy_drop is not None and target.name == "tflite":
        raise InputError(
            "--max-accuracy-drop works on ONNX and TensorRT INT8 (layers fall back in the Q/DQ "
            "graph); the TFLite converter has no per-layer fallback here",
            "drop --max-accuracy-drop, or export --to onnx with it and bench both",
        )
    loaded = model if isinstance(model, LoadedModel) else load_model(model, source)
    notes = {}
    if request.dynamic_batch and not loaded.spec.dynamic_batch:
        batch = loaded.spec.shape[0]
        request = replace(request, dynamic_batch=False)
        notes["static_batch"] = (
            f"{loaded.name} has a static batch of {batch}: exported at batch {batch}"
        )
    out_dir = ensure_dir(Path(request.out_dir))
    final = out_dir / artifact_name(loaded, request)
    key = export_key(loaded, request)
    check_overwrite(final, key, request.force)
    builder = importlib.import_module(target.module)
    # Artifact, companions and manifest are renamed into place together, or none is.
    with atomic_files(final, manifest_path(final), companions=target.companions) as (
        tmp,
        tmp_manifest,
    ):
        info: BuildInfo = builder.build(loaded, request, tmp)
        spec = replace(info.spec or loaded.spec, dynamic_batch=request.dynamic_batch)
        verification = verify_artifact(loaded, request, tmp, spec, info) if request.verify else None
        manifest = Manifest(
            artifact=final.name,
            target=request.target,
            precision=request.precision,
            input=spec,
            source=loaded.source,
            exporter=info.exporter,
            verification=verification,
            calibration=info.calibration,
            device=info.device,
            details={**notes, **info.details, WRITER_KEY: key},
            num_classes=loaded.num_classes,
            companions={
                final.with_suffix(s).name: sha256_file(tmp.with_suffix(s))
                for s in target.companions
            },
        )
        manifest.write(final, content=tmp, to=tmp_manifest)
    return ExportResult(final, manifest)
