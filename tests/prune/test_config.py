"""PruneConfig: one target, values in range, known criteria."""

from __future__ import annotations

import pytest

from deploykit.errors import InputError
from deploykit.prune import PruneConfig


def test_a_valid_config_names_its_target():
    assert PruneConfig(ratio=0.5).validate().target == ("ratio", 0.5)
    assert PruneConfig(target_macs=0.3).target == ("macs", 0.3)
    assert PruneConfig(target_latency_ms=4.0).target == ("latency_ms", 4.0)


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        (PruneConfig(ratio=0.0), "between 0 and 1"),
        (PruneConfig(ratio=1.0), "between 0 and 1"),
        (PruneConfig(ratio=-0.2), "between 0 and 1"),
        (PruneConfig(target_macs=1.5), "between 0 and 1"),
        (PruneConfig(target_latency_ms=0), "positive"),
        (PruneConfig(), "exactly one"),
        (PruneConfig(ratio=0.5, target_macs=0.3), "exactly one"),
        (PruneConfig(ratio=0.5, importance="magic"), "unknown importance"),
        (PruneConfig(ratio=0.5, round_to=0), "--round-to"),
        (PruneConfig(ratio=0.5, steps=0), "--steps"),
        (PruneConfig(ratio=0.5, backend="nope"), "unknown backend"),
    ],
)
def test_bad_settings_raise_one_input_error(config, fragment):
    with pytest.raises(InputError, match=fragment):
        config.validate()


def test_accuracy_data_defaults_to_the_finetune_set():
    assert PruneConfig(ratio=0.5, finetune="digits").accuracy_data == "digits"
    assert PruneConfig(ratio=0.5, finetune="a", eval_data="b").accuracy_data == "b"
    assert PruneConfig(ratio=0.5).to_dict()["ignore"] == []
