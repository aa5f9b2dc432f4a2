"""Every registered zoo model builds, runs, exports to ONNX and matches its published size.

Parametrised over the registry: a new factory decorated with ``register_model``
in a module listed in ``FAMILY_MODULES`` is tested without being named here.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from deploykit.export import ExportRequest, export_model
from deploykit.inspect.graph import summarize_graph
from deploykit.sources import SourceOptions
from deploykit.zoo import FAMILY_MODULES, create_model, get_entry, list_models
from deploykit.zoo.stats import count_macs

# The demo nets (deploykit.zoo.demo) are the foundation's, tested with the exporters.
ZOO = [
    e.name
    for e in list_models()
    if e.origin == "deploykit" and e.factory.__module__ != "deploykit.zoo.demo"
]
# The smallest square input the "valid" stems of the 299x299 families accept.
MIN_INPUT = {"xception": 71, "inception_v4": 75}

# Published parameter counts at 1000 classes (the standard configurations).
PUBLISHED = {
    # Howard et al. 2017, Table 6 / TF-slim mobilenet_v1.md (4.24, 2.59, 1.34, 0.47 M)
    "mobilenet_v1": 4.24e6,
    "mobilenet_v1_075": 2.59e6,
    "mobilenet_v1_050": 1.34e6,
    "mobilenet_v1_025": 0.47e6,
    # ShuffleNet V1 1x: g=3 1.87 M (mmpretrain), g=8 2.4 M (megvii ShuffleNet-Series)
    "shufflenet_v1_g3": 1.87e6,
    "shufflenet_v1_g8": 2.4e6,
    # Chollet 2017, Table 3: 22.8 M; keras.applications.Xception: 22.9 M
    "xception": 22.855e6,
    # Hu et al. 2018, Table 2 (SE-ResNet-50/101, SE-ResNeXt-50 32x4d)
    "se_resnet50": 28.1e6,
    "se_resnet101": 49.3e6,
    "se_resnext50_32x4d": 27.5e6,
    # Szegedy et al. 2016 as released (TF-slim; timm: 42.68 M, 55.84 M)
    "inception_v4": 42.7e6,
    "inception_resnet_v2": 55.8e6,
}
# Howard et al. 2017, Table 6: million multiply-adds at 224x224.
PUBLISHED_MACS = {
    "mobilenet_v1": 569e6,
    "mobilenet_v1_075": 325e6,
    "mobilenet_v1_050": 149e6,
    "mobilenet_v1_025": 41e6,
}


def small_size(name: str) -> int:
    entry = get_entry(name)
    return min(entry.input_size, MIN_INPUT.get(entry.family, 32))


def is_small(name: str) -> bool:
    """Digits-sized models; the standard ones export under ``-m slow``."""
    return get_entry(name).input_size <= 32


def export_case(name: str):
    """Digits variants export by default, except the Inception ones (a minute each on two
    loaded cores; their blocks' ops are the ones the other families export): ``-m slow``."""
    fast = is_small(name) and get_entry(name).family != "inception_v4"
    return name if fast else pytest.param(name, marks=pytest.mark.slow)


def test_every_family_has_a_digits_variant():
    for module_name in FAMILY_MODULES:
        module = importlib.import_module(module_name)
        entries = [e for e in list_models() if e.factory.__module__ == module.__name__]
        assert entries, module_name
        assert any(e.input_size == 32 and e.num_classes == 10 for e in entries), module_name


def test_published_models_are_registered():
    assert set(PUBLISHED) <= set(ZOO)
    for group in range(1, 9):
        if group in (1, 2, 3, 4, 8):
            assert f"shufflenet_v1_g{group}" in ZOO


@pytest.mark.parametrize("name", ZOO)
def test_builds_and_runs_at_small_input(name):
    size = small_size(name)
    if is_small(name):
        model = create_model(name, num_classes=7)
        with torch.no_grad():
            logits = model(torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0)))
        assert torch.isfinite(logits).all()
    else:  # the standard nets' arithmetic runs under -m slow and in the ONNX export tests
        with torch.device("meta"):
            model = create_model(name, num_classes=7)
            logits = model.eval()(torch.zeros(2, 3, size, size))
    assert logits.shape == (2, 7)


@pytest.mark.parametrize("name", ZOO)
def test_default_input_shape_flows_through(name):
    """The whole net at its registered input size, on the meta device (shapes, no arithmetic)."""
    entry = get_entry(name)
    with torch.device("meta"):
        model = create_model(name)
        logits = model.eval()(torch.zeros(entry.input_spec().nchw))
    assert logits.shape == (1, entry.num_classes)


@pytest.mark.parametrize("name", [export_case(n) for n in ZOO])
def test_exports_to_onnx_and_verifies(name, tmp_path):
    size = small_size(name)
    request = ExportRequest(out_dir=tmp_path, verify_samples=8, simplify=False)
    result = export_model(
        name, request, SourceOptions(num_classes=10, input_shape=(1, 3, size, size))
    )
    assert result.artifact.is_file()
    verification = result.manifest.verification
    assert verification["passed"] is True
    assert verification["top1_agreement"] == 1.0
    assert verification["n"] == 8
    assert result.manifest.num_classes == 10
    summary = summarize_graph(result.artifact)  # inspect's view of a real exported graph
    assert summary.inputs[0]["shape"][1:] == [3, size, size]
    assert summary.outputs[0]["shape"][1:] == [10]
    assert summary.ops["Conv"] >= 5 and summary.quantized == {}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameter_count_matches_published(name):
    with torch.device("meta"):  # shapes only: counting needs no memory or forward pass
        model = create_model(name)
    params = sum(p.numel() for p in model.parameters())
    assert abs(params / PUBLISHED[name] - 1) < 0.02, (name, params, PUBLISHED[name])


@pytest.mark.parametrize("name", sorted(PUBLISHED_MACS))
def test_mobilenet_v1_macs_match_the_paper(name):
    with torch.device("meta"):
        model = create_model(name)
        macs = count_macs(model, (1, 3, 224, 224))
    assert abs(macs / PUBLISHED_MACS[name] - 1) < 0.02, (name, macs)


def test_channel_shuffle_interleaves_groups():
    from deploykit.zoo.shufflenet_v1 import channel_shuffle

    x = torch.arange(6.0).reshape(1, 6, 1, 1)
    assert channel_shuffle(x, 3).flatten().tolist() == [0, 2, 4, 1, 3, 5]


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in ZOO if not is_small(n)])
def test_full_size_forward(name):
    entry = get_entry(name)
    model = create_model(name)
    with torch.no_grad():
        logits = model(torch.from_numpy(np.zeros(entry.input_spec().nchw, np.float32)))
    assert logits.shape == (1, 1000)
