"""Fine-tuning and BatchNorm re-estimation after pruning, with accuracy before/after."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from deploykit.spec import InputSpec
from deploykit.train import Progress, TrainConfig


def accuracy(model: Any, spec: InputSpec, data: str) -> float:
    """Top-1 of a torch ``model`` on the test split of ``data``."""
    from deploykit.data import load_dataset
    from deploykit.train import evaluate

    return evaluate(model, load_dataset(data, split="test"), spec)


def recalibrate(model: Any, spec: InputSpec, data: str) -> None:
    """Re-estimate BatchNorm statistics on the train split of ``data`` (pruning shifts them)."""
    from deploykit.data import load_dataset
    from deploykit.train import recalibrate_batchnorm

    recalibrate_batchnorm(model, load_dataset(data, split="train"), spec)


def finetune(
    model: Any,
    spec: InputSpec,
    data: str,
    config: TrainConfig,
    progress: Progress | None = None,
    teacher: Any = None,
) -> Any:
    """Fine-tune ``model`` in place on the train split of ``data``; return it in eval mode.

    Args:
        model: the pruned torch module.
        spec: its input spec (drives preprocessing).
        data: ``digits``, an ImageFolder directory or a ``.npz`` file.
        config: epochs (0: BatchNorm re-estimation only, done last), learning rate, seed,
            threads and distillation weight.
        progress: called as ``progress(step, total_steps, loss)``.
        teacher: the unpruned model, distilled into ``model`` when ``config.distill > 0``.
    """
    from deploykit.data import load_dataset
    from deploykit.train import fit

    if config.epochs > 0:
        fit(model, load_dataset(data, split="train"), spec, config, progress, teacher=teacher)
    recalibrate(model, spec, data)  # statistics of the final weights, not a running blend
    return model.eval()


def labelled_batches(spec: InputSpec, data: str, count: int, batch_size: int = 32) -> tuple:
    """``(images, labels)`` tensors: ``count`` batches from the train split (Taylor scores)."""
    import torch

    from deploykit.data import load_dataset, prepare

    dataset = load_dataset(data, split="train", limit=count * batch_size)
    return torch.from_numpy(prepare(dataset.images, spec)), torch.from_numpy(dataset.labels)


@contextlib.contextmanager
def progress_bar(description: str, console: Any = None) -> Iterator[Progress]:
    """A progress bar (:func:`deploykit.progress.live_steps`), yielded as ``progress(step, total, loss)``."""
    from deploykit.progress import live_steps

    with live_steps(console, description) as steps:
        yield steps.progress
