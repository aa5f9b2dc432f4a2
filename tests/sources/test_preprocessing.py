"""Preprocessing options: --mean/--std/--scale/--channels for any source, recorded, never silent."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from deploykit.data import prepare
from deploykit.errors import InputError
from deploykit.manifest import read_manifest
from deploykit.sources import SourceOptions, load_model
from deploykit.spec import InputSpec, Preprocess

NET = """
import torch
def build_net(num_classes=10):
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1),
                               torch.nn.Flatten(), torch.nn.Linear(4, num_classes))
"""


@pytest.fixture
def factory(tmp_path, monkeypatch):
    (tmp_path / "prep_nets.py").write_text(textwrap.dedent(NET))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "prep_nets:build_net"
    import sys

    sys.modules.pop("prep_nets", None)


def test_an_assumed_recipe_is_said_and_a_given_one_is_used(factory):
    shape = SourceOptions(input_shape=(1, 3, 16, 16))
    assumed = load_model(factory, shape)
    assert "assumed RGB in [0, 1] normalised with ImageNet mean" in assumed.details["assumed"]
    given = load_model(
        factory, SourceOptions(input_shape=(1, 3, 16, 16), mean=(127.5,), std=(127.5,), scale=255)
    )
    assert given.spec.preprocess.mean == (0.5, 0.5, 0.5)
    assert given.spec.preprocess.std == (0.5, 0.5, 0.5)
    assert "assumed" not in given.details
    # Registry models carry their own recipe: nothing is assumed.
    assert "assumed" not in load_model("demo_resnet").details
    with pytest.raises(InputError, match="--mean has 2 values"):
        load_model(factory, SourceOptions(mean=(0.1, 0.2)))


def test_bgr_models_get_their_channels_reversed():
    images = np.stack([np.full((4, 4), v, np.float32) for v in (0.2, 0.4, 0.6)])[None]
    spec = InputSpec((1, 3, 4, 4), preprocess=Preprocess(mean=(0, 0, 0), std=(1, 1, 1)))
    rgb = prepare(images, spec)
    bgr = prepare(images, spec.__class__(spec.shape, preprocess=Preprocess(
        mean=(0, 0, 0), std=(1, 1, 1), channel_order="BGR")))  # fmt: skip
    assert np.allclose(rgb[0, :, 0, 0], (0.2, 0.4, 0.6))
    assert np.allclose(bgr[0, :, 0, 0], (0.6, 0.4, 0.2))


def test_cli_records_the_options_in_the_manifest_and_notes_assumptions(factory, cli, tmp_path):
    out = tmp_path / "out"
    common = ("export", factory, "--input-shape", "1x3x16x16", "--no-verify", "-o", out)
    plain = cli(*common)
    assert plain.code == 0, plain.stderr
    assert "note: build_net records no preprocessing: assumed" in plain.stderr
    given = cli(*common, "--name", "bgr", "--mean", "103.9,116.8,123.7", "--std", "1",
                "--scale", "255", "--channels", "BGR")  # fmt: skip
    assert given.code == 0, given.stderr
    assert "note:" not in given.stderr
    pre = read_manifest(out / "bgr.onnx").input.preprocess
    assert pre.channel_order == "BGR" and pre.mean[0] == pytest.approx(103.9 / 255)
    assert pre.std == pytest.approx((1 / 255,) * 3)
    # Reloading the artifact keeps the recipe the manifest records.
    assert load_model(str(out / "bgr.onnx")).spec.preprocess == pre


def test_bench_notes_an_assumed_recipe_once_per_item(factory, cli, tmp_path):
    """bench says what it assumed for a source item in export's line, once per item (a
    registry model has its own recipe; --mean/--std silence it), and records it."""
    import json

    common = ("bench", "--backend", "torch", "--no-isolate", "--batch", "1", "--warmup", "0",
              "--iters", "1", "--min-time", "0", "--limit", "16", "--input-shape", "1x3x16x16")  # fmt: skip
    plain = cli(*common, factory, "demo_resnet", "--json", tmp_path / "r.json")
    assert plain.code == 0, plain.stderr
    note = "note: build_net records no preprocessing: assumed RGB in [0, 1]"
    assert [line for line in plain.stdout.splitlines() if "note:" in line] == [
        line for line in plain.stdout.splitlines() if line.startswith(note)
    ]
    assert plain.stdout.count(note) == 1
    notes = json.loads((tmp_path / "r.json").read_text())["config"]["notes"]
    assert [n for n in notes if n.startswith(note)] and len(notes) == len(set(notes))
    given = cli(*common, factory, "--mean", "0.5", "--std", "0.5")
    assert given.code == 0, given.stderr
    assert "note:" not in given.stdout + given.stderr
