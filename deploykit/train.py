"""Training and evaluation loops shared by the demo, pruning fine-tunes and ``finetune``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from deploykit.data import Dataset, prepare
from deploykit.metrics import check_labels_fit, label_classes, topk_accuracy
from deploykit.options import check_options, option
from deploykit.spec import InputSpec

Progress = Callable[[int, int, float], None]

# Peak learning rates when TrainConfig.lr is None: AdamW at 3e-3 suits networks with
# normalization layers; without them (AlexNet, VGG, SqueezeNet) it drives a randomly
# initialised network to a constant output within an epoch (SqueezeNet 1.1 on a digits
# ImageFolder at 64x64: 10.0 % validation top-1 at 3e-3 and 1e-3, 76.6 % at 3e-4, 32.3 % at
# 1e-4 after 5 epochs; benchmarks/RESULTS.md, "Issue 14: every seed family fine-tunes").
DEFAULT_LR = 3e-3
UNNORMALIZED_LR = 3e-4


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings.

    Attributes:
        epochs: passes over the training set.
        lr: peak learning rate (AdamW, one-cycle); None: :func:`learning_rate` picks it.
        batch_size: samples per step.
        weight_decay: AdamW weight decay.
        seed: seeds torch and the shuffling.
        augment: random shifts of up to 1/8 of the image size.
        threads: torch intra-op threads (None: leave as is).
        distill: weight of the teacher's soft targets in the loss, in [0, 1]
            (0: labels only; used only when ``fit`` is given a teacher).
        temperature: softmax temperature of the distillation term.
    """

    epochs: int = option(5, "Passes over the training set.", min=0)
    lr: float | None = option(
        None,
        "Peak learning rate (AdamW, one-cycle; default 3e-3, or 3e-4 for a model without"
        " normalization layers).",
        min=0,
        exclusive=True,
    )
    batch_size: int = option(64, "Samples per step.", min=1)
    weight_decay: float = option(1e-4, "AdamW weight decay.", min=0)
    seed: int = option(0, "Seeds torch and the shuffling.")
    augment: bool = option(True, "Random shifts of up to 1/8 of the image size.")
    threads: int | None = option(None, "Torch intra-op threads.", min=1)
    distill: float = option(
        0.0, "Weight of the teacher's soft targets in the loss.", min=0, max=1, cli=False
    )
    temperature: float = option(
        4.0, "Softmax temperature of the distillation term.", min=0, exclusive=True, cli=False
    )

    def __post_init__(self) -> None:
        check_options(self)


def learning_rate(model, config: TrainConfig) -> float:
    """``config.lr``, else :data:`DEFAULT_LR`, or :data:`UNNORMALIZED_LR` for a model without
    BatchNorm, LayerNorm, GroupNorm or InstanceNorm layers.

    Args:
        model: the torch module to train.
        config: optimisation settings.
    """
    import torch

    if config.lr is not None:
        return config.lr
    norms = (
        torch.nn.modules.batchnorm._BatchNorm,
        torch.nn.LayerNorm,
        torch.nn.GroupNorm,
        torch.nn.modules.instancenorm._InstanceNorm,
    )
    normalized = any(isinstance(m, norms) for m in model.modules())
    return DEFAULT_LR if normalized else UNNORMALIZED_LR


