"""Transfer learning: a new head on a digits-trained backbone, saved as a reloadable .pt2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from deploykit.finetune import find_head, replace_head
from deploykit.manifest import manifest_path, read_manifest
from deploykit.sources import SourceOptions, load_model
from deploykit.train import evaluate
from deploykit.zoo import SEED_ARCHITECTURES, create_model


@pytest.fixture(scope="module")
def backbone_weights(trained_resnet):
    """The cached digits-trained demo_resnet state_dict (the fixture trains it once)."""
    return trained_resnet.source["weights"]


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory) -> str:
    """128 real digits images with labels in a .npz: a set that trains in a moment."""
    from deploykit.data import load_dataset

    data = load_dataset("digits", split="train", limit=128)
    path = tmp_path_factory.mktemp("data") / "digits128.npz"
    np.savez(path, x=data.images, y=data.labels)
    return str(path)


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
    user_error(
        cli("finetune", "demo_resnet", "--epochs", "0", "-o", tmp_path / "x.pt2"),
        "--epochs 0 would save a fresh, untrained head",
    )
    assert not list(tmp_path.iterdir())


def test_a_different_finetune_never_replaces_a_file_silently(cli, user_error, tiny_npz, tmp_path):
    """Export's policy: another fine-tune's file is refused in one line (before training)
    unless --force; a folder -o names the file by model and data."""
    common = ("demo_resnet", "--data", tiny_npz, "--epochs", "1", "--json", "-o", tmp_path)
    first = cli("finetune", *common)
    assert first.code == 0, first.stderr
    target = tmp_path / f"demo_resnet-ft-{Path(tiny_npz).stem}.pt2"
    assert json.loads(first.stdout)["path"] == str(target)
    before = target.read_bytes()
    manifest = manifest_path(target).read_bytes()
    user_error(
        cli("finetune", *common, "--lr", "0.01"), "written by a different fine-tune", "--force"
    )
    assert target.read_bytes() == before and manifest_path(target).read_bytes() == manifest
    forced = cli("finetune", *common, "--lr", "0.01", "--force")
    assert forced.code == 0, forced.stderr
    assert manifest_path(target).read_bytes() != manifest
    assert read_manifest(target).details["finetune"]["lr"] == 0.01
    assert {p.name for p in tmp_path.iterdir()} == {target.name, f"{target.name}.json"}


def test_near_chance_is_a_warning():
    from deploykit.finetune import near_chance

    assert "near chance (10.0% for 10 classes)" in near_chance(0.0975, 10)
    assert near_chance(0.5, 10) is None
    assert near_chance(0.54, 2) is not None and near_chance(0.8, 2) is None


def test_default_learning_rate_follows_the_normalization_layers():
    """--lr left out: 3e-3, or 3e-4 for a network without normalization layers (AdamW at
    3e-3 leaves a randomly initialised SqueezeNet at chance); a given --lr is kept."""
    from deploykit.train import TrainConfig, learning_rate

    assert learning_rate(create_model("squeezenet1_1", num_classes=10), TrainConfig()) == 3e-4
    assert learning_rate(create_model("alexnet", num_classes=10), TrainConfig()) == 3e-4
    assert learning_rate(create_model("resnet18", num_classes=10), TrainConfig()) == 3e-3
    assert learning_rate(create_model("alexnet"), TrainConfig(lr=0.01)) == 0.01


def test_batchnorm_is_re_estimated_after_finetuning(tmp_path):
    """MobileNetV3's BatchNorm momentum is 0.01: after a short fine-tune its running statistics
    still lag far behind the weights. finetune re-estimates them, so doing it again changes
    nothing (it would move them a long way had finetune not done it)."""
    from deploykit.data import load_dataset
    from deploykit.finetune import FinetuneRequest
    from deploykit.finetune import finetune as run
    from deploykit.train import TrainConfig, recalibrate_batchnorm

    loaded = load_model("mobilenet_v3_small", SourceOptions(input_shape=(1, 3, 32, 32)))
    bns = [m for m in loaded.model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns[0].momentum == 0.01
    request = FinetuneRequest(data="digits", train=TrainConfig(epochs=1, threads=2))
    run(loaded, request, tmp_path / "m.pt2")
    after = [bn.running_var.clone() for bn in bns]
    recalibrate_batchnorm(loaded.model, load_dataset("digits", "train"), loaded.spec)
    for bn, var in zip(bns, after, strict=True):
        assert torch.allclose(bn.running_var, var, rtol=1e-4, atol=1e-6)
    record = read_manifest(tmp_path / "m.pt2").details["finetune"]
    assert record["batchnorm"].startswith("re-estimated")


@pytest.mark.slow
@pytest.mark.parametrize("name", SEED_ARCHITECTURES)
def test_every_seed_family_learns_a_digits_image_folder(name, tmp_path_factory, cli):
    """Transfer learning works for every seed family (random init, 64x64, 5 epochs)."""
    from deploykit.data import load_dataset
    from deploykit.data.datasets import write_image_folder

    root = tmp_path_factory.getbasetemp() / "digits-png"
    if not root.is_dir():
        write_image_folder(load_dataset("digits", "all"), root, size=32)
    size = 96 if name == "inception_v3" else 64  # inception_v3 needs at least 75x75
    out = tmp_path_factory.mktemp(name) / "ft.pt2"
    result = cli(
        "finetune", name, "--data", root, "--input-shape", f"1x3x{size}x{size}",
        "--epochs", "5", "-o", out, "--json",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    record = json.loads(result.stdout)
    print(name, "val_top1", record["val_top1"], "seconds", round(record["seconds"], 1))
    assert record["val_top1"] >= 0.5, (name, record["val_top1"])  # chance is 0.1
    assert not record["warnings"]
