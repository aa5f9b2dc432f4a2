"""Structured pruning on Torch-Pruning's dependency graph, to a channel, MACs or latency target.

``prune(model, PruneConfig(...))`` removes whole channels (coupled layers kept
consistent), optionally fine-tunes, and reports before/after; ``save`` writes the
result as a ``torch.export`` ``.pt2`` with a manifest. Torch is imported only
when a function runs.
"""

from deploykit.prune.api import PruneResult, prune, save
from deploykit.prune.config import PruneConfig
from deploykit.registry import SEED_ARCHITECTURES

__all__ = ["SEED_ARCHITECTURES", "PruneConfig", "PruneResult", "prune", "save"]
