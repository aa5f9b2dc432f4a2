"""What the numbers were measured on: CPU, memory, GPU, Jetson, CUDA, libraries, model source.

CPU facts come from :mod:`deploykit.host`.

Every probe is best effort: a file or tool that is missing leaves its key out
instead of failing the benchmark.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from deploykit.host import cpu_info
from deploykit.manifest import library_versions


def command_output(program: str, *args: str) -> str | None:
    """``program``'s stdout, or None when it is not installed, fails, or takes over 10 s."""
    path = shutil.which(program)
    if not path:
        return None
    try:
        return subprocess.run(
            [path, *args], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (subprocess.SubprocessError, OSError):
        return None


def gpu_info() -> list[dict[str, str]]:
    """NVIDIA GPUs as nvidia-smi reports them (empty without a driver)."""
    fields = (
        "name,driver_version,memory.total,compute_cap,clocks.sm,clocks.max.sm,"
        "clocks.mem,clocks.max.mem,power.limit"
    )
    out = command_output("nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader") or ""
    keys = fields.split(",")
    return [
        dict(zip(keys, (v.strip() for v in line.split(",")), strict=False))
        for line in out.splitlines()
        if line
    ]


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").replace("\x00", "").strip()
    except OSError:
        return None


def jetson_info(root: Path = Path("/")) -> dict[str, Any]:
    """Jetson model, L4T release and nvpmodel power mode (empty when not on a Jetson).

    Args:
        root: filesystem root to read from (tests point it at a fake tree).
    """
    info: dict[str, Any] = {}
    release = _read(root / "etc/nv_tegra_release")
    if release:
        # "# R36 (release), REVISION: 4.0, GCID: ..., BOARD: generic, EABI: aarch64, DATE: ..."
        if m := re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", release):
            info["l4t"] = f"{m.group(1)}.{m.group(2)}"
            info["jetpack"] = _JETPACK_BY_L4T_MAJOR.get(int(m.group(1)), "unknown")
        info["nv_tegra_release"] = release.splitlines()[0]
    model = _read(root / "proc/device-tree/model")
    if model and (release or "jetson" in model.lower() or "nvidia" in model.lower()):
        info["model"] = model
    if not info:
        return {}
    text = command_output("nvpmodel", "-q") or ""
    if m := re.search(r"NV Power Mode:\s*(\S+)", text):
        info["power_mode"] = m.group(1)
    if m := re.search(r"^\s*(\d+)\s*$", text, re.M):
        info["power_mode_id"] = int(m.group(1))
    return info


# L4T major release -> JetPack major line (NVIDIA's release table).
_JETPACK_BY_L4T_MAJOR = {32: "4.x", 35: "5.x", 36: "6.x", 38: "7.x"}


def cuda_info() -> dict[str, Any]:
    """CUDA runtime/toolkit version as the installed frameworks report it, without importing them."""
    info: dict[str, Any] = {}
    version_json = Path("/usr/local/cuda/version.json")
    text = _read(version_json) or ""
    if m := re.search(r'"cuda"\s*:\s*\{[^}]*"version"\s*:\s*"([^"]+)"', text):
        info["toolkit"] = m.group(1)
    if "toolkit" not in info and (
        m := re.search(r"release ([\d.]+)", command_output("nvcc", "--version") or "")
    ):
        info["toolkit"] = m.group(1)
    if m := re.search(r"CUDA Version:\s*([\d.]+)", command_output("nvidia-smi") or ""):
        info["driver_supports"] = m.group(1)
    return info


def git_commit(path: str | Path) -> dict[str, Any] | None:
    """The git commit (and whether the tree is dirty) of the repository holding ``path``."""
    where = Path(path)
    folder = where if where.is_dir() else where.parent
    if not folder.is_dir():
        return None
    commit = (command_output("git", "-C", str(folder), "rev-parse", "HEAD") or "").strip()
    if not commit:
        return None
    dirty = command_output("git", "-C", str(folder), "status", "--porcelain", "--", str(where))
    return {"commit": commit, "dirty": bool((dirty or "").strip())}


def model_sources(items: list[str]) -> dict[str, Any]:
    """For each item that is a file or a module inside a git repository, its commit."""
    found = {}
    for item in items:
        path = Path(item)
        if not path.exists() and ":" in item:  # module:factory -> the module's file
            try:
                import importlib.util

                spec = importlib.util.find_spec(item.split(":", 1)[0])
                path = Path(spec.origin) if spec and spec.origin else path
            except (ImportError, ValueError):
                continue
        if path.exists() and (commit := git_commit(path.resolve())):
            found[item] = commit
    return found


def environment(items: list[str] | None = None) -> dict[str, Any]:
    """The whole environment record stored with every result.

    Args:
        items: benchmark items whose source git commit is recorded when they live in a repo.
    """
    record: dict[str, Any] = {
        "host": platform.node(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "cpu": cpu_info(),
        "gpus": gpu_info(),
        "libraries": library_versions(),
    }
    if cuda := cuda_info():
        record["cuda"] = cuda
    if jetson := jetson_info():
        record["jetson"] = jetson
    if items and (sources := model_sources(items)):
        record["model_sources"] = sources
    return record
