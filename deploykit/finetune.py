"""Transfer learning: replace a classifier's head, train on a new set, save a reloadable ``.pt2``.

The head is found by name, per family: ``fc`` (ResNet, RegNet, Inception, the
zoo's ShuffleNet/Xception/SENet), the last Linear or 1x1 Conv2d inside
``classifier`` (VGG, MobileNet, EfficientNet, SqueezeNet's conv head,
DenseNet), ``head`` (Swin) or ``heads`` (ViT). A model whose head cannot be
found is refused with one line rather than guessed at.

After training, BatchNorm statistics are re-estimated on the training images
with the final weights (:func:`deploykit.train.recalibrate_batchnorm`, as
pruning does): torchvision builds MobileNetV3 with BatchNorm momentum 0.01, so
its running statistics lag far behind weights that moved during a short
fine-tune, and evaluation mode then scores at chance (9.75 % on ten classes)
while the training loss is 0.06. A validation top-1 that still ends near chance
is reported as a warning.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from deploykit.errors import InputError, ModelLoadError
from deploykit.manifest import WRITER_KEY, check_overwrite, writer_key
from deploykit.options import check_options, option
from deploykit.sources import LoadedModel
from deploykit.train import Progress, TrainConfig, evaluate, fit, learning_rate

# Attributes that hold the classifier head, in the order they are tried.
HEAD_ATTRIBUTES = ("fc", "classifier", "head", "heads", "last_linear")


def find_head(model: Any, num_classes: int | None = None) -> str:
    """The qualified name of the layer that produces the logits.

    Args:
        model: a torch module.
        num_classes: the current output width; when given, the head must produce it.

    Raises:
        ModelLoadError: when no Linear or Conv2d head is found under a known attribute.
    """
    import torch

    kinds = (torch.nn.Linear, torch.nn.Conv2d)
    for attr in HEAD_ATTRIBUTES:
        holder = getattr(model, attr, None)
        if not isinstance(holder, torch.nn.Module):
            continue
        candidates = [(attr, holder)] if isinstance(holder, kinds) else []
        candidates += [
            (f"{attr}.{name}", module)
            for name, module in holder.named_modules()
            if name and isinstance(module, kinds)
        ]
        if not candidates:
            continue
        name, layer = candidates[-1]
        width = layer.out_features if isinstance(layer, torch.nn.Linear) else layer.out_channels
        if num_classes is None or width == num_classes:
            return name
    raise ModelLoadError(
        f"cannot find the classifier head of {type(model).__name__}",
        f"finetune replaces a Linear or 1x1 Conv2d under one of: {', '.join(HEAD_ATTRIBUTES)}",
    )


def replace_head(model: Any, num_classes: int, current: int | None = None) -> str:
    """Swap the head of ``model`` for a fresh one with ``num_classes`` outputs; return its name."""
    import torch

    name = find_head(model, current)
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    old = getattr(parent, attr) if not attr.isdigit() else parent[int(attr)]
    if isinstance(old, torch.nn.Linear):
        new: torch.nn.Module = torch.nn.Linear(old.in_features, num_classes)
    else:
        new = torch.nn.Conv2d(
            old.in_channels, num_classes, old.kernel_size, old.stride, old.padding
        )
    if attr.isdigit():
        parent[int(attr)] = new
    else:
        setattr(parent, attr, new)
    return name


@dataclass(frozen=True)
class FinetuneResult:
    """What a fine-tuning run produced.

    Attributes:
        path: the saved ``.pt2`` (its manifest is beside it).
        head: qualified name of the replaced layer.
        num_classes: the new output width.
        val_top1: top-1 accuracy on the validation split.
        train_samples: training images.
        val_samples: validation images.
        epochs: passes over the training set.
        frozen_backbone: whether only the head was trained.
        seconds: wall time of the training.
        warnings: one line each, e.g. validation top-1 near chance.
    """

    path: Path
    head: str
    num_classes: int
    val_top1: float
    train_samples: int
    val_samples: int
    epochs: int
    frozen_backbone: bool
    seconds: float
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path), "warnings": list(self.warnings)}


@dataclass(frozen=True)
class FinetuneRequest:
    """What to train.

    Attributes:
        data: ``digits``, an ImageFolder directory or a ``.npz`` (train/test splits as
            :func:`deploykit.data.load_dataset` makes them).
        num_classes: new output width (default: the number of classes in ``data``).
        freeze_backbone: train the new head only.
        train: optimisation settings.
        force: replace an existing ``.pt2`` that a different fine-tune wrote.
    """

    data: str = option("digits", "Labelled set: digits, an ImageFolder or a .npz.")
    num_classes: int | None = option(
        None, "New head width (default: the classes in --data).", min=1
    )
    freeze_backbone: bool = option(False, "Train the new head only.")
    train: TrainConfig = option(default_factory=TrainConfig, help="Optimisation settings.")
    force: bool = option(
        False, "Replace an existing .pt2 that a different fine-tune wrote.", suite=False
    )

    def __post_init__(self) -> None:
        check_options(self)
        if self.train.epochs < 1:  # prune may fine-tune for 0 epochs; a fresh head may not
            raise InputError(
                f"--epochs {self.train.epochs} would save a fresh, untrained head",
                "give --epochs 1 or more",
            )


def output_path(out: Path, name: str, data: str) -> Path:
    """``out`` itself when it ends in ``.pt2``, else ``out/<name>-ft-<data>.pt2``.

    Args:
        out: a ``.pt2`` path or a folder.
        name: the source model's short name.
        data: the training set (its file or folder name goes into the file name).

    Raises:
        InputError: ``out`` names a file of another kind.
    """
    out = Path(out)
    if out.suffix == ".pt2":
        return out
    if out.suffix and not out.is_dir():
        raise InputError(f"cannot save a fine-tuned model as {out.name}", "name a .pt2 file")
    label = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(data).stem or "data")
    return out / f"{name}-ft-{label}.pt2"


def finetune(
    loaded: LoadedModel,
    request: FinetuneRequest,
    out: Path,
    progress: Progress | None = None,
) -> FinetuneResult:
    """Replace the head of a torch model, train it on ``request.data`` and save it as ``.pt2``.

    Args:
        loaded: a loaded torch model (registry name, factory, ``.pt`` ...).
        request: data, head width, what to train and how.
        out: destination ``.pt2``, or a folder for ``<model>-ft-<data>.pt2``; a manifest with
            the validation accuracy goes beside it. A file that a different fine-tune wrote is
            refused unless ``request.force``.
        progress: called as ``progress(step, total_steps, loss)``.

    Raises:
        DeployKitError: for a non-torch model, a head that cannot be found, bad data or path.
    """
    from deploykit.data import load_dataset
    from deploykit.sources.pt2 import save_program
    from deploykit.train import recalibrate_batchnorm

    data, num_classes, config = request.data, request.num_classes, request.train
    freeze_backbone = request.freeze_backbone
    out = output_path(out, loaded.name, data)
    if loaded.kind != "torch":
        raise ModelLoadError(
            f"finetune trains torch models; {loaded.name} is a {loaded.kind} model",
            "start from a registry name, module:factory or a state_dict with --weights",
        )
    train = load_dataset(data, "train")
    val = load_dataset(data, "test")
    labelled = int(max(train.labels.max(), val.labels.max())) + 1
    if train.labels.min() < 0:
        raise InputError(f"{data} has unlabelled images", "finetune needs labels")
    classes = num_classes or max(len(train.classes), labelled)
    if classes < labelled:
        raise InputError(f"{data} has {labelled} classes, more than --num-classes {classes}")
    settings = {k: v for k, v in asdict(request).items() if k != "force"}
    settings["train"] = {k: v for k, v in settings["train"].items() if k != "threads"}
    key = writer_key(loaded.source, loaded.spec, settings)
    hint = "pass --force to replace it, or -o another path"
    check_overwrite(out, key, request.force, "fine-tune", hint)
    model = loaded.model
    head = replace_head(model, classes, loaded.num_classes)
    parameters = None
    if freeze_backbone:
        for param in model.parameters():
            param.requires_grad_(False)
        parameters = list(model.get_submodule(head).parameters())
        for param in parameters:
            param.requires_grad_(True)
    start = time.perf_counter()
    fit(model, train, loaded.spec, config, progress, parameters)
    recalibrate_batchnorm(model, train, loaded.spec)
    seconds = time.perf_counter() - start
    for param in model.parameters():
        param.requires_grad_(True)
    top1 = evaluate(model, val, loaded.spec)
    record = {
        "head": head,
        "data": data,
        "classes": list(train.classes),
        "epochs": config.epochs,
        "lr": learning_rate(model, config),
        "batch_size": config.batch_size,
        "frozen_backbone": freeze_backbone,
        "train_samples": len(train),
        "val_samples": len(val),
        "val_top1": top1,
        "batchnorm": "re-estimated on the training images after training",
    }
    warning = near_chance(top1, classes)
    record["warnings"] = [warning] if warning else []
    source = {**loaded.source, "finetuned_from": loaded.source.get("ref", loaded.name)}
    save_program(
        model,
        loaded.spec,
        out,
        source=source,
        details={"finetune": record, WRITER_KEY: key},
        num_classes=classes,
    )
    return FinetuneResult(
        out,
        head,
        classes,
        top1,
        len(train),
        len(val),
        config.epochs,
        freeze_backbone,
        seconds,
        (warning,) if warning else (),
    )


def near_chance(top1: float, classes: int) -> str | None:
    """A warning when ``top1`` is within a tenth of the way from chance to perfect.

    Args:
        top1: validation top-1 as a fraction.
        classes: number of classes (chance is ``1 / classes``).
    """
    chance = 1.0 / classes
    if top1 > chance + 0.1 * (1.0 - chance):
        return None
    return (
        f"validation top-1 {top1:.1%} is near chance ({chance:.1%} for {classes} classes): "
        "the model learned nothing usable; try another --lr (e.g. 0.01), more --epochs, "
        "or check that --data holds one folder per class"
    )
