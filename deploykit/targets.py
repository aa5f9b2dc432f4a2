"""The capability table: export formats, their options, and the backends that run them.

This is the one place that knows which suffix means which format, which options a target
takes, which backend runs a format by default and which provider an ONNX Runtime backend
uses. Argument validation, the exporter dispatch, the model loaders, the benchmark, the CLI
help and the tests all read it. Plugins add backends with :func:`register_backend`.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploykit import target_options as opts
from deploykit.errors import InputError
from deploykit.options import check_value
from deploykit.target_options import TargetOption, find_option

PRECISIONS = ("fp32", "fp16", "int8", "int8-dynamic")


@dataclass(frozen=True)
class Target:
    """An export format.

    Attributes:
        name: CLI name (``--to``).
        fmt: artifact format, the key runners are matched on.
        suffixes: artifact file suffixes; the first is what export writes.
        precisions: precisions this target can be exported at.
        module: module with ``build(loaded, request, tmp) -> BuildInfo``.
        companions: suffixes of files written beside the artifact (OpenVINO's ``.bin``).
        options: the ``--option`` keys it takes.
        gpu: whether building needs an NVIDIA GPU.
        extra: pip extra that provides the toolchain, if any.
    """

    name: str
    fmt: str
    suffixes: tuple[str, ...]
    precisions: tuple[str, ...]
    module: str
    companions: tuple[str, ...] = ()
    options: tuple[TargetOption, ...] = ()
    gpu: bool = False
    extra: str | None = None

    @property
    def suffix(self) -> str:
        return self.suffixes[0]

    def option(self, key: str) -> TargetOption:
        return find_option(self.options, key, self.name)

    def resolve_options(self, given: dict[str, Any]) -> dict[str, Any]:
        """Every option of this target: given values (checked) over the defaults."""
        resolved = {o.key: o.default for o in self.options}
        for key, value in given.items():
            check_value(f"--option {key}", self.option(key).opt, value)
            resolved[key] = value
        return resolved


@dataclass(frozen=True)
class Backend:
    """A runtime that executes artifacts of some formats.

    Attributes:
        name: CLI name (``--backend``).
        formats: artifact formats it runs.
        module, cls: where the Runner subclass lives.
        device: ``cpu`` or ``cuda``.
        extra: pip extra that provides it, if any.
        default_for: formats this backend runs when the user names no backend.
        providers: ONNX Runtime execution providers, in priority order.
        runtime: import name of the package it needs (None: always installed), so the
            bench can tell which backends are installed here.
        options: the ``--runner-option`` keys its runner reads.
    """

    name: str
    formats: tuple[str, ...]
    module: str
    cls: str
    device: str = "cpu"
    extra: str | None = None
    default_for: tuple[str, ...] = ()
    providers: tuple[str, ...] = field(default=())
    runtime: str | None = None
    options: tuple[TargetOption, ...] = ()

    def option(self, key: str) -> TargetOption:
        return find_option(self.options, key, f"backend {self.name}")


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            "onnx", "onnx", (".onnx",), PRECISIONS, "deploykit.export.onnx", options=opts.INT8_ONNX
        ),
        Target(
            "tflite",
            "tflite",
            (".tflite",),
            PRECISIONS,
            "deploykit.export.tflite",
            options=opts.TFLITE,
            extra="tflite",
        ),
        Target(
            "trt",
            "engine",
            (".engine", ".plan"),
            ("fp32", "fp16", "int8"),
            "deploykit.export.tensorrt",
            options=opts.TRT,
            gpu=True,
            extra="gpu",
        ),
        Target(
            "openvino",
            "openvino",
            (".xml",),
            ("fp32", "fp16", "int8"),
            "deploykit.export.openvino",
            companions=(".bin",),
            options=opts.OPENVINO,
            extra="openvino",
        ),
    )
}

# Formats deploykit loads but does not export to.
SOURCE_FORMATS: dict[str, tuple[str, ...]] = {
    "keras": (".keras", ".h5"),
    "pt2": (".pt2",),
    "checkpoint": (".pt", ".pth"),
}

BACKENDS: dict[str, Backend] = {}
# Modules or .py files (os.pathsep-separated) imported before the table is read; they
# call register_backend(). The bench workers import them too.
PLUGINS_ENV = "DEPLOYKIT_BENCH_PLUGINS"


def register_backend(backend: Backend) -> Backend:
    """Add (or replace) a backend in the table; plugins call this."""
    BACKENDS[backend.name] = backend
    return backend


def load_plugins() -> list[str]:
    """Import the modules or files named in ``$DEPLOYKIT_BENCH_PLUGINS``; return their names."""
    loaded = []
    for entry in filter(None, os.environ.get(PLUGINS_ENV, "").split(os.pathsep)):
        if entry.endswith(".py"):
            name = f"deploykit_bench_plugin_{Path(entry).stem}"
            if name not in sys.modules:
                spec = importlib.util.spec_from_file_location(name, entry)
                if spec is None or spec.loader is None:
                    raise ImportError(f"cannot load bench plugin {entry}")
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                spec.loader.exec_module(module)
        else:
            importlib.import_module(entry)
            name = entry
        loaded.append(name)
    return loaded


def backend_names() -> tuple[str, ...]:
    """Every backend's name, plugins included (the ``--backend`` choices)."""
    load_plugins()
    return tuple(BACKENDS)


for _backend in (
    Backend("torch", ("torch",), "deploykit.runners.torch", "TorchRunner", default_for=("torch",)),
    Backend("torch-cuda", ("torch",), "deploykit.runners.torch", "TorchRunner", "cuda"),
    Backend(
        "onnxruntime",
        ("onnx",),
        "deploykit.runners.onnxruntime",
        "OrtRunner",
        default_for=("onnx",),
        providers=("CPUExecutionProvider",),
        options=opts.ORT_CPU,
    ),
    Backend(
        "ort-cuda",
        ("onnx",),
        "deploykit.runners.onnxruntime",
        "OrtRunner",
        "cuda",
        "gpu",
        providers=("CUDAExecutionProvider", "CPUExecutionProvider"),
        options=opts.ORT_GPU,
    ),
    Backend(
        "ort-trt",
        ("onnx",),
        "deploykit.runners.onnxruntime",
        "OrtRunner",
        "cuda",
        "gpu",
        providers=("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"),
        options=opts.ORT_GPU,
    ),
    Backend(
        "openvino",
        ("onnx", "openvino"),
        "deploykit.runners.openvino",
        "OpenVinoRunner",
        extra="openvino",
        default_for=("openvino",),
        runtime="openvino",
        options=opts.OPENVINO_RUNNER,
    ),
    Backend(
        "litert",
        ("tflite",),
        "deploykit.runners.litert",
        "LiteRtRunner",
        extra="tflite",
        default_for=("tflite",),
        runtime="ai_edge_litert",
        options=opts.LITERT,
    ),
    Backend(
        "tensorrt",
        ("engine",),
        "deploykit.runners.tensorrt",
        "TensorRtRunner",
        "cuda",
        "gpu",
        default_for=("engine",),
        options=opts.TENSORRT,
    ),
    Backend(
        "keras",
        ("keras",),
        "deploykit.runners.keras",
        "KerasRunner",
        extra="tflite",
        default_for=("keras",),
    ),
):
    register_backend(_backend)


def get_target(name: str) -> Target:
    if name not in TARGETS:
        raise InputError(f"unknown export target {name!r}", f"use one of {', '.join(TARGETS)}")
    return TARGETS[name]


def get_backend(name: str) -> Backend:
    if name not in BACKENDS:
        raise InputError(f"unknown backend {name!r}", f"use one of {', '.join(BACKENDS)}")
    return BACKENDS[name]


def check_precision(target: Target, precision: str) -> str:
    if precision not in target.precisions:
        raise InputError(
            f"{target.name} cannot be exported at precision {precision!r}",
            f"use one of {', '.join(target.precisions)}",
        )
    return precision


def suffix_formats() -> dict[str, str]:
    """Every known file suffix -> its format (export targets and source-only formats)."""
    table = {s: t.fmt for t in TARGETS.values() for s in t.suffixes}
    table.update({s: fmt for fmt, suffixes in SOURCE_FORMATS.items() for s in suffixes})
    return table


def format_of(ref: str | Path) -> str:
    """The format of a model reference: by file suffix; ``keras:`` names; else a torch model.

    ``.pt2`` programs and ``.pt`` checkpoints load as torch models, so they report ``torch``.
    """
    text = str(ref)
    if text.startswith("keras:"):
        return "keras"
    fmt = suffix_formats().get(Path(text).suffix.lower(), "torch")
    return "torch" if fmt in ("pt2", "checkpoint") else fmt


def target_for_file(path: str | Path) -> Target | None:
    """The export target whose artifacts carry ``path``'s suffix, if any."""
    suffix = Path(path).suffix.lower()
    return next((t for t in TARGETS.values() if suffix in t.suffixes), None)


def default_backend(fmt: str) -> str:
    """The backend that runs ``fmt`` when the user names none."""
    for backend in BACKENDS.values():
        if fmt in backend.default_for:
            return backend.name
    raise InputError(f"no backend runs {fmt!r} artifacts", f"use one of {', '.join(BACKENDS)}")


def backends_for(fmt: str) -> list[str]:
    """Backends able to run format ``fmt``, in table order."""
    return [b.name for b in BACKENDS.values() if fmt in b.formats]


def check_runner_options(given: dict[str, Any], backends: tuple[str, ...] = ()) -> None:
    """Check ``--runner-option`` values against the backends that declare each key.

    Args:
        given: the runner options (one flat mapping; each runner reads its own keys).
        backends: the backends of the run (empty: any backend may be the one that reads it).

    Raises:
        InputError: for a key none of ``backends`` reads, or a value its declaration refuses.
    """
    if not given:
        return  # (backend_names() would import the plugins: only when there is a key to check)
    names = backends or backend_names()
    for key, value in given.items():
        owners = [get_backend(n) for n in names if key in {o.key for o in get_backend(n).options}]
        if not owners:
            known = sorted({o.key for n in names for o in get_backend(n).options})
            raise InputError(
                f"runner option {key}: no backend of this run ({', '.join(names)}) reads it",
                f"runner options here: {', '.join(known) or 'none'}",
            )
        for backend in owners:
            check_value(f"runner option {key}", backend.option(key).opt, value)
