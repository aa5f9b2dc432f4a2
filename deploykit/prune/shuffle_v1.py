"""ShuffleNet V1: prune each unit's bottleneck through its channel shuffle, balanced per group.

A unit is ``reduce`` (1x1 conv, ``g`` groups) -> shuffle -> 3x3 depthwise ->
``expand`` (1x1 conv, ``g`` groups) -> add or concat with the shortcut. Two
things defeat Torch-Pruning here: the ``view -> transpose -> reshape`` shuffle,
whose index mapping it cannot infer, and trunk channels that pass through a
concatenation into grouped convolutions, where it removes channels unevenly
across groups (a ``groups=3`` conv left with 56 output channels).

So the trunk is kept whole and each unit's bottleneck is pruned here. The
shuffle becomes a gather over an explicit permutation (:class:`ChannelShuffle`).
A bottleneck channel ``c`` sits in reduce group ``a(c)`` before the shuffle and
in expand group ``b(c)`` after it; both grouped convolutions stay valid exactly
when every reduce group and every expand group loses the same number of
channels. Among the choices that keep that balance, a small min-cost flow picks
the one whose removed channels have the least total importance. The pruned unit
keeps the permutation restricted to the surviving channels, so it computes what
the unpruned unit computes with the removed channels cut out.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from deploykit.prune.shuffle import ChannelShuffle


def _unit_class() -> type:
    from deploykit.zoo.shufflenet_v1 import ShuffleUnit

    class PrunableShuffleUnit(ShuffleUnit):
        """deploykit's ShuffleNet V1 unit with the shuffle as a gather (same outputs)."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.reduce(x)
            if self.groups > 1:  # the first unit's reduce is not grouped and not shuffled
                y = self.shuffle(y)
            y = self.expand(self.depthwise(y))
            if self.stride == 2:
                return self.relu(torch.cat([self.shortcut(x), y], 1))
            return self.relu(x + y)

    return PrunableShuffleUnit


def _conv_bn(block: nn.Sequential) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
    return block[0], block[1]


