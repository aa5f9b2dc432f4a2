"""Nothing is written outside -o, nothing good is destroyed, and write failures are one line."""

from __future__ import annotations

import errno
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
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
    kept = [n for n in run.config["notes"] if not n.startswith("note: ")]  # not preprocessing
    assert kept == [
        f"results kept in memory only: no space left on the device while writing {tmp_path / 'results.json'}"
    ]


QUICK_BENCH = ("--backend", "onnxruntime", "--iters", "5", "--min-time", "0.05")


def _limit_file_size_16k() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 10, 16 << 10))


def test_bench_under_a_file_size_limit_keeps_what_it_measured(model, tmp_path):
    """ulimit -f 16 KiB: the workers' input cannot be staged, so bench measures in its own
    process, prints the table, and says in one line which report did not fit."""
    out, tmp = tmp_path / "out", tmp_path / "tmp"
    tmp.mkdir()
    # 64 images of 3x8x8 float32 are 48 KiB: more than the limit lets the workers' input be.
    args = ["bench", model, *QUICK_BENCH, "--limit", 64, "-o", out]
    proc = subprocess.run(
        [sys.executable, "-m", "deploykit", *map(str, args)],
        capture_output=True,
        text=True,
        preexec_fn=_limit_file_size_16k,
        env={**os.environ, "TMPDIR": str(tmp), "COLUMNS": "200"},
        timeout=300,
    )
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert len(errors) == 1 and "file too large" in errors[0], errors
    assert "the measurements are in the table above" in errors[0]
    assert "without crash isolation: file too large" in proc.stdout, proc.stdout
    row = next(line for line in proc.stdout.splitlines() if "onnxruntime" in line)
    assert " ok " in row, proc.stdout
    assert list(tmp.iterdir()) == []
    assert [p.name for p in files_under(out) if p.name.startswith(".")] == []


# Mounts a read-only tmpfs over the folder in a private mount namespace (nothing outside sees
# it, and it goes away with the process), then runs the command: a real EROFS, even for root.
READ_ONLY_MOUNT = 'mount -t tmpfs -o ro,size=1m tmpfs "$1" && shift && exec "$@"'


def _read_only(kind: str, folder: Path) -> tuple[list[str], str]:
    """How to run a command that cannot write ``folder``: (argv prefix, the error it gets).

    ``erofs``: a read-only file system mounted over it (needs root's CAP_SYS_ADMIN).
    ``eacces``: a user without write permission. Root drops to nobody, keeping only the
    right to read and search (this interpreter may live in root's own home), never to write.
    """
    if kind == "erofs":
        prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c", READ_ONLY_MOUNT]
        return [*prefix, "sh", str(folder)], "the file system is read-only"
    folder.chmod(0o555)
    if os.geteuid() != 0:
        return [], "permission denied"
    keep = "+dac_read_search"
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    return [*nobody, f"--inh-caps={keep}", f"--ambient-caps={keep}"], "permission denied"


# A child that can start this interpreter again (bench workers do) but cannot write the folder.
PROBE = "import subprocess, sys; subprocess.run([sys.executable, '-c', ''], check=True); open({!r}, 'w')"


@pytest.mark.parametrize("kind", ["erofs", "eacces"])
def test_an_output_folder_that_cannot_be_written_is_one_line(kind):
    """A read-only file system, or a user without write permission (root drops to nobody):
    export says so in one line; bench prints its measurements, then says so in one line;
    nothing is written anywhere."""
    base = Path(tempfile.mkdtemp(prefix="ro-test-"))  # pytest's tmp_path is root-only
    try:
        base.chmod(0o755)
        model = tiny_onnx(base / "m.onnx")
        folder, home = base / "out", base / "home"
        folder.mkdir()
        home.mkdir()
        home.chmod(0o777)
        prefix, words = _read_only(kind, folder)
        env = {**os.environ, "HOME": str(home), "TMPDIR": str(home), "COLUMNS": "200"}
        env["PYTHONPATH"] = str(Path(__file__).parents[2])

        def run(*args: str) -> subprocess.CompletedProcess:
            argv = [*prefix, sys.executable, *args]
            return subprocess.run(
                argv, capture_output=True, text=True, env=env, cwd=home, timeout=300
            )

        try:
            probe = run("-c", PROBE.format(str(folder / "probe")))
        except OSError as exc:  # no unshare or setpriv here
            pytest.skip(f"cannot run the CLI {kind} here: {exc}")
        if str(folder / "probe") not in probe.stderr:  # refused for the folder, not before
            pytest.skip(f"cannot run the CLI {kind} here: {probe.stderr.strip()[-300:]}")
        export = run("-m", "deploykit", "export", str(model), "--to", "onnx", "-o", str(folder))
        args = ["bench", model, *QUICK_BENCH, "--limit", 16, "-o", folder]
        bench = run("-m", "deploykit", *map(str, args))
        for proc in (export, bench):
            lines = [line for line in proc.stderr.splitlines() if line.strip()]
            errors = [line for line in lines if line.startswith("error: ")]
            assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
            assert len(lines) <= 6 and len(errors) == 1, lines  # a note may come first
            assert f"{words} while writing {folder}" in errors[0], errors
        assert "the measurements are in the table above" in bench.stderr
        assert f"results kept in memory only: {words}" in bench.stdout, bench.stdout
        assert list(folder.iterdir()) == []
        assert list(home.iterdir()) == []
        assert sorted(p.name for p in base.iterdir()) == ["home", "m.onnx", "out"]
    finally:
        shutil.rmtree(base, ignore_errors=True)
