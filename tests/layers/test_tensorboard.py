"""`deploykit inspect MODEL --tensorboard DIR`: graph, weight histograms, feature maps."""

from __future__ import annotations

import pytest


def test_tensorboard_run_has_graph_histograms_and_feature_maps(cli, tmp_path):
    pytest.importorskip("tensorboard", reason="needs the tensorboard extra")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    result = cli("inspect", "demo_resnet", "--tensorboard", run, "--layers", "stem,stages")
    assert result.code == 0, result.stderr
    assert "tensorboard --logdir" in result.stdout
    events = EventAccumulator(str(run), size_guidance={"images": 0, "histograms": 0})
    events.Reload()
    tags = events.Tags()
    assert tags["graph"] is True
    assert "weights/stem.0.weight" in tags["histograms"] and "weights/fc.bias" in tags["histograms"]
    assert {"feature_maps/stem", "feature_maps/stages"} <= set(tags["images"])
    stem = events.Images("feature_maps/stem")
    # One grid of the 16 stem channels: two rows of eight 32 x 32 maps.
    assert len(stem) == 1 and (stem[0].width, stem[0].height) == (8 * 32, 2 * 32)


def test_tensorboard_needs_a_torch_model(cli, user_error, culprit, tmp_path):
    user_error(
        cli("inspect", culprit["fp32"], "--tensorboard", tmp_path),
        "--tensorboard needs a torch model",
    )
