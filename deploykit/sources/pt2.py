"""``.pt2`` files written by ``torch.export.save`` (no pickled code is executed)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from deploykit.errors import ModelLoadError, first_line
from deploykit.fileio import existing_file, sha256_file
from deploykit.manifest import read_manifest
from deploykit.sources.base import LoadedModel, SourceOptions
from deploykit.sources.pt2_check import read_checked
from deploykit.sources.torch_common import output_classes
from deploykit.spec import ASSUMED_PREPROCESS, InputSpec


def load_program(path: Path, trust_pickle: bool = False):
    """The ``ExportedProgram`` in ``path``, or a one-line error.

    The archive is checked first (:mod:`deploykit.sources.pt2_check`) and the bytes
    that were checked are the ones loaded.

    Args:
        path: the ``.pt2`` file.
        trust_pickle: load embedded pickles and code torch would run (``--trust-pickle``).
    """
    import io
    import logging

    import torch

    data = read_checked(path, trust_pickle)

    # torch logs a warning with a traceback before raising on a bad archive; the
    # user gets our one line instead.
    logger = logging.getLogger("torch.export")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        return torch.export.load(io.BytesIO(data))
    except Exception as exc:  # torch raises many types for a bad archive
        first = first_line(exc)
        raise ModelLoadError(
            f"cannot load {path} as a torch.export program ({first})",
            "save it with torch.export.save(torch.export.export(model, args), path)",
        ) from None
    finally:
        logger.setLevel(level)


def _example_shape(program) -> tuple[tuple[int, ...], bool] | None:
    """The user input's shape (symbolic sizes read as 1) and whether its batch is symbolic."""
    for spec in program.graph_signature.input_specs:
        if spec.kind.name == "USER_INPUT":
            node = next(n for n in program.graph.nodes if n.name == spec.arg.name)
            value = node.meta.get("val")
            if value is not None:
                shape = tuple(int(d) if str(d).isdigit() else 1 for d in value.shape)
                return shape, not str(value.shape[0]).isdigit() if value.shape else False
    return None


def load(ref: str, options: SourceOptions) -> LoadedModel:
    path = existing_file(ref, "model file")
    manifest = read_manifest(path)
    program = load_program(path, options.trust_pickle)
    module = program.module()
    example = _example_shape(program)
    if manifest is not None:
        spec = manifest.input
    else:
        if example is None and not options.input_shape:
            raise ModelLoadError(f"{path} has no image input", "pass --input-shape")
        spec = InputSpec(shape=options.input_shape or example[0], preprocess=ASSUMED_PREPROCESS)
    if options.input_shape:
        spec = InputSpec(shape=options.input_shape, preprocess=spec.preprocess)
    if example is not None and not example[1]:
        # A program traced without a dynamic batch runs at its example batch only.
        spec = replace(spec, shape=(example[0][0], *spec.shape[1:]), dynamic_batch=False)
    classes = output_classes(module, spec)
    source = {"ref": str(path), "kind": "pt2", "sha256": sha256_file(path)}
    if manifest is not None:
        source["manifest"] = manifest.source
    return LoadedModel(
        "torch", path.stem, spec, source, model=module, path=path, num_classes=classes
    )


def save_program(
    module,
    spec: InputSpec,
    path: Path,
    *,
    source: dict,
    details: dict | None = None,
    num_classes: int | None = None,
) -> Path:
    """Save a torch module as a ``torch.export`` ``.pt2`` (dynamic batch) plus its manifest.

    The file reloads with :func:`load` without unpickling code.

    Args:
        module: the model (eval mode is set here).
        spec: its input spec (NCHW).
        path: destination ``.pt2``; written atomically.
        source: provenance recorded in the manifest.
        details: anything else for the manifest (pruning report, accuracy).
        num_classes: output classes, when known.
    """
    import torch

    from deploykit.fileio import atomic_files
    from deploykit.manifest import Manifest, manifest_path

    module = module.eval()
    example = (torch.zeros(spec.with_batch(2).nchw),)
    dims = ({0: torch.export.Dim("batch", min=1, max=4096)},) if spec.dynamic_batch else None
    try:
        program = torch.export.export(module, example, dynamic_shapes=dims)
    except Exception as exc:  # torch.export fails in many ways on untraceable code
        first = first_line(exc)
        raise ModelLoadError(f"torch.export cannot trace the model ({first})") from None
    with atomic_files(path, manifest_path(path)) as (tmp, tmp_manifest):
        torch.export.save(program, str(tmp))
        manifest = Manifest(
            artifact=path.name,
            target="pt2",
            precision="fp32",
            input=spec,
            source=source,
            exporter={"name": "torch.export", "torch": torch.__version__},
            details=details or {},
            num_classes=num_classes,
        )
        manifest.write(path, content=tmp, to=tmp_manifest)
    return path
