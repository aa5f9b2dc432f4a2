"""PruneConfig: one target, values in range, known criteria."""

from __future__ import annotations

import pytest

from deploykit.errors import InputError
from deploykit.prune import PruneConfig


def test_a_valid_config_names_its_target():
    assert PruneConfig(ratio=0.5).target == ("ratio", 0.5)
    assert PruneConfig(target_macs=0.3).target == ("macs", 0.3)
    assert PruneConfig(target_latency_ms=4.0).target == ("latency_ms", 4.0)


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"ratio": 0.0}, r"--ratio: 0 is out of range \(use a value in \(0, 1\)\)"),
        ({"ratio": 1.0}, r"--ratio: 1 is out of range"),
        ({"ratio": -0.2}, r"--ratio: -0.2 is out of range"),
        ({"ratio": float("nan")}, r"--ratio: nan is not a finite number"),
        ({"target_macs": 1.5}, r"--target-macs: 1.5 is out of range"),
        (
            {"target_latency_ms": 0},
            r"--target-latency-ms: 0 is out of range \(use a value > 0 ms\)",
        ),
        ({}, "exactly one"),
        ({"ratio": 0.5, "target_macs": 0.3}, "exactly one"),
        ({"ratio": 0.5, "importance": "magic"}, "--importance: unknown value 'magic'"),
        ({"ratio": 0.5, "round_to": 0}, "--round-to"),
        ({"ratio": 0.5, "steps": 0}, "--steps"),
        ({"ratio": 0.5, "lr": -1}, "--lr"),
        ({"ratio": 0.5, "backend": "nope"}, "--backend: unknown value 'nope'"),
    ],
)
def test_bad_settings_raise_one_input_error(settings, fragment):
    with pytest.raises(InputError, match=fragment):
        PruneConfig(**settings)


def test_accuracy_data_defaults_to_the_finetune_set():
    assert PruneConfig(ratio=0.5, finetune="digits").accuracy_data == "digits"
    assert PruneConfig(ratio=0.5, finetune="a", eval_data="b").accuracy_data == "b"
    assert PruneConfig(ratio=0.5).to_dict()["ignore"] == []
