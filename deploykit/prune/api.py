"""``prune`` and ``save``: the pruning pipeline behind ``deploykit prune``.

Load -> measure -> prune step by step until the target is met -> fine-tune ->
measure again -> save as a ``torch.export`` ``.pt2`` whose manifest carries the report.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploykit.errors import InputError
from deploykit.manifest import WRITER_KEY, check_overwrite, writer_key
from deploykit.prune.config import PruneConfig
from deploykit.prune.report import ModelFacts, PruneReport
from deploykit.spec import InputSpec
from deploykit.train import Progress, TrainConfig

Log = Callable[[str], None]


@dataclass
class PruneResult:
    """A pruned model and what it cost and scored.

    Attributes:
        model: the pruned torch module (eval mode).
        spec: its input spec (unchanged by pruning).
        name: the source model's short name.
        source: the source model's provenance.
        num_classes: classifier width.
        config: the settings used.
        report: before/after figures.
        target: kind, goal, value reached and whether it was met.
    """

    model: Any
    spec: InputSpec
    name: str
    source: dict[str, Any]
    num_classes: int | None
    config: PruneConfig
    report: PruneReport
    target: dict[str, Any] = field(default_factory=dict)

    def details(self) -> dict[str, Any]:
        """What the manifest records under ``details``."""
        return {
            "pruning": {
                "tool": _torch_pruning_version(),
                "config": self.config.to_dict(),
                "criterion": self.config.importance,
                "scope": "global" if self.config.global_pruning else "uniform",
                "target": self.target,
                "report": self.report.to_dict(),
            }
        }


def _torch_pruning_version() -> str:
    import torch_pruning as tp

    return f"torch-pruning {getattr(tp, '__version__', 'unknown')}"


def _facts(model: Any, spec: InputSpec, config: PruneConfig, latency: bool) -> ModelFacts:
    from deploykit.prune.finetune import accuracy
    from deploykit.prune.report import state_bytes
    from deploykit.prune.targets import count_macs, count_params, measure_latency

    return ModelFacts(
        params=count_params(model),
        macs=count_macs(model, spec),
        size_bytes=state_bytes(model),
        latency_ms=measure_latency(model, spec, config.backend, config.threads)
        if latency
        else None,
        top1=accuracy(model, spec, config.accuracy_data) if config.accuracy_data else None,
    )


def _torch_model(model: Any, source: Any) -> tuple[Any, Any]:
    """The loaded model and a module to prune: a copy when the caller handed its own model."""
    from deploykit.sources import LoadedModel, load_model

    loaded = model if isinstance(model, LoadedModel) else load_model(model, source)
    if loaded.kind != "torch":
        raise InputError(
            f"{loaded.name} is a {loaded.kind} model; pruning needs a torch module",
            "prune the torch source (registry name or module:factory), then export it",
        )
    if loaded.source.get("kind") == "pt2":
        raise InputError(
            f"{loaded.name}: a torch.export .pt2 is a frozen graph and cannot be pruned or trained",
            "prune the original model (registry name or module:factory)",
        )
    module = copy.deepcopy(loaded.model) if loaded is model else loaded.model
    return loaded, module.eval()


def prune(
    model: Any,
    config: PruneConfig,
    source: Any = None,
    log: Log | None = None,
    show_progress: bool = False,
    progress: Progress | None = None,
) -> PruneResult:
    """Prune a torch model to ``config``'s target; fine-tune and measure it.

    Args:
        model: a model reference (registry name, ``module:factory``, ``.pt`` with trust) or
            a torch ``LoadedModel``; a caller's model is copied, never modified.
        config: target, criterion and fine-tuning settings.
        source: ``SourceOptions`` for loading a reference.
        log: called with one line per stage (None: quiet).
        show_progress: show a rich progress bar while fine-tuning.
        progress: called as ``progress(step, total_steps, loss)`` while fine-tuning
            (a caller's own display; ``show_progress`` wins for the final fine-tune).

    Raises:
        DeployKitError: bad settings, a non-torch model, or an unreachable MACs target.
    """
    import torch

    from deploykit.prune import finetune as ft
    from deploykit.prune.importance import NEEDS_GRADIENTS, accumulate_gradients
    from deploykit.prune.pruner import ChannelPruner, prunable_channels
    from deploykit.prune.targets import Target, count_macs

    say = log or (lambda _line: None)
    loaded, module = _torch_model(model, source)
    spec = loaded.spec
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    latency = config.measure_latency or config.target[0] == "latency_ms"
    teacher = copy.deepcopy(module) if config.distill else None

    def tune(epochs: int, bar: Any = None) -> None:
        train = TrainConfig(
            epochs=epochs,
            lr=config.lr,
            seed=config.seed,
            threads=config.threads,
            distill=config.distill,
        )
        ft.finetune(module, spec, config.finetune, train, bar, teacher=teacher)

    say(f"measuring {loaded.name}")
    before = _facts(module, spec, config, latency)
    channels_before = prunable_channels(module)
    target = Target(config, spec, before.macs)
    final_ratio, steps = target.schedule()
    example = torch.zeros(spec.with_batch(1).nchw)
    pruner = ChannelPruner(module, example, config, final_ratio, steps, loaded.num_classes)
    grads = (
        ft.labelled_batches(spec, config.finetune or "digits", config.taylor_batches)
        if config.importance in NEEDS_GRADIENTS
        else None
    )
    history: list[dict[str, Any]] = []
    met = target.state.kind == "latency_ms" and before.latency_ms <= target.state.goal
    while not met and not pruner.exhausted:
        if grads is not None:
            accumulate_gradients(module, *grads)
        pruner.step()
        module.zero_grad(set_to_none=True)
        met = target.check(module, pruner.step_ratio)
        history.append(
            {
                "step": pruner.done,
                "channel_ratio": round(pruner.step_ratio, 4),
                "macs_ratio": count_macs(module, spec) / before.macs,
                target.state.kind: target.state.value,
            }
        )
        say(f"step {pruner.done}/{steps}: {target.state.kind} {target.state.value:.4g}")
        if config.finetune and target.state.kind == "ratio" and not pruner.exhausted:
            tune(1, progress)
    if not met and target.state.kind == "macs":
        raise target.unreachable()
    if target.state.kind == "latency_ms" and not history:
        target.state.value, target.state.met = before.latency_ms, True
    top1_pruned = ft.accuracy(module, spec, config.accuracy_data) if config.accuracy_data else None
    if config.finetune:
        say(f"fine-tuning on {config.finetune} for {config.epochs} epochs")
        with ft.progress_bar("fine-tuning") if show_progress else contextlib.nullcontext() as bar:
            tune(config.epochs, bar or progress)
    module.eval()
    say("measuring the pruned model")
    after = _facts(module, spec, config, latency)
    report = PruneReport(
        before=before,
        after=after,
        top1_pruned=top1_pruned,
        channel_ratio=1 - prunable_channels(module) / channels_before,
        backend=config.backend if latency else None,
        eval_data=config.accuracy_data,
        steps=history,
    )
    return PruneResult(
        model=module,
        spec=spec,
        name=loaded.name,
        source=loaded.source,
        num_classes=loaded.num_classes,
        config=config,
        report=report,
        target={**target.state.to_dict(), "protected": pruner.protected},
    )


def output_path(out: Path, name: str, percent: int) -> Path:
    """``out`` itself when it ends in ``.pt2``, else ``out/<name>-p<percent>.pt2``."""
    out = Path(out)
    if out.suffix == ".pt2":
        return out
    if out.suffix and not out.is_dir():
        raise InputError(
            f"-o {out}: a pruned model is saved as .pt2", "give a .pt2 path or a folder"
        )
    return out / f"{name}-p{percent:02d}.pt2"


def planned_path(out: Path, name: str, config: PruneConfig) -> Path | None:
    """Where :func:`save` will write, when that is known before pruning (None: it is not).

    A folder names the file by the channel share removed, which only a ``ratio`` fixes.
    """
    if Path(out).suffix != ".pt2" and config.ratio is None:
        return None
    return output_path(out, name, round(100 * (config.ratio or 0)))


def prune_key(source: dict[str, Any], spec: InputSpec, config: PruneConfig) -> str:
    """The :func:`deploykit.manifest.writer_key` of a prune: its source and settings."""
    settings = {k: v for k, v in config.to_dict().items() if k not in ("force", "threads")}
    return writer_key(source, spec, settings)


def check_destination(
    path: Path, source: dict[str, Any], spec: InputSpec, config: PruneConfig
) -> str:
    """Refuse ``path`` when a different prune (or anything else) wrote it, unless ``--force``.

    Returns the prune's :func:`prune_key`, for the manifest.

    Args:
        path: the ``.pt2`` about to be written.
        source: the source model's provenance.
        spec: its input spec.
        config: the prune's settings (``force`` among them).
    """
    key = prune_key(source, spec, config)
    hint = "pass --force to replace it, or -o another path"
    check_overwrite(path, key, config.force, "prune", hint)
    return key


def save(result: PruneResult, out: Path) -> Path:
    """Write ``result`` as a ``.pt2`` plus manifest (atomically); return the file written.

    An existing file that a different prune wrote is refused unless ``result.config.force``.

    Args:
        result: what :func:`prune` returned.
        out: a ``.pt2`` path, or a folder for ``<name>-p<NN>.pt2`` (NN: channel percent removed).
    """
    from deploykit.sources.pt2 import save_program

    ratio = result.config.ratio
    percent = round(100 * (ratio if ratio is not None else result.report.channel_ratio))
    path = output_path(out, result.name, percent)
    key = check_destination(path, result.source, result.spec, result.config)
    source = {"ref": result.source.get("ref"), "kind": "pruned", "base": result.source}
    return save_program(
        result.model,
        result.spec,
        path,
        source=source,
        details={**result.details(), WRITER_KEY: key},
        num_classes=result.num_classes,
    )
