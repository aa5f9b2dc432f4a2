"""The CLI end to end: real commands, exit codes, one-line errors, nothing half-written."""

import json


def test_models_lists_torchvision_and_zoo(cli):
    result = cli("models", "--json")
    names = {row["name"] for row in json.loads(result.stdout)}
    assert result.code == 0 and {"resnet18", "efficientnet_b0", "demo_resnet"} <= names
    filtered = json.loads(cli("models", "demo*", "--json").stdout)
    assert {row["name"] for row in filtered} == {"demo_resnet", "demo_mobilenet_v2"}


def test_export_then_bench_from_the_cli(cli, tmp_path):
    out = tmp_path / "out"
    result = cli("export", "demo_resnet", "--to", "onnx", "-o", out)
    assert result.code == 0, result.stderr
    assert "verified on 32 digits samples" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["demo_resnet.json", "demo_resnet.onnx"]
    result = cli(
        "bench",
        out / "demo_resnet.onnx",
        "--data",
        "digits",
        "--limit",
        "50",
        "--iters",
        "5",
        "--min-time",
        "0.05",
        "--warmup",
        "1",
        "--json",
        tmp_path / "r.json",
    )
    assert result.code == 0, result.stderr
    assert "onnxruntime" in result.stdout and "ok" in result.stdout
    cells = json.loads((tmp_path / "r.json").read_text())["cells"]
    assert cells[0]["status"] == "ok" and cells[0]["accuracy"]["n"] == 50


def test_factory_export_from_the_cli(cli, tmp_path, monkeypatch):
    (tmp_path / "nets.py").write_text(
        "import torch\n"
        "def build_net():\n"
        "    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1),\n"
        "                               torch.nn.Flatten(), torch.nn.Linear(4, 3))\n"
    )
    monkeypatch.chdir(tmp_path)
    result = cli(
        "export", "nets:build_net", "--input-shape", "1x3x64x64", "--to", "onnx", "-o", "out"
    )
    assert result.code == 0, result.stderr
    manifest = json.loads((tmp_path / "out" / "build_net.json").read_text())
    assert manifest["input"]["shape"] == [1, 3, 64, 64] and manifest["num_classes"] == 3


def test_user_errors_are_one_line_and_leave_nothing(cli, tmp_path, user_error):
    out = tmp_path / "out"
    cases = [
        (("export", "resnt18", "-o", out), "did you mean resnet18"),
        (("export", tmp_path / "missing.onnx", "-o", out), "does not exist"),
        (("export", "demo_resnet", "--input-shape", "1x3x32", "-o", out), "four positive sizes"),
        (("export", "alexnet", "--input-shape", "1x3x8x8", "-o", out), "rejects input shape"),
        (("export", "demo_resnet", "--to", "coreml", "-o", out), "--to: unknown value 'coreml'"),
        (
            ("export", "demo_resnet", "--precision", "int4", "-o", out),
            "--precision: unknown value 'int4'",
        ),
        (
            ("export", "demo_resnet", "--to", "trt", "--precision", "int8-dynamic", "-o", out),
            "cannot be exported at precision",
        ),
        (("bench", "demo_resnet", "--backend", "tvm"), "--backend: unknown value 'tvm'"),
        (("bench", "demo_resnet", "--batch", "0"), "--batch: 0 is out of range"),
        (("bench", "demo_resnet", "--batch", "1,x"), "--batch: cannot read '1,x'"),
        (("bench", "demo_resnet", "--data", "nowhere"), "unknown dataset"),
    ]
    for args, fragment in cases:
        user_error(cli(*args), fragment)
    assert not out.exists() or list(out.iterdir()) == []


def test_output_directory_that_is_a_file(cli, tmp_path, user_error):
    (tmp_path / "out").write_text("x")
    user_error(cli("export", "demo_resnet", "-o", tmp_path / "out"), "is a file")


def test_corrupt_files_in_a_fresh_process(cli_process, tmp_path, user_error):
    (tmp_path / "bad.onnx").write_bytes(b"garbage")
    (tmp_path / "bad.pt2").write_bytes(b"garbage")
    (tmp_path / "model.pt").write_bytes(b"garbage")
    user_error(
        cli_process("export", tmp_path / "bad.onnx", "-o", tmp_path / "o"), "not a valid ONNX model"
    )
    user_error(cli_process("export", tmp_path / "bad.pt2", "-o", tmp_path / "o"), "cannot load")
    user_error(cli_process("export", tmp_path / "model.pt", "-o", tmp_path / "o"), "--trust-pickle")
    assert not (tmp_path / "o").exists() or list((tmp_path / "o").iterdir()) == []
