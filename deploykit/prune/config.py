"""What to prune and how far: one validated dataclass shared by the library and the CLI."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from deploykit.errors import InputError


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
    """

    ratio: float | None = None
    target_macs: float | None = None
    target_latency_ms: float | None = None
    importance: str = "l1"
    global_pruning: bool = False
    min_channels: int = 1
    round_to: int = 8
    max_ratio: float = 0.9
    ignore: tuple[str, ...] = ()
    steps: int = 1
    finetune: str | None = None
    epochs: int = 20
    lr: float = 3e-3
    distill: float = 0.0
    eval_data: str | None = None
    taylor_batches: int = 4
    backend: str = "onnxruntime"
    threads: int | None = None
    measure_latency: bool = True
    seed: int = 0

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

    def validate(self) -> PruneConfig:
        """Return self, or raise :class:`InputError` naming the first bad setting."""
        from deploykit.prune.importance import IMPORTANCES
        from deploykit.targets import get_backend

        given = [v for v in (self.ratio, self.target_macs, self.target_latency_ms) if v is not None]
        if len(given) != 1:
            raise InputError(
                "give exactly one pruning target",
                "pass one of --ratio, --target-macs, --target-latency-ms",
            )
        for name, value in (("--ratio", self.ratio), ("--target-macs", self.target_macs)):
            if value is not None and not 0.0 < value < 1.0:
                raise InputError(f"{name} must be between 0 and 1 (exclusive), got {value}")
        if self.target_latency_ms is not None and self.target_latency_ms <= 0:
            raise InputError(f"--target-latency-ms must be positive, got {self.target_latency_ms}")
        if self.importance not in IMPORTANCES:
            raise InputError(
                f"unknown importance {self.importance!r}", f"use one of {', '.join(IMPORTANCES)}"
            )
        if not 0.0 < self.max_ratio < 1.0:
            raise InputError(f"max_ratio must be between 0 and 1, got {self.max_ratio}")
        for name, value in (
            ("--round-to", self.round_to),
            ("--min-channels", self.min_channels),
            ("--steps", self.steps),
        ):
            if value < 1:
                raise InputError(f"{name} must be at least 1, got {value}")
        if not 0.0 <= self.distill <= 1.0:
            raise InputError(
                f"--distill must be between 0 and 1, got {self.distill}",
                "0 trains on labels only, 1 on the unpruned model's outputs only",
            )
        if self.distill and not self.finetune:
            raise InputError("--distill needs --finetune DATA", "name the data to fine-tune on")
        if self.epochs < 0:
            raise InputError(f"--epochs must be 0 or more, got {self.epochs}")
        get_backend(self.backend)
        return self

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ignore"] = list(self.ignore)
        return data
