"""A Ray cluster on this machine's loopback addresses: for trying the fleet, tests and benchmarks.

A head on 127.0.0.2 (``ray start --head --block``) and each device a real
``deploykit agent`` on the next loopback address (127.0.0.3, .4, ...; Ray rewrites
127.0.0.1), every one in a process group of its own, so :meth:`LocalCluster.stop`
ends every process it started. Nothing listens beyond loopback.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HEAD_IP = "127.0.0.2"
OBJECT_STORE_MIB = 80
JOIN_TIMEOUT_S = 180.0


def free_port(host: str = HEAD_IP) -> int:
    """A TCP port nothing listens on at ``host`` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH", "")
    return dict(
        os.environ,
        RAY_USAGE_STATS_ENABLED="0",
        RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0",
        PYTHONPATH=f"{root}{os.pathsep}{path}" if path else root,
    )


def _spawn(command: list[str], log: Path) -> subprocess.Popen:
    """Start ``command`` in a process group of its own, output to ``log``."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=_env(),
            start_new_session=True,
        )


def _wait_for(log: Path, text: str, proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if log.is_file() and text in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise RuntimeError(
                f"{proc.args[:5]} exited {proc.returncode}: {log.read_text()[-2000:]}"
            )
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {text!r}: {log.read_text()[-2000:]}")


def stop_group(proc: subprocess.Popen, sig: int = signal.SIGTERM, wait_s: float = 20) -> None:
    """Signal ``proc``'s process group; SIGKILL it if it has not ended after ``wait_s``."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(wait_s)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@dataclass
class LocalCluster:
    """A head and device agents on loopback, each a process group of its own.

    Attributes:
        folder: logs, Ray's session files and each device's cache.
        gcs: the head's GCS address (what agents join).
        client: the Ray Client address (what ``--cluster`` takes).
    """

    folder: Path
    gcs: str = ""
    client: str = ""
    head: subprocess.Popen | None = None
    agents: dict[str, subprocess.Popen] = field(default_factory=dict)
    next_ip: int = 3

    def start_head(self) -> None:
        port, client_port = free_port(), free_port()
        self.gcs, self.client = f"{HEAD_IP}:{port}", f"ray://{HEAD_IP}:{client_port}"
        log = self.folder / "head.log"
        self.head = _spawn(
            [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
             "--node-ip-address", HEAD_IP, "--port", str(port),
             "--ray-client-server-port", str(client_port), "--num-cpus", "1",
             "--include-dashboard=false", "--disable-usage-stats",
             "--object-store-memory", str(OBJECT_STORE_MIB * 2**20),
             "--temp-dir", str(self.folder / "ray")],
            log,
        )  # fmt: skip
        _wait_for(log, "Ray runtime started", self.head, JOIN_TIMEOUT_S)

    def next_address(self) -> str:
        """The loopback address the next agent will use."""
        return f"127.0.0.{self.next_ip}"

    def agent_process(self, name: str, *options: str) -> tuple[subprocess.Popen, Path]:
        """Start ``deploykit agent`` for device ``name`` on the next loopback address.

        Args:
            name: the device name.
            *options: more ``deploykit agent`` options (ports, say).
        """
        ip = self.next_address()
        self.next_ip += 1
        log = self.folder / f"agent-{name}-{ip}.log"
        proc = _spawn(
            [sys.executable, "-m", "deploykit", "agent", "--address", self.gcs, "--device", name,
             "--node-ip-address", ip, "--object-store-mib", str(OBJECT_STORE_MIB),
             "--cache", str(self.folder / f"cache-{name}"), *options],
            log,
        )  # fmt: skip
        return proc, log

    def add_devices(self, *names: str, options: tuple[str, ...] = ()) -> None:
        """Start an agent for each of ``names`` in turn (raylets starting together on a busy
        machine can miss Ray's start-up deadline); return once all have joined.

        Args:
            *names: the device names.
            options: more ``deploykit agent`` options for each of them.
        """
        for name in names:
            proc, log = self.agent_process(name, *options)
            self.agents[name] = proc
            _wait_for(log, "joined the cluster", proc, JOIN_TIMEOUT_S)

    def signal_device(self, name: str, sig: int) -> None:
        """Send ``sig`` to every process of device ``name``'s node (the agent and what it
        started: raylet, agents, workers), e.g. SIGSTOP to make it stop answering."""
        import psutil

        agent = psutil.Process(self.agents[name].pid)
        for proc in [agent, *agent.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(sig)

    def stop_device(self, name: str) -> None:
        """Stop device ``name``'s agent (SIGTERM: it takes its node down)."""
        stop_group(self.agents[name])

    def stop(self) -> None:
        """Stop every agent, then the head."""
        for proc in self.agents.values():
            stop_group(proc)
        if self.head is not None:
            stop_group(self.head)
