"""Bench items: what the user passed, resolved into something a runner can open."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploykit.errors import InputError
from deploykit.manifest import read_manifest
from deploykit.optional import available
from deploykit.sources import SourceOptions, load_model
from deploykit.spec import InputSpec
from deploykit.targets import (
    Backend,
    backends_for,
    default_backend,
    format_of,
    get_backend,
    target_for_file,
)


@dataclass
class Subject:
    """One benchmark item.

    Attributes:
        item: the reference as given.
        label: display name (file name or model name).
        fmt: artifact format.
        target: what runners open: a path, or an in-memory model.
        spec: its input spec.
        precision: as recorded in its manifest (fp32 for source models).
        size_bytes: file size, when it is a file.
        manifest: the manifest dict, when there is one.
        assumed: the one-line note saying which preprocessing was assumed for it (a source
            that records none and was given no ``--mean``/``--std``), else None.
    """

    item: str
    label: str
    fmt: str
    target: Any
    spec: InputSpec
    precision: str = "fp32"
    size_bytes: int | None = None
    manifest: dict[str, Any] | None = None
    assumed: str | None = None

    def backends(self, wanted: list[str], formats: set[str]) -> list[tuple[str, str | None]]:
        """The backends this item gets a row on, each with why it cannot run (None: it can).

        Nothing asked for is dropped silently: a wanted backend that runs this format
        is measured; one that runs no format in the run (``formats``) gets a failed row
        saying so, and so does every wanted backend when none of them runs this item.
        A backend that runs another item's format is left out for this one (mixed runs).
        Without ``wanted``: :func:`default_backends`.
        """
        if not wanted:
            return [(b, None) for b in default_backends(self.fmt)]
        runs = [b for b in wanted if self.fmt in get_backend(b).formats]
        rows = []
        for name in wanted:
            backend = get_backend(name)
            if name in runs:
                rows.append((name, None))
            elif not runs or not formats & set(backend.formats):
                rows.append((name, _cannot_run(name, self.fmt)))
        return rows


def _cannot_run(backend: str, fmt: str) -> str:
    """Why ``backend`` gets no measurement for a ``fmt`` item, and what runs it."""
    own = ", ".join(get_backend(backend).formats)
    able = ", ".join(backends_for(fmt))
    return f"{backend} runs {own} models, not {fmt} (backends for {fmt}: {able})"


def default_backends(fmt: str) -> list[str]:
    """What runs ``fmt`` when no backend is named: for ONNX every backend installed here.

    ONNX files run on ONNX Runtime, on OpenVINO when it is installed, and on ONNX
    Runtime's CUDA and TensorRT providers when this ONNX Runtime has them, so the
    bench shows which one is fastest without being asked. Other formats run on
    their own runtime (``Backend.default_for``).
    """
    if fmt != "onnx":
        return [default_backend(fmt)]
    return [b for b in backends_for(fmt) if installed(get_backend(b))]


def installed(backend: Backend) -> bool:
    """Whether ``backend`` can run here: its ONNX Runtime provider exists, else its runtime
    package is importable (``Backend.runtime``); GPU backends count only through a provider."""
    if backend.providers:
        import onnxruntime

        return backend.providers[0] in onnxruntime.get_available_providers()
    if backend.device != "cpu":
        return False
    return backend.runtime is None or available(backend.runtime)


def load_source(ref: str, options: SourceOptions):
    """``load_model`` with torch's RNG seeded first.

    Registry models without ``--weights`` are randomly initialised; the seed makes
    every process (the parent exporting a suite, each bench worker) build the same
    weights, so a torch cell and the ONNX file exported from "the same" model agree.
    """
    if format_of(ref) == "torch":
        import torch

        torch.manual_seed(0)
    return load_model(ref, options)


def resolve(item: str, options: SourceOptions) -> Subject:
    """Turn a bench item into a :class:`Subject`.

    Artifacts that runners read from disk (ONNX, TFLite, TensorRT engines) take
    their spec from the manifest beside them; models are loaded through sources.
    """
    fmt = format_of(item)
    path = Path(item)
    # Exported artifacts other than ONNX (which also loads as a source) need their manifest.
    exported = target_for_file(path)
    if fmt != "onnx" and exported is not None:
        if not path.is_file():
            raise InputError(f"artifact {item} does not exist", "check the path")
        manifest = read_manifest(path)
        if manifest is None:
            raise InputError(
                f"{item} has no manifest beside it ({path.with_suffix('.json').name})",
                "export it with `deploykit export` so its input spec is known",
            )
        return Subject(
            item,
            path.name,
            fmt,
            path,
            manifest.input,
            manifest.precision,
            sum(p.stat().st_size for p in (path, *map(path.with_suffix, exported.companions))),
            manifest.to_dict(),
        )
    loaded = load_source(item, options)
    if loaded.kind == "onnx":
        manifest = read_manifest(loaded.path)
        return Subject(
            item,
            path.name,
            "onnx",
            loaded.path,
            loaded.spec,
            manifest.precision if manifest else "fp32",
            path.stat().st_size,
            manifest.to_dict() if manifest else None,
            loaded.details.get("assumed"),
        )
    size = path.stat().st_size if path.is_file() else None
    target = loaded.model
    return Subject(
        item,
        path.name if path.is_file() else loaded.name,
        loaded.kind,
        target,
        loaded.spec,
        "fp32",
        size,
        assumed=loaded.details.get("assumed"),
    )
