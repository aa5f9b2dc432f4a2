"""Targets: MACs fractions are met or refused; latency targets are met or reported unmet."""

from __future__ import annotations

import pytest

from deploykit.errors import InputError
from deploykit.prune import PruneConfig, prune
from deploykit.prune.targets import measure_latency


def test_a_macs_target_is_met(trained_resnet):
    result = prune(trained_resnet, PruneConfig(target_macs=0.3, measure_latency=False))
    macs = result.report.ratios()["macs"]
    assert result.target["met"] and macs <= 0.3
    assert macs > 0.15  # the search stops at the first step under the target
    assert result.report.steps[-1]["macs"] == pytest.approx(macs)


def test_a_macs_target_below_what_the_architecture_allows_is_refused(trained_resnet):
    with pytest.raises(InputError, match="below what this architecture allows"):
        prune(trained_resnet, PruneConfig(target_macs=0.001, steps=4, measure_latency=False))


def test_latency_targets_are_met_or_reported_unmet(trained_resnet):
    base = measure_latency(trained_resnet.model, trained_resnet.spec)
    assert 0 < base < 1000
    easy = prune(trained_resnet, PruneConfig(target_latency_ms=base * 100))
    assert easy.target["met"] and easy.report.steps == []
    hard = prune(trained_resnet, PruneConfig(target_latency_ms=1e-6, max_ratio=0.5, steps=3))
    assert not hard.target["met"] and hard.target["value"] > 1e-6
    assert len(hard.report.steps) == 3  # the whole schedule was tried
    assert hard.report.steps[-1]["channel_ratio"] == 0.5


def test_latency_on_torch_runs_the_module(trained_resnet):
    assert measure_latency(trained_resnet.model, trained_resnet.spec, backend="torch") > 0
