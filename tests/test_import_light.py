"""Importing deploykit, and every module in it, must not pull heavy optional frameworks."""

import subprocess
import sys

HEAVY = ("tensorflow", "openvino", "tensorrt", "ai_edge_litert", "onnx2tf", "tf2onnx", "nncf")

PROBE = """
import importlib, pkgutil, sys, deploykit
names = [m.name for m in pkgutil.walk_packages(deploykit.__path__, "deploykit.") if not m.name.endswith("__main__")]
for name in names:
    importlib.import_module(name)
heavy = [m for m in {heavy!r} if m in sys.modules]
print(len(names), ",".join(heavy))
"""


def test_cli_import_does_not_load_frameworks():
    code = "import sys, deploykit.cli; print(','.join(m for m in ('torch', 'onnxruntime', 'onnx', 'tensorflow') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_every_module_imports_without_optional_frameworks():
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    count, heavy = (
        out.stdout.strip().split(" ") if " " in out.stdout.strip() else (out.stdout.strip(), "")
    )
    assert int(count) > 20
    assert heavy == "", f"imported at module level: {heavy}"


def test_help_lists_the_verbs():
    out = subprocess.run(
        [sys.executable, "-m", "deploykit", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0
    for verb in ("models", "export", "bench", "demo"):
        assert verb in out.stdout
