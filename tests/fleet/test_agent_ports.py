"""A device node started with pinned ports listens on those ports and no others."""

from __future__ import annotations

import pytest

from deploykit.fleet.local import free_port

pytestmark = pytest.mark.slow


def test_pinned_agent_listens_only_on_its_ports(ray_cluster):
    import psutil

    ip = ray_cluster.next_address()
    ports = {
        flag: free_port(ip)
        for flag in (
            "--node-manager-port",
            "--object-manager-port",
            "--dashboard-agent-grpc-port",
            "--dashboard-agent-listen-port",
            "--runtime-env-agent-port",
            "--metrics-export-port",
        )
    }
    low = free_port(ip)
    workers = range(low, low + 20)
    options = [str(part) for pair in ports.items() for part in pair]
    ray_cluster.add_devices("dev-p", options=(*options, "--worker-ports", f"{low}-{low + 19}"))
    try:
        agent = psutil.Process(ray_cluster.agents["dev-p"].pid)
        listening = set()
        for proc in [agent, *agent.children(recursive=True)]:
            for conn in proc.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN:
                    listening.add(conn.laddr.port)
        assert set(ports.values()) <= listening
        assert listening <= set(ports.values()) | set(workers), sorted(listening)
    finally:
        ray_cluster.stop_device("dev-p")
