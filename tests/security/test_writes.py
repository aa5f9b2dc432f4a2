"""Nothing is written outside -o, nothing good is destroyed, and write failures are one line."""

from __future__ import annotations

import errno
import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from deploykit.errors import InputError
from deploykit.fileio import atomic_files, refuse_overwriting_inputs, write_failure
from tests.security.conftest import files_under
from tests.security.test_signals import tiny_onnx


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return tiny_onnx(tmp_path_factory.mktemp("model") / "m.onnx")


@pytest.mark.parametrize("name", ["../../x", "/abs/x", "..", "a/b", ""])
def test_name_is_a_file_name_only(name, model, tmp_path, cli, refused):
    out = tmp_path / "deep" / "out"
    result = cli("export", model, "--to", "onnx", "-o", out, "--name", name, "--no-verify")
    refused(result, tmp_path, "--name", "plain file name")


def test_output_equal_to_an_input_is_refused(model, tmp_path):
    copy = tmp_path / "a.onnx"
    copy.write_bytes(model.read_bytes())
    with pytest.raises(InputError, match="is the input"):
        refuse_overwriting_inputs(
            [tmp_path / "r.json", tmp_path / "." / "a.onnx"], [copy, "digits"]
        )
    link = tmp_path / "link.onnx"
    link.symlink_to(copy)
    with pytest.raises(InputError, match="is the input"):
        refuse_overwriting_inputs([link], [copy])
    refuse_overwriting_inputs([tmp_path / "r.json", None], [copy, "resnet18"])
    assert copy.read_bytes() == model.read_bytes()


def test_artifact_and_manifest_are_committed_together(model, tmp_path, cli):
    out = tmp_path / "out"
    assert cli("export", model, "--to", "onnx", "-o", out, "--no-verify").code == 0
    manifest = (out / "m.json").read_text()
    # A folder where the artifact should go: the new manifest must not replace the old one.
    (out / "m.onnx").unlink()
    (out / "m.onnx").mkdir()
    args = ("--to", "onnx", "-o", out, "--no-verify", "--opset", "19", "--force")
    result = cli("export", model, *args)
    assert result.code == 2 and "is a folder" in result.stderr, result.stderr
    assert (out / "m.json").read_text() == manifest
    assert sorted(p.name for p in out.iterdir()) == ["m.json", "m.onnx"]


def test_a_failed_rename_restores_every_file(tmp_path):
    first, second = tmp_path / "a.onnx", tmp_path / "a.json"
    first.write_text("old artifact")
    second.mkdir()  # the second rename fails after the first succeeded
    with pytest.raises(InputError), atomic_files(first, second) as (tmp_a, tmp_b):
        tmp_a.write_text("new artifact")
        tmp_b.write_text("new manifest")
    assert first.read_text() == "old artifact"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.onnx"]


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))


def test_file_size_limit_is_one_line_and_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    big = tmp_path / "big.onnx"
    from onnx import TensorProto, helper, save

    graph = helper.make_graph(
        [helper.make_node("Add", ["input", "w"], ["logits"])],
        "big",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor("w", TensorProto.FLOAT, [1, 3, 32, 32], [0.5] * 3072)],
    )
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), big)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "deploykit",
            "export",
            str(big),
            "--to",
            "onnx",
            "-o",
            str(out),
            "--no-verify",
        ],
        capture_output=True,
        text=True,
        preexec_fn=_limit_file_size,
        timeout=120,
    )
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    # One error line (after the note that the file records no preprocessing).
    assert len(lines) <= 6 and len(errors) == 1, lines
    assert "file too large" in errors[0] and "big.onnx" in errors[0], lines
    assert files_under(out) == []


@pytest.mark.parametrize(
    ("code", "words"),
    [(errno.ENOSPC, "no space"), (errno.EFBIG, "file too large"), (errno.EROFS, "read-only")],
)
def test_write_failures_name_the_file(code, words):
    failure = write_failure(OSError(code, "x"), "out/m.onnx")
    assert failure is not None and words in str(failure) and "out/m.onnx" in str(failure)
    assert write_failure(OSError(errno.ENOENT, "x")) is None


def test_manifest_records_the_opset_written(model, tmp_path, cli):
    out = tmp_path / "out"
    assert cli("export", model, "--to", "onnx", "-o", out, "--no-verify").code == 0
    assert json.loads((out / "m.json").read_text())["exporter"]["opset"] == 18


@pytest.mark.parametrize("flag", ["--json", "--csv", "--markdown", "--html"])
def test_bench_refuses_a_report_over_the_artifact(flag, model, tmp_path, cli, refused):
    artifact = tmp_path / "a.onnx"
    artifact.write_bytes(model.read_bytes())
    result = cli("bench", artifact, flag, artifact, "--iters", "3")
    refused(result, tmp_path / "no-output", "is the input")
    assert artifact.read_bytes() == model.read_bytes()


def test_bench_refuses_a_report_over_an_inputs_manifest(model, tmp_path, cli, refused):
    artifact = tmp_path / "a.onnx"
    artifact.write_bytes(model.read_bytes())
    manifest = tmp_path / "a.json"
    manifest.write_text("{}")
    result = cli("bench", artifact, "--json", manifest, "--iters", "3")
    refused(result, tmp_path / "no-output", "is the input")
    assert manifest.read_text() == "{}"


def test_bench_keeps_its_measurements_when_the_disk_fills(model, tmp_path, monkeypatch):
    """The per-cell checkpoint hits ENOSPC: measuring goes on, the run says so."""
    from deploykit.bench import BenchConfig, TimingConfig, run_bench
    from deploykit.bench.results import BenchRun

    def full_disk(self, path):
        raise write_failure(OSError(errno.ENOSPC, "No space left on device"), path)

    monkeypatch.setattr(BenchRun, "write_json", full_disk)
    timing = TimingConfig(warmup_iters=1, warmup_s=0.0, min_iters=3, min_s=0.01, max_s=1)
    config = BenchConfig(
        backends=("onnxruntime",), timing=timing, limit=8, batch_sizes=(1, 2), isolate=False
    )
    run = run_bench([str(model)], config, checkpoint=tmp_path / "results.json")
    assert [c.status for c in run.cells] == ["ok", "ok"]
    assert run.config["notes"] == [
        f"results kept in memory only: no space left on the device while writing {tmp_path / 'results.json'}"
    ]