class BottleneckPruner:
    """Prunes the bottleneck of every ShuffleNet V1 unit in ``model`` to a channel ratio.

    Args:
        model: any torch module; units are rewritten in place (same outputs).
        importance: ``l1``, ``l2``, ``bn-scale``, ``taylor`` (reads ``.grad``) or ``random``.
        seed: seeds the ``random`` criterion.
    """

    def __init__(self, model: nn.Module, importance: str = "l1", seed: int = 0) -> None:
        from deploykit.zoo.shufflenet_v1 import ShuffleNetV1, ShuffleUnit

        self.importance = importance
        self._generator = torch.Generator().manual_seed(seed)
        self.units: list[nn.Module] = []
        self.widths: list[int] = []
        unit_class = None
        for module in model.modules():
            if not isinstance(module, ShuffleUnit):
                continue
            unit_class = unit_class or _unit_class()
            mid = _conv_bn(module.reduce)[0].out_channels
            module.__class__ = unit_class
            module.shuffle = ChannelShuffle(mid, module.groups)  # groups 1: the identity
            self.units.append(module)
            self.widths.append(mid)
        # Torch-Pruning leaves these alone: the trunk feeds grouped convolutions.
        networks = [m for m in model.modules() if isinstance(m, ShuffleNetV1)]
        convs = [m for net in networks for m in net.modules() if isinstance(m, nn.Conv2d)]
        self.frozen: list[nn.Module] = convs + [unit.shuffle for unit in self.units]

    def prune_to(self, ratio: float, min_channels: int = 1) -> int:
        """Remove about ``ratio`` of each unit's original bottleneck; return units changed."""
        changed = 0
        for unit, width in zip(self.units, self.widths, strict=True):
            changed += self._prune_unit(unit, width, ratio, min_channels)
        return changed

    def _cells(self, unit: nn.Module) -> dict[tuple[int, int], list[int]]:
        """Bottleneck channels (pre-shuffle index) by (reduce group, expand group)."""
        reduce, _ = _conv_bn(unit.reduce)
        expand, _ = _conv_bn(unit.expand)
        mid = reduce.out_channels
        per_a, per_b = mid // reduce.groups, mid // expand.groups
        cells: dict[tuple[int, int], list[int]] = {}
        for post, pre in enumerate(unit.shuffle.index.tolist()):
            cells.setdefault((pre // per_a, post // per_b), []).append(pre)
        return cells

    def _prune_unit(self, unit: nn.Module, width: int, ratio: float, min_channels: int) -> int:
        reduce_groups = _conv_bn(unit.reduce)[0].groups
        expand_groups = _conv_bn(unit.expand)[0].groups
        cells = self._cells(unit)
        mid = _conv_bn(unit.reduce)[0].out_channels
        keep = max(min_channels, round(width * (1 - ratio)), reduce_groups, expand_groups)
        scores = self._scores(unit)
        # Every reduce group loses n / reduce_groups channels and every expand group
        # n / expand_groups: try the largest such n that stops at `keep`, then smaller ones.
        step = math.lcm(reduce_groups, expand_groups)
        for n in range((mid - keep) // step * step, 0, -step):
            removed = _balanced_pick(scores, cells, n // reduce_groups, n // expand_groups)
            if removed:
                self._remove(unit, sorted(removed))
                return 1
        return 0

    def _scores(self, unit: nn.Module) -> torch.Tensor:
        """Per pre-shuffle channel: the criterion over reduce, depthwise and expand weights."""
        reduce, reduce_bn = _conv_bn(unit.reduce)
        depthwise, depthwise_bn = _conv_bn(unit.depthwise)
        expand, _ = _conv_bn(unit.expand)
        mid = reduce.out_channels
        if self.importance == "random":
            return torch.rand(mid, generator=self._generator)
        post_of = torch.empty(mid, dtype=torch.long)
        post_of[unit.shuffle.index] = torch.arange(mid)
        if self.importance == "bn-scale":
            return reduce_bn.weight.detach().abs() + depthwise_bn.weight.detach().abs()[post_of]

        def weights(conv: nn.Conv2d) -> torch.Tensor:
            w = conv.weight.detach()
            if self.importance == "taylor":
                grad = conv.weight.grad
                w = w * grad if grad is not None else torch.zeros_like(w)
            return w.abs() if self.importance in ("l1", "taylor") else w.pow(2)

        per_b = mid // expand.groups
        out_per_b = expand.out_channels // expand.groups
        columns = weights(expand)  # [out, per_b, 1, 1]: column j of group b is post b*per_b + j
        expand_score = torch.stack(
            [
                columns[(p // per_b) * out_per_b : (p // per_b + 1) * out_per_b, p % per_b].sum()
                for p in range(mid)
            ]
        )
        parts = [
            weights(reduce).flatten(1).sum(1),
            weights(depthwise).flatten(1).sum(1)[post_of],
            expand_score[post_of],
        ]
        return sum(part / (part.mean() + 1e-12) for part in parts)

    def _remove(self, unit: nn.Module, removed: list[int]) -> None:
        """Drop pre-shuffle channels ``removed`` from reduce, the shuffle, depthwise and expand."""
        reduce, reduce_bn = _conv_bn(unit.reduce)
        depthwise, depthwise_bn = _conv_bn(unit.depthwise)
        expand, _ = _conv_bn(unit.expand)
        index = unit.shuffle.index
        mid = len(index)
        gone = set(removed)
        keep_pre = [c for c in range(mid) if c not in gone]
        keep_post = [p for p in range(mid) if int(index[p]) not in gone]
        new_pre = {old: new for new, old in enumerate(keep_pre)}
        _select_out(reduce, reduce_bn, keep_pre)
        _select_out(depthwise, depthwise_bn, keep_post)
        depthwise.in_channels = depthwise.groups = len(keep_post)
        per_b = mid // expand.groups
        columns = torch.tensor([p % per_b for p in keep_post]).view(expand.groups, -1)
        out_per_b = expand.out_channels // expand.groups
        weight = expand.weight.detach().view(expand.groups, out_per_b, per_b, 1, 1)
        picked = [weight[b][:, columns[b]] for b in range(expand.groups)]
        expand.weight = nn.Parameter(torch.cat(picked).contiguous())
        expand.in_channels = len(keep_post)
        unit.shuffle.index = torch.tensor([new_pre[int(index[p])] for p in keep_post])


def _balanced_pick(
    scores: torch.Tensor,
    cells: dict[tuple[int, int], list[int]],
    per_row: int,
    per_column: int,
) -> list[int] | None:
    """The channels to remove: every reduce group (row) loses ``per_row``, every expand group
    (column) ``per_column``, and the removed scores sum to the least possible.

    A min-cost flow from rows to columns with successive shortest paths (Bellman-Ford on
    a graph of ``rows + columns + 2`` nodes); the k-th unit through cell (a, b) costs the
    k-th smallest score there. Returns None when no such choice exists.
    """
    ranked = {key: sorted(chans, key=lambda c: float(scores[c])) for key, chans in cells.items()}
    cost = {key: [float(scores[c]) for c in chans] for key, chans in ranked.items()}
    rows = sorted({a for a, _ in cells})
    columns = sorted({b for _, b in cells})
    taken = dict.fromkeys(cells, 0)
    row_used = dict.fromkeys(rows, 0)
    column_used = dict.fromkeys(columns, 0)
    for _ in range(per_row * len(rows)):
        # distances: source -> row a (free while the row needs more) -> column b -> sink
        dist = {("r", a): 0.0 for a in rows if row_used[a] < per_row}
        parent: dict[tuple[str, int], tuple[str, int] | None] = dict.fromkeys(dist)
        for _round in range(len(rows) + len(columns)):
            changed = False
            for (a, b), k in taken.items():
                if ("r", a) in dist and k < len(cost[a, b]):
                    d = dist["r", a] + cost[a, b][k]
                    if d < dist.get(("c", b), math.inf) - 1e-12:
                        dist["c", b], parent["c", b], changed = d, ("r", a), True
                if ("c", b) in dist and k > 0:
                    d = dist["c", b] - cost[a, b][k - 1]
                    if d < dist.get(("r", a), math.inf) - 1e-12:
                        dist["r", a], parent["r", a], changed = d, ("c", b), True
            if not changed:
                break
        open_columns = [b for b in columns if column_used[b] < per_column and ("c", b) in dist]
        if not open_columns:
            return None
        node: tuple[str, int] | None = ("c", min(open_columns, key=lambda b: dist["c", b]))
        column_used[node[1]] += 1
        while node is not None and parent[node] is not None:
            previous = parent[node]
            if node[0] == "c":  # forward through cell (row, column): take one more
                taken[previous[1], node[1]] += 1
            else:  # backward: give one back
                taken[node[1], previous[1]] -= 1
            node = previous
        row_used[node[1]] += 1
    return [c for key, k in taken.items() for c in ranked[key][:k]]


def _select_out(conv: nn.Conv2d, bn: nn.BatchNorm2d, keep: list[int]) -> None:
    """Keep output channels ``keep`` of ``conv`` and its BatchNorm."""
    idx = torch.tensor(keep)
    conv.weight = nn.Parameter(conv.weight.detach()[idx].contiguous())
    if conv.bias is not None:
        conv.bias = nn.Parameter(conv.bias.detach()[idx].contiguous())
    conv.out_channels = len(keep)
    bn.weight = nn.Parameter(bn.weight.detach()[idx].contiguous())
    bn.bias = nn.Parameter(bn.bias.detach()[idx].contiguous())
    bn.running_mean = bn.running_mean[idx].clone()
    bn.running_var = bn.running_var[idx].clone()
    bn.num_features = len(keep)
