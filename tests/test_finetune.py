"""Transfer learning: a new head on a digits-trained backbone, saved as a reloadable .pt2."""

from __future__ import annotations

import json

import pytest
import torch

from deploykit.finetune import find_head, replace_head
from deploykit.manifest import read_manifest
from deploykit.sources import load_model
from deploykit.train import evaluate
from deploykit.zoo import create_model


@pytest.fixture(scope="module")
def backbone_weights(trained_resnet):
    """The cached digits-trained demo_resnet state_dict (the fixture trains it once)."""
    return trained_resnet.source["weights"]


def test_frozen_backbone_finetune_on_digits(cli, backbone_weights, tmp_path):
    out = tmp_path / "ft.pt2"
    result = cli(
        "finetune", "demo_resnet", "--weights", backbone_weights, "--data", "digits",
        "--epochs", "1", "--freeze-backbone", "--lr", "0.01", "-o", out, "--json",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["head"] == "fc" and record["frozen_backbone"] is True
    assert record["val_top1"] >= 0.95
    manifest = read_manifest(out)
    assert manifest.details["finetune"]["val_top1"] == record["val_top1"]
    assert manifest.num_classes == 10
    # The .pt2 reloads without pickle and scores what the manifest says on the test split.
    from deploykit.data import load_dataset

    reloaded = load_model(str(out))
    top1 = evaluate(reloaded.model, load_dataset("digits", "test"), reloaded.spec)
    assert top1 == pytest.approx(record["val_top1"], abs=1e-6)
    # Only the head moved: the backbone equals the weights we started from.
    state = torch.load(backbone_weights, weights_only=True)
    params = dict(reloaded.model.named_parameters())
    assert torch.equal(params["stem.0.weight"], state["stem.0.weight"])
    assert not torch.equal(params["fc.weight"], state["fc.weight"])


def test_image_folder_sets_the_head_width(cli, tmp_path):
    """An ImageFolder of three digit classes gives a three-way head, saved and reloadable."""
    import numpy as np
    from PIL import Image

    from deploykit.data import load_dataset

    digits = load_dataset("digits", "train")
    root = tmp_path / "folder"
    for label, name in enumerate(("zero", "one", "two")):
        (root / name).mkdir(parents=True)
        for i, image in enumerate(digits.images[digits.labels == label][:10]):
            pixels = (image[0] * 255).astype(np.uint8)
            Image.fromarray(pixels).resize((16, 16)).save(root / name / f"{i}.png")
    out = tmp_path / "three.pt2"
    result = cli(
        "finetune", "demo_resnet", "--data", root, "--epochs", "1", "--batch-size", "8",
        "-o", out, "--json",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["num_classes"] == 3
    manifest = read_manifest(out)
    assert manifest.details["finetune"]["classes"] == ["one", "two", "zero"]
    assert load_model(str(out)).num_classes == 3


@pytest.mark.parametrize(
    ("name", "head", "kind"),
    [
        ("resnet18", "fc", torch.nn.Linear),
        ("squeezenet1_0", "classifier.1", torch.nn.Conv2d),
        ("vgg11", "classifier.6", torch.nn.Linear),
        ("vit_b_16", "heads.head", torch.nn.Linear),
        ("mobilenet_v1", "classifier.1", torch.nn.Linear),
        ("shufflenet_v1_g3", "fc", torch.nn.Linear),
        ("inception_v4", "fc", torch.nn.Linear),
    ],
)
def test_head_replaced_per_family(name, head, kind):
    with torch.device("meta"):
        model = create_model(name)
    assert replace_head(model, 3, current=1000) == head
    layer = model.get_submodule(head)
    assert isinstance(layer, kind)
    assert (layer.out_features if kind is torch.nn.Linear else layer.out_channels) == 3


def test_headless_model_is_one_line(cli, user_error, tmp_path, monkeypatch):
    (tmp_path / "headless_net.py").write_text(
        "from torch import nn\n"
        "def build(num_classes=10):\n"
        "    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),\n"
        "                         nn.Linear(8, num_classes))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "x.pt2"
    result = cli("finetune", "headless_net:build", "--input-shape", "1x3x16x16", "-o", out)
    user_error(result, "cannot find the classifier head")
    assert not out.exists()
    with pytest.raises(Exception, match="classifier head"):
        find_head(torch.nn.Sequential(torch.nn.Linear(2, 2)))


def test_bad_destination_and_data_are_one_line(cli, user_error, tmp_path):
    user_error(cli("finetune", "demo_resnet", "-o", tmp_path / "x.onnx"), "name a .pt2")
    user_error(
        cli("finetune", "demo_resnet", "--data", tmp_path / "nowhere", "-o", tmp_path / "x.pt2"),
        "unknown dataset",
    )
    assert not list(tmp_path.iterdir())
