"""Pruning targets: a channel ratio, a MACs fraction, or a latency measured with our runners.

A target says how far the channel schedule may go and, after each step, whether
it has been reached. MACs ratios are known not to translate into latency, so the
latency target times the model on the chosen backend (ONNX Runtime by default,
through a temporary ONNX export) after every step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploykit.errors import InputError
from deploykit.fileio import temp_dir
from deploykit.prune.config import PruneConfig
from deploykit.spec import InputSpec

# Steps the MACs and latency searches take between no pruning and ``max_ratio``.
MACS_SEARCH_STEPS = 20
LATENCY_SEARCH_STEPS = 10


def count_params(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: Any, spec: InputSpec) -> int:
    """Multiply-accumulates of one batch-1 forward pass (convolutions and linear layers)."""
    from deploykit.zoo.stats import count_macs as macs

    return macs(model, spec.with_batch(1).nchw)


def latency_timing() -> Any:
    """A short timing run: enough for a target decision, quick enough to repeat each step."""
    from deploykit.bench.timing import TimingConfig

    return TimingConfig(warmup_iters=5, warmup_s=0.2, min_iters=20, min_s=0.5, max_s=10.0)


def measure_latency(
    model: Any,
    spec: InputSpec,
    backend: str = "onnxruntime",
    threads: int | None = None,
    timing: Any = None,
) -> float:
    """Median batch-1 latency in ms of a torch ``model`` on ``backend``.

    Args:
        model: the torch module.
        spec: its input spec.
        backend: ``torch`` times the module itself; ONNX backends time a temporary export.
        threads: intra-op threads (None: the backend's default).
        timing: a ``TimingConfig`` (default: :func:`latency_timing`).
    """
    import numpy as np

    from deploykit.bench.timing import measure_runner
    from deploykit.runners import RunnerOptions, open_runner
    from deploykit.targets import get_backend

    spec1 = spec.with_batch(1)
    batch = np.random.default_rng(0).random(spec1.nchw, dtype=np.float32)
    timing = timing or latency_timing()
    formats = get_backend(backend).formats
    if "torch" in formats:
        with open_runner(backend, model, spec1, RunnerOptions(threads)) as runner:
            return measure_runner(runner, batch, timing).p50_ms
    if "onnx" not in formats:
        raise InputError(
            f"latency targets run on torch or ONNX backends, not {backend}",
            "use --backend onnxruntime, openvino or torch",
        )
    with temp_dir(label="prune") as folder:
        path = export_onnx(model, spec1, Path(folder) / "model.onnx")
        with open_runner(backend, path, spec1, RunnerOptions(threads)) as runner:
            return measure_runner(runner, batch, timing).p50_ms


def export_onnx(model: Any, spec: InputSpec, dest: Path) -> Path:
    """Write a static-batch, simplified ONNX probe of ``model`` to ``dest`` for timing.

    The probe uses the TorchScript exporter, several times faster than the dynamo
    exporter ``deploykit export`` tries first; after onnxslim both give the graph
    ONNX Runtime fuses the same way, and the search may export ten times.
    """
    import contextlib
    import io
    import warnings

    import onnx
    import onnxslim
    import torch

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.eval(),
            (torch.zeros(spec.nchw),),
            str(dest),
            dynamo=False,
            opset_version=18,
            input_names=[spec.name],
            output_names=["logits"],
        )
    onnx.save(onnxslim.slim(onnx.load(str(dest))), str(dest))
    return dest


@dataclass
class TargetState:
    """Where a target stands: its kind and goal, the value reached, whether it is met."""

    kind: str
    goal: float
    value: float | None = None
    met: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "goal": self.goal, "value": self.value, "met": self.met}


class Target:
    """A pruning target: the schedule to search and the check after each step.

    Args:
        config: the pruning settings (which target, backend, threads).
        spec: the model's input spec.
        base_macs: MACs of the unpruned model.
    """

    def __init__(self, config: PruneConfig, spec: InputSpec, base_macs: int) -> None:
        self.config = config
        self.spec = spec
        self.base_macs = base_macs
        kind, goal = config.target
        self.state = TargetState(kind, goal)

    def schedule(self) -> tuple[float, int]:
        """``(final channel ratio, steps)`` the pruner is built with."""
        kind = self.state.kind
        if kind == "ratio":
            return self.state.goal, self.config.steps
        default = MACS_SEARCH_STEPS if kind == "macs" else LATENCY_SEARCH_STEPS
        return self.config.max_ratio, self.config.steps if self.config.steps > 1 else default

    def check(self, model: Any, step_ratio: float) -> bool:
        """Record the value reached by ``model``; True when the target is met."""
        kind, goal = self.state.kind, self.state.goal
        if kind == "ratio":
            value = step_ratio
            met = value >= goal - 1e-9
        elif kind == "macs":
            value = count_macs(model, self.spec) / self.base_macs
            met = value <= goal
        else:
            value = measure_latency(model, self.spec, self.config.backend, self.config.threads)
            met = value <= goal
        self.state.value, self.state.met = value, met
        return met

    def unreachable(self) -> InputError:
        """The one-line error for a target the architecture cannot reach."""
        kind, goal, value = self.state.kind, self.state.goal, self.state.value
        if kind == "macs":
            return InputError(
                f"--target-macs {goal} is below what this architecture allows "
                f"(at most {self.config.max_ratio:.0%} of each layer's channels go: "
                f"{value:.3f} of the MACs remain)",
                "ask for a larger fraction, or lower --min-channels/--round-to",
            )
        return InputError(f"the {kind} target {goal} was not reached (got {value})")