def _shift(batch, rng: np.random.Generator):
    import torch

    limit = max(1, batch.shape[-1] // 8)
    dx, dy = (int(v) for v in rng.integers(-limit, limit + 1, size=2))
    return torch.roll(batch, shifts=(dy, dx), dims=(2, 3))


def fit(
    model,
    data: Dataset,
    spec: InputSpec,
    config: TrainConfig | None = None,
    progress: Progress | None = None,
    parameters=None,
    teacher=None,
):
    """Train ``model`` in place on ``data`` prepared for ``spec``; return it in eval mode.

    With a ``teacher`` and ``config.distill > 0`` the loss blends cross-entropy on the
    labels with the KL divergence to the teacher's softened logits on the same batch
    (Hinton et al., 2015), scaled by the squared temperature.

    Args:
        model: a torch module.
        data: labelled raw images.
        spec: the model's input spec (drives preprocessing).
        config: optimisation settings (defaults when None).
        progress: called as ``progress(step, total_steps, loss)``.
        parameters: the parameters to optimise (default: all that require grad).
        teacher: a torch module whose logits the model learns to match (kept in eval mode).
    """
    import torch

    config = config or TrainConfig()
    if config.epochs == 0:  # nothing to train (callers may still re-estimate BatchNorm)
        return model.eval()
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    x = torch.from_numpy(prepare(data.images, spec))
    y = torch.from_numpy(data.labels)
    params = [p for p in (parameters or model.parameters()) if p.requires_grad]
    lr = learning_rate(model, config)
    optimiser = torch.optim.AdamW(params, lr=lr, weight_decay=config.weight_decay)
    steps_per_epoch = max(1, -(-len(y) // config.batch_size))
    total = steps_per_epoch * config.epochs
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, lr, total_steps=total)
    loss_fn = torch.nn.CrossEntropyLoss()
    distill = config.distill if teacher is not None else 0.0
    if teacher is not None:
        from deploykit.sources.torch_common import eval_mode

        eval_mode(teacher)
    model.train()
    step = 0
    if progress:
        progress(0, total, float("nan"))  # the bar knows its length before the first step
    for _ in range(config.epochs):
        order = torch.from_numpy(rng.permutation(len(y)))
        for start in range(0, len(y), config.batch_size):
            index = order[start : start + config.batch_size]
            if len(index) < 2:  # BatchNorm needs two samples
                continue
            batch = _shift(x[index], rng) if config.augment else x[index]
            logits = model(batch)
            if step == 0:  # cross-entropy fails on labels the model cannot output
                check_labels_fit(logits.shape[1], label_classes(data.labels), data.name)
            loss = loss_fn(logits, y[index])
            if distill:
                loss = (1 - distill) * loss + distill * _soft_loss(
                    logits, teacher, batch, config.temperature
                )
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            step += 1
            if progress:
                progress(step, total, loss.item())
    return model.eval()


def _soft_loss(logits, teacher, batch, temperature: float):
    """KL(teacher || student) on logits softened by ``temperature``, times temperature^2."""
    import torch
    import torch.nn.functional as F

    with torch.no_grad():
        target = F.log_softmax(teacher(batch) / temperature, dim=1)
    student = F.log_softmax(logits / temperature, dim=1)
    return F.kl_div(student, target, reduction="batchmean", log_target=True) * temperature**2


def predict(model, data: Dataset, spec: InputSpec, batch_size: int = 256) -> np.ndarray:
    """Logits of a torch ``model`` on ``data`` prepared for ``spec``."""
    import torch

    from deploykit.sources.torch_common import eval_mode

    x = prepare(data.images, spec)
    eval_mode(model)
    outs = []
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            outs.append(model(torch.from_numpy(x[start : start + batch_size])).float().numpy())
    return np.concatenate(outs)


def evaluate(model, data: Dataset, spec: InputSpec) -> float:
    """Top-1 accuracy of a torch ``model`` on ``data`` (refused when its labels do not fit)."""
    logits = predict(model, data, spec)
    check_labels_fit(logits.shape[1], label_classes(data.labels), data.name)
    return topk_accuracy(logits, data.labels, 1)


def recalibrate_batchnorm(
    model, data: Dataset, spec: InputSpec, batches: int = 20, batch_size: int = 64
) -> None:
    """Re-estimate BatchNorm running statistics on ``data`` (after pruning, say).

    The statistics are a plain average over the batches seen; each layer's momentum
    is restored afterwards so later training updates them as usual.
    """
    import torch

    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the batches seen
    x = torch.from_numpy(prepare(data.images, spec))
    model.train()
    try:
        with torch.no_grad():
            for i, start in enumerate(range(0, len(x), batch_size)):
                if i >= batches:
                    break
                model(x[start : start + batch_size])
    finally:
        for bn, momentum in zip(bns, momenta, strict=True):
            bn.momentum = momentum
    model.eval()
