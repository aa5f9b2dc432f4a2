"""Fine-tuning recovers accuracy after pruning, reproducibly."""

from __future__ import annotations

import torch

from deploykit.prune import PruneConfig, prune


def test_finetuning_recovers_accuracy_with_a_fixed_seed(trained_resnet, tiny_digits):
    config = PruneConfig(ratio=0.5, finetune=tiny_digits, epochs=3, measure_latency=False)
    first = prune(trained_resnet, config)
    report = first.report
    assert report.before.top1 > 0.9
    assert report.after.top1 > report.top1_pruned + 0.1
    second = prune(trained_resnet, config)
    x = torch.rand(4, 1, 32, 32).expand(4, 3, 32, 32).contiguous()
    assert second.report.after.top1 == report.after.top1
    assert torch.allclose(first.model(x), second.model(x), atol=1e-5)
