"""What to prune and how far: one validated dataclass shared by the library and the CLI."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from deploykit.errors import InputError
from deploykit.options import check_options, option
from deploykit.targets import backend_names


def _importances() -> tuple[str, ...]:
    from deploykit.prune.importance import IMPORTANCES

    return tuple(IMPORTANCES)


@dataclass(frozen=True)
class PruneConfig:
    """Pruning settings. Exactly one of ``ratio``, ``target_macs``, ``target_latency_ms`` is set.

    Attributes:
        ratio: fraction of channels removed from every prunable group, in (0, 1).
        target_macs: keep at most this fraction of the model's MACs, in (0, 1).
        target_latency_ms: prune until batch-1 latency on ``backend`` is at most this.
        importance: channel criterion: ``l1``, ``l2``, ``bn-scale``, ``taylor``, ``random``.
        global_pruning: rank channels across layers (True) or prune each layer alike (False).
        min_channels: no layer keeps fewer output channels than this.
        round_to: kept channel counts are multiples of this (SIMD and tensor-core friendly).
        max_ratio: no layer loses more than this fraction of its channels (search ceiling).
        ignore: module names (as in ``named_modules``) never pruned, with their submodules.
        steps: pruning steps for a ratio target, with fine-tuning between them when
            ``finetune`` is set; for MACs and latency targets, the search steps from no
            pruning to ``max_ratio`` (1: the default, 20 for MACs and 10 for latency).
        finetune: dataset (``digits``, an ImageFolder, a ``.npz``) to fine-tune on; None: no
            fine-tuning (BatchNorm statistics are still re-estimated when ``eval_data`` is set).
        epochs: fine-tuning epochs after pruning.
        lr: peak fine-tuning learning rate.
        distill: weight in [0, 1] of knowledge distillation from the unpruned model during
            fine-tuning (0: labels only).
        eval_data: labelled set whose test split gives accuracy before/after
            (default: the ``finetune`` set).
        taylor_batches: labelled batches whose gradients score channels for ``taylor``.
        backend: backend latency is measured on (``onnxruntime``, ``openvino``, ``torch``).
        threads: intra-op threads for latency and training (None: backend default).
        measure_latency: measure latency before/after for the report.
        seed: seeds importance sampling and fine-tuning.
        force: replace an existing ``.pt2`` that a different prune wrote.
    """

    ratio: float | None = option(
        None, "Fraction of channels to remove.", min=0, max=1, exclusive=True
    )
    target_macs: float | None = option(
        None, "Fraction of MACs to keep.", min=0, max=1, exclusive=True
    )
    target_latency_ms: float | None = option(
        None, "Batch-1 latency to reach on --backend.", min=0, exclusive=True, unit="ms"
    )
    importance: str = option("l1", "Channel criterion.", choices=_importances)
    global_pruning: bool = option(
        False, "Rank channels across layers, or prune each alike.", flag="--global/--uniform"
    )
    min_channels: int = option(1, "No layer keeps fewer output channels.", min=1)
    round_to: int = option(8, "Keep channel counts multiples of this.", min=1)
    max_ratio: float = option(
        0.9, "No layer loses more than this fraction.", min=0, max=1, exclusive=True
    )
    ignore: tuple[str, ...] = option((), "Layer names never pruned, comma-separated.")
    steps: int = option(1, "Pruning steps (fine-tuning between them).", min=1)
    finetune: str | None = option(None, "Fine-tune on digits, an ImageFolder or a .npz.")
    epochs: int = option(20, "Fine-tuning epochs.", min=0)
    lr: float = option(3e-3, "Peak fine-tuning learning rate.", min=0, exclusive=True)
    distill: float = option(
        0.0, "Weight of distillation from the unpruned model while fine-tuning.", min=0, max=1
    )
    eval_data: str | None = option(
        None, "Labelled set for top-1 (default: --finetune).", flag="--eval"
    )
    taylor_batches: int = option(4, "Labelled batches that score channels for taylor.", min=1)
    backend: str = option("onnxruntime", "Backend latency is measured on.", choices=backend_names)
    threads: int | None = option(None, "Intra-op threads for latency and training.", min=1)
    measure_latency: bool = option(
        True, "Measure latency before/after for the report.", flag="--latency/--no-latency"
    )
    seed: int = option(0, "Seeds importance sampling and fine-tuning.")
    force: bool = option(
        False, "Replace an existing .pt2 that a different prune wrote.", suite=False
    )

    @property
    def target(self) -> tuple[str, float]:
        """``("ratio" | "macs" | "latency_ms", value)``."""
        for kind, value in (
            ("ratio", self.ratio),
            ("macs", self.target_macs),
            ("latency_ms", self.target_latency_ms),
        ):
            if value is not None:
                return kind, value
        raise InputError("no pruning target", "pass --ratio, --target-macs or --target-latency-ms")

    @property
    def accuracy_data(self) -> str | None:
        return self.eval_data or self.finetune

    def __post_init__(self) -> None:
        check_options(self)
        given = [v for v in (self.ratio, self.target_macs, self.target_latency_ms) if v is not None]
        if len(given) != 1:
            raise InputError(
                "give exactly one pruning target",
                "pass one of --ratio, --target-macs, --target-latency-ms",
            )
        if self.distill and not self.finetune:
            raise InputError("--distill needs --finetune DATA", "name the data to fine-tune on")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ignore"] = list(self.ignore)
        return data
