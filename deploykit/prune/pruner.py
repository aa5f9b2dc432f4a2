"""Dependency-graph pruning with Torch-Pruning: which layers are protected, and one pruning step.

Torch-Pruning groups every layer coupled to a channel (residual adds,
concatenations, depthwise and grouped convolutions, SE blocks) so a group is
removed everywhere at once. Here we decide what is never pruned (the classifier
output layer, user-named layers, shuffle-coupled channels) and enforce
``min_channels`` per layer, which Torch-Pruning expresses only as a ratio.
"""

from __future__ import annotations

import difflib
from typing import Any

from deploykit.errors import InputError
from deploykit.prune.config import PruneConfig
from deploykit.prune.importance import make_importance


def classifier_layers(model: Any, num_classes: int | None) -> list[Any]:
    """The output layer(s): the last Linear/Conv2d producing ``num_classes`` (else the last one)."""
    from torch import nn

    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    if not layers:
        raise InputError("the model has no Conv2d or Linear layers to prune")

    def width(m: Any) -> int:
        return m.out_features if isinstance(m, nn.Linear) else m.out_channels

    matching = [m for m in layers if num_classes is not None and width(m) == num_classes]
    return [matching[-1] if matching else layers[-1]]


def named_layers(model: Any, names: tuple[str, ...]) -> list[Any]:
    """Modules called ``names`` in ``model.named_modules()``, or a one-line error with suggestions."""
    modules = dict(model.named_modules())
    found = []
    for name in names:
        if name not in modules:
            close = difflib.get_close_matches(name, [n for n in modules if n], n=3, cutoff=0.5)
            hint = (
                f"did you mean {', '.join(close)}?"
                if close
                else "names as in model.named_modules()"
            )
            raise InputError(f"--ignore: no layer named {name!r}", hint)
        found.append(modules[name])
    return found


def prunable_channels(model: Any) -> int:
    """Output channels (features) of all Conv2d and Linear layers: what a channel ratio counts."""
    from torch import nn

    total = 0
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            total += m.out_channels
        elif isinstance(m, nn.Linear):
            total += m.out_features
    return total


class ChannelPruner:
    """Torch-Pruning's pruner over ``model``, stepping its channel ratio up to ``final_ratio``.

    Args:
        model: the torch module, pruned in place.
        example: an example input tensor for tracing.
        config: importance, global/uniform, round_to, min_channels and ignored names.
        final_ratio: channel ratio reached at the last step.
        steps: steps to reach it (linear schedule).
        num_classes: the classifier width (its output layer is never pruned).
    """

    def __init__(
        self,
        model: Any,
        example: Any,
        config: PruneConfig,
        final_ratio: float,
        steps: int,
        num_classes: int | None,
    ) -> None:
        import torch_pruning as tp

        from deploykit.prune.shuffle import CUSTOMIZED_PRUNERS, prepare_shuffle_units
        from deploykit.prune.shuffle_v1 import BottleneckPruner

        self.model = model
        self.config = config
        self.steps = steps
        self.final_ratio = final_ratio
        self.importance = make_importance(config.importance)
        coupled = prepare_shuffle_units(model)
        self._bottlenecks = BottleneckPruner(model, config.importance, config.seed)
        ignored = [*classifier_layers(model, num_classes), *coupled, *self._bottlenecks.frozen]
        ignored += named_layers(model, config.ignore)
        self.protected = {
            "classifier": 1,
            "shuffle_coupled": len(coupled),
            "shufflenet_v1_units": len(self._bottlenecks.units),
            "named": len(config.ignore),
        }
        if config.importance == "bn-scale" and not _has_batchnorm(model):
            raise InputError(
                "bn-scale importance needs BatchNorm layers and this model has none",
                "use --importance l1",
            )
        self._pruner = tp.pruner.BasePruner(
            model,
            example,
            importance=self.importance,
            global_pruning=config.global_pruning,
            pruning_ratio=final_ratio,
            max_pruning_ratio=max(config.max_ratio, final_ratio),
            iterative_steps=steps,
            ignored_layers=ignored,
            round_to=config.round_to,
            customized_pruners=CUSTOMIZED_PRUNERS,
        )
        self.done = 0

    @property
    def exhausted(self) -> bool:
        return self.done >= self.steps

    @property
    def step_ratio(self) -> float:
        """The channel ratio the schedule has reached so far."""
        return self.final_ratio * self.done / self.steps

    def step(self) -> int:
        """Prune one scheduled step; return how many groups were pruned."""
        graph = self._pruner.DG
        pruned = 0
        for group in self._pruner.step(interactive=True):
            dep, idxs = group[0].dep, list(group[0].idxs)
            current = graph.get_out_channels(dep.target.module) or 0
            allowed = current - self.config.min_channels
            if allowed <= 0 or not idxs:
                continue
            if len(idxs) > allowed:
                group.prune(idxs=idxs[:allowed])
            else:
                group.prune()
            pruned += 1
        self.done += 1
        return pruned + self._bottlenecks.prune_to(self.step_ratio, self.config.min_channels)


def _has_batchnorm(model: Any) -> bool:
    from torch import nn

    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
