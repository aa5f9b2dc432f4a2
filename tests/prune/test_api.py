"""prune + save end to end: every seed architecture, the zoo, saving and reloading."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from deploykit.errors import InputError
from deploykit.manifest import manifest_path
from deploykit.prune import SEED_ARCHITECTURES, PruneConfig, prune, save
from deploykit.prune.api import output_path, planned_path
from deploykit.prune.finetune import recalibrate
from deploykit.sources import LoadedModel, SourceOptions
from deploykit.zoo import list_models

from .conftest import tiny_size

# Shuffle-coupled layers whose pruning keeps every trunk channel: MACs fall less.
MACS_BOUNDS = {"shufflenet_v2_x1_0": 0.55, "resnext50_32x4d": 0.4}
# ShuffleNet V1 keeps its trunk (4x wider than the bottlenecks): fewer channels can go.
CHANNEL_BOUNDS = {"shufflenet_v1_small": 0.15}


def _prune_and_check(name: str, size: int, macs_bound: float):
    options = SourceOptions(num_classes=10, input_shape=(1, 3, size, size))
    result = prune(name, PruneConfig(ratio=0.5, measure_latency=False), options)
    ratios = result.report.ratios()
    assert 0.1 < ratios["macs"] <= macs_bound, ratios
    assert 0.1 < ratios["params"] <= max(macs_bound, 0.35), ratios
    assert result.report.channel_ratio > CHANNEL_BOUNDS.get(name, 0.2)
    out = result.model(torch.rand(2, 3, size, size))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    return result


@pytest.mark.parametrize("name", SEED_ARCHITECTURES)
def test_seed_architecture_prunes_at_half(name):
    _prune_and_check(name, tiny_size(name), MACS_BOUNDS.get(name, 0.3))


SMALL_ZOO = [e.name for e in list_models() if e.origin == "deploykit" and e.input_size <= 32]


@pytest.mark.parametrize("name", SMALL_ZOO)
def test_small_zoo_models_prune_at_half(name):
    _prune_and_check(name, 32, 0.7)


@pytest.mark.slow
@pytest.mark.parametrize("name", SEED_ARCHITECTURES)
def test_seed_architecture_prunes_and_exports_at_full_size(name, tiny_digits, tmp_path):
    from deploykit.export import ExportRequest, export_model
    from deploykit.zoo import get_entry

    size = get_entry(name).input_size
    result = _prune_and_check(name, size, MACS_BOUNDS.get(name, 0.3))
    recalibrate(result.model, result.spec, tiny_digits)  # random weights: give BN real statistics
    loaded = LoadedModel("torch", name, result.spec, {}, model=result.model, num_classes=10)
    exported = export_model(loaded, ExportRequest(out_dir=tmp_path, verify_samples=8))
    assert exported.manifest.verification["top1_agreement"] == 1.0


@pytest.fixture(scope="module")
def saved_resnet(trained_resnet, tmp_path_factory):
    """demo_resnet pruned by half and saved in a folder (auto-named)."""
    folder = tmp_path_factory.mktemp("pruned")
    result = prune(trained_resnet, PruneConfig(ratio=0.5, eval_data="digits"))
    return result, save(result, folder)


def test_a_folder_output_is_auto_named_with_its_manifest(saved_resnet):
    result, path = saved_resnet
    assert path.name == "demo_resnet-p50.pt2"
    manifest = json.loads(manifest_path(path).read_text())
    pruning = manifest["details"]["pruning"]
    assert pruning["criterion"] == "l1" and pruning["target"]["met"]
    report = pruning["report"]
    assert report["ratios"]["macs"] == pytest.approx(result.report.ratios()["macs"])
    assert report["before"]["top1"] > 0.9 and report["after"]["latency_ms"] > 0
    assert manifest["num_classes"] == 10 and manifest["source"]["kind"] == "pruned"


def test_the_pt2_reloads_in_a_fresh_process_with_identical_outputs(saved_resnet, tmp_path):
    result, path = saved_resnet
    x = np.random.default_rng(0).random((3, 3, 32, 32), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    script = (
        "import sys, numpy as np, torch\n"
        "from deploykit.sources import load_model\n"
        "loaded = load_model(sys.argv[1])\n"
        "x = torch.from_numpy(np.load(sys.argv[2]))\n"
        "np.save(sys.argv[3], loaded.model(x).detach().numpy())\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(path), str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
        check=True,
        timeout=300,
    )
    with torch.no_grad():
        expected = result.model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-5, atol=1e-6)


def test_output_paths():
    assert output_path(Path("out/a.pt2"), "m", 50) == Path("out/a.pt2")
    assert output_path(Path("out"), "resnet18", 5) == Path("out/resnet18-p05.pt2")
    with pytest.raises(InputError, match=r"\.pt2"):
        output_path(Path("out/a.onnx"), "m", 50)


def test_a_model_that_is_not_torch_is_refused(tmp_path):
    onnx_file = tmp_path / "m.onnx"
    onnx_file.write_bytes(b"")
    loaded = LoadedModel("onnx", "m", None, {}, path=onnx_file)
    with pytest.raises(InputError, match="needs a torch module"):
        prune(loaded, PruneConfig(ratio=0.5))


def test_the_destination_is_known_before_pruning_when_the_name_is(tmp_path):
    """The CLI refuses an overwrite before the work wherever the file name is fixed up front."""
    ratio = PruneConfig(ratio=0.5)
    assert planned_path(tmp_path, "net", ratio) == tmp_path / "net-p50.pt2"
    assert (
        planned_path(tmp_path / "x.pt2", "net", PruneConfig(target_macs=0.3)) == tmp_path / "x.pt2"
    )
    assert planned_path(tmp_path, "net", PruneConfig(target_macs=0.3)) is None
