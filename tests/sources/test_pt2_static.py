"""A plain ``torch.export.save`` of a static-batch program: exported at its batch, benched at it."""

from __future__ import annotations

import json

import onnx

from tests.security.hostile import save_small_program


def test_static_program_exports_and_benches_at_its_batch(tmp_path, cli):
    program = save_small_program(tmp_path / "static.pt2", batch=1)
    out = tmp_path / "out"
    result = cli("export", program, "--to", "onnx", "-o", out, "--verify-samples", "8")
    assert result.code == 0, result.stderr
    assert "static batch of 1: exported at batch 1" in result.stdout
    manifest = json.loads((out / "static.json").read_text())
    assert manifest["input"]["dynamic_batch"] is False and manifest["verification"]["n"] == 8
    dim = onnx.load(str(out / "static.onnx")).graph.input[0].type.tensor_type.shape.dim[0]
    assert dim.dim_value == 1

    report = tmp_path / "r.json"
    args = ["bench", program, out / "static.onnx", "--backend", "torch,onnxruntime"]
    args += ["--batch", "1,4", "--iters", "3"]
    quick = ["--limit", "16", "--min-time", "0.01", "--warmup", "1", "--warmup-time", "0"]
    result = cli(*args, *quick, "--no-isolate", "--json", report)
    assert result.code == 0, result.stderr
    assert "static batch of 1: measured at batch 1 only" in result.stdout
    cells = json.loads(report.read_text())["cells"]
    assert [(c["batch"], c["status"]) for c in cells] == [(1, "ok"), (1, "ok")]
    assert cells[1]["fidelity"]["top1_agreement"] == 1.0
