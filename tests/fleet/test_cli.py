"""The fleet from the command line: devices, bench --suite --cluster, refusals in one line."""

from __future__ import annotations

import json

import pytest

# A real multi-node cluster takes 1-2 min to start and sweep on a 2-core CI runner (5-7 min on
# the shared development machine): these run with `make test-slow`, not in the fast suite.
pytestmark = pytest.mark.slow

SUITE = """\
name: fleet-tiny
data: digits
limit: 60
models:
  - {ref: demo_resnet, source: false}
exports:
  - {target: onnx, precision: fp32}
backends: [onnxruntime]
batch: [1]
threads: 1
timing: {warmup_iters: 2, warmup_s: 0.0, min_iters: 10, min_s: 0.1, max_s: 2}
devices: ["dev-*"]
"""


def test_devices_lists_both_nodes(ray_cluster, cli_process):
    result = cli_process("devices", "--cluster", ray_cluster.client, "--json", timeout=120)
    assert result.code == 0, result.stderr
    found = {d["name"]: d for d in json.loads(result.stdout)}
    assert {"dev-a", "dev-b"} <= set(found)
    for name in ("dev-a", "dev-b"):
        assert found[name]["status"] == "ready"
        assert found[name]["environment"]["libraries"]["onnxruntime"]
        assert found[name]["node_ip"].startswith("127.0.0.")


def test_bench_suite_on_the_cluster(ray_cluster, cli_process, tmp_path):
    suite = tmp_path / "fleet.yaml"
    suite.write_text(SUITE)
    out = tmp_path / "results"
    result = cli_process(
        "bench", "--suite", suite, "--cluster", ray_cluster.client, "-o", out, timeout=300
    )
    assert result.code == 0, result.stderr[-2000:]
    data = json.loads((out / "results.json").read_text())
    assert data["complete"] is True
    assert {c["device_name"] for c in data["cells"]} == {"dev-a", "dev-b"}
    assert all(c["status"] == "ok" for c in data["cells"])
    # the same (seeded) model on the same images gives the same answers on both devices
    assert len({c["accuracy"]["correct"] for c in data["cells"]}) == 1
    assert set(data["devices"]) == {"dev-a", "dev-b"}
    markdown = (out / "results.md").read_text()
    assert "Fastest backend per device and artifact" in markdown
    assert "| dev-b | onnxruntime " in markdown  # the device matrix row
    html = (out / "report.html").read_text()
    assert "id='filters'" in html and "'device','backend','prec'" in html


def test_fleet_refusals_are_one_line(ray_cluster, cli_process, user_error, tmp_path):
    suite = tmp_path / "nomatch.yaml"
    suite.write_text(SUITE.replace('["dev-*"]', '["jetson-*"]'))
    result = cli_process(
        "bench", "--suite", suite, "--cluster", ray_cluster.client, "-o", tmp_path, timeout=300
    )
    user_error(result, "device pattern 'jetson-*' matches no device")

    proc, log = ray_cluster.agent_process("dev-a")  # a second agent claiming dev-a
    try:
        proc.wait(120)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = [ln for ln in log.read_text().splitlines() if ln.strip()]
    assert proc.returncode == 2
    assert lines == [lines[-1]] and "device name 'dev-a' is already served by node" in lines[-1]
