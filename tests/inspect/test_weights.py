"""Per-layer weight statistics: the numbers are numpy's on the same tensors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from deploykit.inspect.weights import tensor_stats, weight_report
from deploykit.zoo import create_model
from deploykit.zoo.stats import count_macs


@pytest.fixture
def sparse_weights(tmp_path):
    """demo_resnet with half of its classifier's weights zeroed, saved as a state_dict."""
    torch.manual_seed(0)
    model = create_model("demo_resnet")
    with torch.no_grad():
        model.fc.weight[:5] = 0.0
    path = tmp_path / "w.pt"
    torch.save(model.state_dict(), path)
    return model, path


def test_layer_statistics_equal_numpy(sparse_weights):
    model, _ = sparse_weights
    report = weight_report(model, (1, 3, 32, 32), eps=1e-3)
    rows = {row.name: row for row in report.layers}
    modules = dict(model.named_modules())
    for name, row in rows.items():
        w = modules[name].weight.detach().numpy().astype(np.float64)
        assert row.shape == w.shape
        assert row.mean == pytest.approx(np.mean(w), abs=1e-12)
        assert row.std == pytest.approx(np.std(w), abs=1e-12)
        assert row.min == np.min(w) and row.max == np.max(w)
        assert row.near_zero == pytest.approx(np.mean(np.abs(w) < 1e-3))
        assert row.params == sum(p.numel() for p in modules[name].parameters(recurse=False))
    assert rows["fc"].near_zero >= 0.5
    assert report.params == sum(p.numel() for p in model.parameters())


def test_macs_per_layer_add_up_and_follow_the_conv_formula(sparse_weights):
    model, _ = sparse_weights
    report = weight_report(model, (1, 3, 32, 32))
    assert report.macs == count_macs(model, (1, 3, 32, 32))
    stem = next(row for row in report.layers if row.name == "stem.0")
    assert stem.macs == 16 * 32 * 32 * 3 * 3 * 3  # out channels x H x W x k x k x in channels
    assert next(row for row in report.layers if row.name == "fc").macs == 64 * 10


def test_tensor_stats_eps():
    values = np.array([0.0, 1e-4, -2e-3, 0.5], dtype=np.float32)
    stats = tensor_stats(values, eps=1e-3)
    assert stats["near_zero"] == 0.5
    assert tensor_stats(values, eps=1e-5)["near_zero"] == 0.25


def test_cli_table_as_json_reads_the_weights_file(cli, sparse_weights):
    _model, path = sparse_weights
    result = cli("inspect", "demo_resnet", "--weights", path, "--eps", "1e-6", "--json")
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    state = torch.load(path, weights_only=True)
    fc = next(row for row in data["layers"] if row["name"] == "fc")
    w = state["fc.weight"].numpy().astype(np.float64)
    assert fc["mean"] == pytest.approx(w.mean()) and fc["std"] == pytest.approx(w.std())
    assert fc["near_zero"] == pytest.approx(np.mean(np.abs(w) < 1e-6))
    assert data["input_shape"] == [1, 3, 32, 32]
    assert data["params"] == sum(
        v.numel() for k, v in state.items() if "running" not in k and "num_batches" not in k
    )


def test_cli_table_prints(cli):
    result = cli("inspect", "mobilenet_v1_small")
    assert result.code == 0, result.stderr
    assert "features.0.0" in result.stdout and "near 0" in result.stdout


def test_weights_that_do_not_fit_are_one_line(cli, user_error, tmp_path):
    torch.save(create_model("demo_mobilenet_v2").state_dict(), tmp_path / "other.pt")
    user_error(cli("inspect", "demo_resnet", "--weights", tmp_path / "other.pt"), "do not fit")
