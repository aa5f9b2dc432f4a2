"""Structured pruning on Torch-Pruning's dependency graph, to a channel, MACs or latency target.

``prune(model, PruneConfig(...))`` removes whole channels (coupled layers kept
consistent), optionally fine-tunes, and reports before/after; ``save`` writes the
result as a ``torch.export`` ``.pt2`` with a manifest. Torch is imported only
when a function runs.
"""

from deploykit.prune.api import PruneResult, prune, save
from deploykit.prune.config import PruneConfig

# torchvision architectures every pruning test and benchmark is parametrised over.
SEED_ARCHITECTURES: tuple[str, ...] = (
    "alexnet",
    "vgg16",
    "googlenet",
    "inception_v3",
    "resnet18",
    "resnet50",
    "resnext50_32x4d",
    "densenet121",
    "squeezenet1_1",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "shufflenet_v2_x1_0",
)

__all__ = ["SEED_ARCHITECTURES", "PruneConfig", "PruneResult", "prune", "save"]
