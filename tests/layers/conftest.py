"""Models with a known culprit and a known slow layer, exported once per session.

The culprit is function-preserving: one output channel of ``stages.1``'s first
conv (through its BatchNorm) is scaled 1000x and the next conv's matching input
channel divided by 1000, so FP32 outputs are unchanged while a per-tensor INT8
scale for that activation crushes its other channels.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import pytest

CULPRIT_NODE = "node_Conv_144"  # stages.1.conv1 (+ bn1) in the exported graph


def culprit_model(trained):
    """A copy of the trained demo_resnet LoadedModel with the 1000x rescale applied."""
    import torch

    model = copy.deepcopy(trained.model)
    block = model.stages[1]
    with torch.no_grad():
        block.bn1.weight[0] *= 1000
        block.bn1.bias[0] *= 1000
        block.conv2.weight[:, 0] /= 1000
    return replace(trained, model=model, name="culprit")


def slow_model():
    """A 32x32 classifier whose third conv (15x15 kernel, 64 channels) dominates its time."""
    from torch import nn

    from deploykit.sources import LoadedModel
    from deploykit.zoo import get_entry

    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 64, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(64, 64, 15, padding=7),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, 10),
    ).eval()
    spec = get_entry("demo_resnet").input_spec()
    return LoadedModel("torch", "slow", spec, {"ref": "slow", "kind": "test"}, model=model)


@pytest.fixture(scope="session")
def layers_work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("layers")


@pytest.fixture(scope="session")
def calib_set(layers_work):
    from deploykit.calibration import make_calibration_set

    return make_calibration_set("digits", 64, 0, layers_work / "calib.npz")


def _export(loaded, out: Path, **request):
    from deploykit.export import ExportRequest, export_model

    return export_model(loaded, ExportRequest(out_dir=out, verify=False, **request)).artifact


@pytest.fixture(scope="session")
def culprit(trained_resnet, layers_work, calib_set) -> dict[str, Path]:
    """The culprit model as FP32 and INT8 (Q/DQ) ONNX."""
    loaded = culprit_model(trained_resnet)
    out = layers_work / "culprit"
    fp32 = _export(loaded, out)
    return {
        "fp32": fp32,
        "int8": _export(fp32_source(fp32), out, precision="int8", calib=calib_set),
    }


def fp32_source(path: Path):
    from deploykit.sources import load_model

    return load_model(str(path))


@pytest.fixture(scope="session")
def slow(layers_work) -> Path:
    """The slow-layer model as FP32 ONNX."""
    return _export(slow_model(), layers_work / "slow")
