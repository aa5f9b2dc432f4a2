"""The before/after report: params, MACs, size, latency and accuracy, with ratios."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ModelFacts:
    """What one model costs and scores.

    Attributes:
        params: parameter count.
        macs: multiply-accumulates per image.
        size_bytes: bytes of parameters and buffers (FP32 state).
        latency_ms: median batch-1 latency on the report's backend (None: not measured).
        top1: top-1 accuracy on the evaluation set (None: not evaluated).
    """

    params: int
    macs: int
    size_bytes: int
    latency_ms: float | None = None
    top1: float | None = None


def state_bytes(model: Any) -> int:
    """Bytes held by a module's parameters and buffers."""
    tensors = [*model.parameters(), *model.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


def _ratio(after: float | None, before: float | None) -> float | None:
    return after / before if after is not None and before else None


@dataclass
class PruneReport:
    """Before and after pruning (and fine-tuning).

    Attributes:
        before: the unpruned model.
        after: the pruned (and fine-tuned) model.
        top1_pruned: accuracy right after pruning, before fine-tuning.
        channel_ratio: fraction of Conv2d/Linear output channels removed.
        backend: where latency was measured.
        eval_data: where accuracy was measured.
        steps: per-step record of the search (channel ratio, MACs, target value).
    """

    before: ModelFacts
    after: ModelFacts
    top1_pruned: float | None = None
    channel_ratio: float = 0.0
    backend: str | None = None
    eval_data: str | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)

    def ratios(self) -> dict[str, float | None]:
        """after / before for each cost; accuracy change in points."""
        b, a = self.before, self.after
        out = {
            "params": _ratio(a.params, b.params),
            "macs": _ratio(a.macs, b.macs),
            "size": _ratio(a.size_bytes, b.size_bytes),
            "latency": _ratio(a.latency_ms, b.latency_ms),
            "speedup": _ratio(b.latency_ms, a.latency_ms),
        }
        if a.top1 is not None and b.top1 is not None:
            out["top1_change_points"] = 100 * (a.top1 - b.top1)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "before": asdict(self.before),
            "after": asdict(self.after),
            "ratios": self.ratios(),
            "top1_pruned": self.top1_pruned,
            "channel_ratio": self.channel_ratio,
            "backend": self.backend,
            "eval_data": self.eval_data,
            "steps": self.steps,
        }

    def rows(self) -> list[tuple[str, str, str, str]]:
        """``(metric, before, after, after/before)`` rows for a table."""
        b, a, r = self.before, self.after, self.ratios()

        def num(v: float | None, fmt: str) -> str:
            return "-" if v is None else format(v, fmt)

        rows = [
            (
                "params",
                f"{b.params / 1e6:.3f} M",
                f"{a.params / 1e6:.3f} M",
                num(r["params"], ".3f"),
            ),
            ("MACs", f"{b.macs / 1e6:.1f} M", f"{a.macs / 1e6:.1f} M", num(r["macs"], ".3f")),
            (
                "size",
                f"{b.size_bytes / 2**20:.2f} MiB",
                f"{a.size_bytes / 2**20:.2f} MiB",
                num(r["size"], ".3f"),
            ),
        ]
        if b.latency_ms is not None:
            rows.append(
                (
                    f"latency ({self.backend}, ms)",
                    num(b.latency_ms, ".3f"),
                    num(a.latency_ms, ".3f"),
                    f"{num(r['latency'], '.3f')} ({num(r['speedup'], '.2f')}x faster)",
                )
            )
        if b.top1 is not None:
            pruned = "" if self.top1_pruned is None else f" (pruned: {self.top1_pruned:.1%})"
            change = r.get("top1_change_points")
            rows.append(
                (
                    f"top-1 ({self.eval_data})",
                    num(b.top1, ".1%"),
                    num(a.top1, ".1%") + pruned,
                    "-" if change is None else f"{change:+.1f} pts",
                )
            )
        return rows

    def table(self, title: str = "") -> Any:
        """A rich table of :meth:`rows`."""
        from rich.table import Table

        table = Table(title=title or None)
        for column in ("", "before", "after", "after/before"):
            table.add_column(column, justify="left" if not column else "right")
        for row in self.rows():
            table.add_row(*row)
        return table
