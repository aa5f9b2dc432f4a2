"""``deploykit prune`` from the command line: the issue's commands, bad inputs, export and bench."""

from __future__ import annotations

import json

import pytest

from deploykit.manifest import manifest_path


def test_prune_then_export_the_pt2(cli, tmp_path):
    target = tmp_path / "pruned" / "resnet18-p50.pt2"
    result = cli(
        "prune",
        "resnet18",
        "--ratio",
        "0.5",
        "--num-classes",
        "10",
        "--input-shape",
        "1x3x32x32",
        "--no-latency",
        "-o",
        target,
    )
    assert result.code == 0, result.stderr
    assert "target ratio 0.5: met" in result.stdout and "MACs" in result.stdout
    assert target.is_file() and manifest_path(target).is_file()
    assert "resnet18-p50.pt2.json" in result.stdout  # the manifest's real name
    onnx_dir = tmp_path / "onnx"
    exported = cli("export", target, "--to", "onnx", "-o", onnx_dir)
    assert exported.code == 0, exported.stderr
    assert "top-1 agreement 100.0%" in exported.stdout
    assert (onnx_dir / "resnet18-p50.onnx").is_file()
    again = tmp_path / "again"
    refused = cli("prune", target, "--ratio", "0.3", "-o", again)
    assert refused.code != 0 and "frozen graph" in refused.stderr and not again.exists()


def test_macs_target_with_taylor_and_finetuning_as_json(cli, tmp_path, tiny_digits):
    result = cli(
        "prune",
        "demo_mobilenet_v2",
        "--target-macs",
        "0.5",
        "--importance",
        "taylor",
        "--finetune",
        tiny_digits,
        "--epochs",
        "1",
        "--distill",
        "0.5",
        "--uniform",
        "--round-to",
        "4",
        "--threads",
        "1",
        "--no-latency",
        "--json",
        "-o",
        tmp_path,
    )
    assert result.code == 0, result.stderr
    manifest = json.loads(result.stdout)
    pruning = manifest["details"]["pruning"]
    assert pruning["target"]["met"] and pruning["report"]["ratios"]["macs"] <= 0.5
    assert pruning["report"]["after"]["top1"] is not None
    assert pruning["config"]["distill"] == 0.5
    assert list(tmp_path.glob("demo_mobilenet_v2-p*.pt2"))


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("demo_resnet", "--ratio", "1.5"), "--ratio: 1.5 is out of range"),
        (("demo_resnet", "--ratio", "0"), "--ratio: 0 is out of range"),
        (("demo_resnet", "--ratio", "0.5", "--importance", "magic"), "--importance: unknown value"),
        (
            ("demo_resnet", "--target-macs", "0.0005", "--no-latency"),
            "below what this architecture",
        ),
        (("demo_resnet", "--ratio", "0.5", "--ignore", "nope"), "no layer named"),
        (("demo_resnet", "--ratio", "0.5", "--distill", "1.5"), "--distill: 1.5 is out of range"),
        (("demo_resnet", "--ratio", "0.5", "--distill", "0.5"), "--distill needs --finetune"),
        (("no_such_model", "--ratio", "0.5"), "unknown model"),
    ],
)
def test_bad_inputs_answer_in_one_line_and_leave_nothing(cli, user_error, tmp_path, args, fragment):
    out_dir = tmp_path / "out"
    user_error(cli("prune", *args, "-o", out_dir), fragment)
    assert not out_dir.exists()


def test_an_onnx_file_is_not_a_torch_module(cli, user_error, tmp_path):
    exported = cli("export", "demo_resnet", "--to", "onnx", "--no-verify", "-o", tmp_path)
    assert exported.code == 0, exported.stderr
    out_dir = tmp_path / "out"
    user_error(
        cli("prune", tmp_path / "demo_resnet.onnx", "--ratio", "0.5", "-o", out_dir),
        "needs a torch module",
    )
    assert not out_dir.exists()


def test_a_different_prune_never_replaces_a_file_silently(cli, user_error, tmp_path):
    """Export's policy: the same prune replaces its own file; another one is refused in one
    line (before any pruning) unless --force, which replaces it atomically."""
    target = tmp_path / "net.pt2"
    common = ("demo_resnet", "--input-shape", "1x3x32x32", "--no-latency", "-o", target)
    assert cli("prune", *common, "--ratio", "0.5").code == 0
    assert cli("prune", *common, "--ratio", "0.5").code == 0  # the same prune: its own file
    before = target.read_bytes()
    manifest = manifest_path(target).read_bytes()
    refused = cli("prune", *common, "--ratio", "0.25")
    user_error(refused, "written by a different prune", "--force")
    assert target.read_bytes() == before and manifest_path(target).read_bytes() == manifest
    forced = cli("prune", *common, "--ratio", "0.25", "--force")
    assert forced.code == 0, forced.stderr
    assert target.read_bytes() != before
    pruning = json.loads(manifest_path(target).read_text())["details"]["pruning"]
    assert pruning["config"]["ratio"] == 0.25
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.pt2", "net.pt2.json"]
