"""TensorFlow and torch's triton-loading paths in one process (tensorflow#124205).

TensorFlow >= 2.20 loads its own LLVM globally; importing triton after it
segfaults. deploykit.tensorflow_compat imports triton first. Run in a fresh
interpreter: a crash must fail this test, not take the test session down.
"""

import subprocess
import sys

import pytest

from deploykit.optional import available

pytestmark = pytest.mark.skipif(
    not available("tensorflow"), reason="needs the tflite extra (TensorFlow)"
)

SCRIPT = """
import sys
from deploykit.tensorflow_compat import import_tensorflow
tf = import_tensorflow()
import torch
module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
program = torch.export.export(module, (torch.zeros(1, 3, 8, 8),))
torch.export.save(program, sys.argv[1])
loaded = torch.export.load(sys.argv[1]).module()  # pulls in triton where it is installed
y = loaded(torch.ones(1, 3, 8, 8))
# TensorFlow still computes after torch (the ReLU output may be all zeros: compare, don't sign)
same = abs(float(tf.reduce_sum(tf.constant(y.detach().numpy()))) - float(y.sum())) < 1e-3
print("ok", same, "triton" in sys.modules)
"""


def test_tensorflow_then_torch_export_load_does_not_crash(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "tiny.pt2")],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout.split()[:2] == ["ok", "True"]
