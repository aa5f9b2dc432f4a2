import sys
import textwrap

import numpy as np
import pytest
import torch

from deploykit.errors import InputError, ModelLoadError, ShapeError
from deploykit.sources import SourceOptions, load_model
from deploykit.sources.pt2 import save_program


def test_registry_name_with_classes_and_shape():
    loaded = load_model("resnet18", SourceOptions(num_classes=10, input_shape=(1, 3, 32, 32)))
    assert loaded.kind == "torch" and loaded.num_classes == 10
    assert loaded.spec.shape == (1, 3, 32, 32) and not loaded.model.training
    assert loaded.spec.preprocess.resize is None  # a custom size resizes straight, no 256->224 crop


def test_registry_default_spec_is_the_imagenet_recipe():
    spec = load_model("mobilenet_v3_small").spec
    assert spec.shape == (1, 3, 224, 224) and (spec.preprocess.resize, spec.preprocess.crop) == (
        256,
        224,
    )


def test_unknown_name_suggests_close_ones():
    with pytest.raises(ModelLoadError, match="did you mean resnet18"):
        load_model("resnet81")


def test_weights_are_loaded_without_pickle(tmp_path):
    source = load_model("demo_resnet")
    torch.save(source.model.state_dict(), tmp_path / "w.pt")
    loaded = load_model("demo_resnet", SourceOptions(weights=tmp_path / "w.pt"))
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(loaded.model(x), source.model(x))
    assert len(loaded.source["sha256"]) == 64


def test_weights_that_do_not_fit_are_refused(tmp_path):
    torch.save(
        load_model("demo_resnet", SourceOptions(num_classes=5)).model.state_dict(),
        tmp_path / "w.pt",
    )
    with pytest.raises(ModelLoadError, match="do not fit") as caught:
        load_model("demo_resnet", SourceOptions(weights=tmp_path / "w.pt"))
    # The message names the tensor and both shapes, and guesses the flag.
    assert "fc.weight is 5x64 in the file, 10x64 in the model (--num-classes 5?)" in str(
        caught.value
    )


def test_whole_model_pickle_needs_trust(tmp_path):
    torch.save(load_model("demo_resnet").model, tmp_path / "model.pt")
    with pytest.raises(ModelLoadError, match="--trust-pickle"):
        load_model(str(tmp_path / "model.pt"))
    trusted = load_model(
        str(tmp_path / "model.pt"), SourceOptions(trust_pickle=True, input_shape=(1, 3, 32, 32))
    )
    assert trusted.source["trusted"] is True and trusted.num_classes == 10


def test_factory_from_user_code(tmp_path, monkeypatch):
    (tmp_path / "my_nets.py").write_text(
        textwrap.dedent("""
        import torch
        def build_net(num_classes=4):
            return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.AdaptiveAvgPool2d(1),
                                       torch.nn.Flatten(), torch.nn.Linear(8, num_classes))
        not_a_model = 3
    """)
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    loaded = load_model(
        "my_nets:build_net", SourceOptions(input_shape=(1, 3, 64, 64), num_classes=7)
    )
    assert loaded.num_classes == 7 and loaded.name == "build_net" and loaded.spec.hw == (64, 64)
    with pytest.raises(ModelLoadError, match="no attribute"):
        load_model("my_nets:nope")
    with pytest.raises(ModelLoadError, match="not callable"):
        load_model("my_nets:not_a_model")
    with pytest.raises(ModelLoadError, match="cannot import"):
        load_model("no_such_pkg.mod:fn")
    sys.modules.pop("my_nets", None)


def test_shape_the_model_rejects():
    with pytest.raises(ShapeError, match="rejects input shape 1x3x4x4"):
        load_model("alexnet", SourceOptions(num_classes=10, input_shape=(1, 3, 4, 4)))


def test_pt2_round_trip_with_manifest(tmp_path):
    source = load_model("demo_mobilenet_v2")
    path = save_program(
        source.model, source.spec, tmp_path / "m.pt2", source=source.source, num_classes=10
    )
    assert (tmp_path / "m.pt2.json").is_file()  # not m.json: m.onnx may sit beside it
    loaded = load_model(str(path))
    assert loaded.spec == source.spec and loaded.num_classes == 10
    x = torch.randn(3, 3, 32, 32)  # another batch size than the example: the axis is dynamic
    assert np.allclose(
        loaded.model(x).detach().numpy(), source.model(x).detach().numpy(), atol=1e-5
    )


def test_corrupt_pt2_and_onnx_files(tmp_path):
    (tmp_path / "bad.pt2").write_bytes(b"not a zip")
    with pytest.raises(ModelLoadError, match="cannot load"):
        load_model(str(tmp_path / "bad.pt2"))
    (tmp_path / "bad.onnx").write_bytes(b"\x08\x01garbage")
    with pytest.raises(ModelLoadError, match="not a valid ONNX model"):
        load_model(str(tmp_path / "bad.onnx"))
    with pytest.raises(InputError, match="does not exist"):
        load_model(str(tmp_path / "missing.onnx"))
