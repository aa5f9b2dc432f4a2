"""The cases of benchmarks/hostile.py: shared fixtures, the CI gate (3) and option ranges (5).

Files, writes and data (sections 1, 2 and 4) are in hostile_files.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

from hostile import ROOT, Case, Outcome

from tests.security.hostile import save_small_program  # hostile.py puts the repo on sys.path

QUICK = ("--warmup", "2", "--iters", "10", "--min-time", "0.05", "--limit", "32")
SHAPE = ("--num-classes", "10", "--input-shape", "1x3x32x32")
NAN, INF = float("nan"), float("inf")


class Fixtures:
    """Real artifacts and results the cases start from, built once with the CLI."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def cli(self, *args: object) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, "-m", "deploykit", *map(str, args)]
        subprocess.run(cmd, check=True, capture_output=True, env=env, timeout=600)

    @cached_property
    def onnx(self) -> Path:
        """demo_resnet 32x32 (random init, seeded) exported to ONNX, with its manifest."""
        out = self.root / "art"
        self.cli("export", "demo_resnet", *SHAPE, "--to", "onnx", "-o", out, "--no-verify")
        return out / "demo_resnet.onnx"

    @cached_property
    def results(self) -> Path:
        """Two items (ONNX on ONNX Runtime as the reference, the torch source): 2 cells."""
        path = self.root / "two.json"
        items = (self.onnx, "demo_resnet", *SHAPE, "--backend", "onnxruntime,torch")
        self.cli("bench", *items, *QUICK[:-1], "200", "--json", path)
        return path

    @cached_property
    def single(self) -> Path:
        """One item on one backend: only the reference cell, gated against the probe."""
        path = self.root / "one.json"
        self.cli("bench", self.onnx, *QUICK, "--json", path)
        return path

    @cached_property
    def pt2(self) -> Path:
        """A real ``torch.export.save`` of a small 32x32 classifier (static batch 1)."""
        return save_small_program(self.root / "clean.pt2", batch=1, size=32)

    def copy_onnx(self, folder: Path, name: str = "m") -> Path:
        """The ONNX fixture and its manifest copied into ``folder`` as NAME.onnx / NAME.json."""
        target = folder / f"{name}.onnx"
        shutil.copy(self.onnx, target)
        manifest = json.loads(self.onnx.with_suffix(".json").read_text())
        manifest["artifact"] = target.name
        target.with_suffix(".json").write_text(json.dumps(manifest))
        return target


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "absent"


def flip_a_weight_bit(path: Path) -> None:
    """One bit of the largest weight flipped: still a valid model, not the one exported."""
    import onnx

    weights = max(onnx.load(path).graph.initializer, key=lambda t: len(t.raw_data)).raw_data
    data = bytearray(path.read_bytes())
    data[data.find(weights) + len(weights) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _edited(source: Path, change: Callable[[dict], None], target: Path) -> Path:
    data = json.loads(source.read_text())
    change(data)
    target.write_text(json.dumps(data))  # NaN and Infinity are written as JSON allows them
    return target


def _set(where: str, value: object) -> Callable[[dict], None]:
    """An edit that sets a dotted path (``cells.0.latency.p50_ms``) to ``value``."""

    def change(data: dict) -> None:
        *path, last = where.split(".")
        node = data
        for part in path:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return change


def _scale(only: str | None, factor: float, machine: bool = False) -> Callable[[dict], None]:
    """Latency of the cells whose key contains ``only`` (None: all) times ``factor``.

    ``machine``: the whole machine is slower, so the machine-speed probe is too.
    """

    def change(data: dict) -> None:
        for cell in data["cells"]:
            if only is None or only in cell["key"]:
                for stats in (cell["latency"], cell["probe"] if machine else None):
                    for name, value in (stats or {}).items():
                        if name.endswith("_ms"):
                            stats[name] = value * factor
                    if stats:
                        stats["throughput"] /= factor

    return change


def _flip(count: int) -> Callable[[dict], None]:
    """The torch cell gets ``count`` images it had right wrong."""

    def change(data: dict) -> None:
        import numpy as np

        acc = next(c for c in data["cells"] if "torch" in c["key"])["accuracy"]
        bits = np.unpackbits(np.frombuffer(base64.b64decode(acc["correct"]), np.uint8))
        right = np.flatnonzero(bits[: acc["n"]])[:count]
        bits[right] = 0
        acc["correct"] = base64.b64encode(np.packbits(bits).tobytes()).decode()
        acc["top1"] = float(bits[: acc["n"]].mean())

    return change


def gate_cases(fx: Fixtures) -> list[Case]:
    """Section 3: NaN, malformed files, partial baselines, the probe, failed cells, tampering."""

    def results(change: Callable[[dict], None], *flags: str, single: bool = False):
        def argv(folder: Path) -> list:
            source = fx.single if single else fx.results
            bad = _edited(source, change, folder / "results.json")
            return ["compare", bad, "--baseline", source, *flags]

        return argv

    def baseline(change: Callable[[dict], None]):
        def argv(folder: Path) -> list:
            bad = _edited(fx.results, change, folder / "baseline.json")
            return ["compare", fx.results, "--baseline", bad]

        return argv

    malformed = [
        ("results: p50 latency NaN", _set("cells.0.latency.p50_ms", NAN)),
        ("results: min latency Infinity", _set("cells.1.latency.min_ms", INF)),
        ("results: latency 0", _set("cells.0.latency.p50_ms", 0)),
        ("results: latency negative", _set("cells.1.latency.p50_ms", -1.0)),
        ("results: latency null", _set("cells.0.latency.p50_ms", None)),
        ("results: latency a string", _set("cells.0.latency.p50_ms", "0.2")),
        ("results: latency record null on an ok cell", _set("cells.0.latency", None)),
        ("results: latency record a list", _set("cells.0.latency", [1, 2])),
        ("results: correct bitmap not base64", _set("cells.1.accuracy.correct", "!!notb64")),
        ("results: correct bitmap too short", _set("cells.1.accuracy.correct", "AAAA")),
        ("results: correct bitmap a number", _set("cells.1.accuracy.correct", 5)),
        ("results: top-1 a string", _set("cells.1.accuracy.top1", "0.9")),
        ("results: top-1 1.5", _set("cells.1.accuracy.top1", 1.5)),
        ("results: top-1 NaN", _set("cells.1.accuracy.top1", NAN)),
        ("results: n negative", _set("cells.1.accuracy.n", -3)),
        ("results: batch 0", _set("cells.0.batch", 0)),
        ("results: batch a string", _set("cells.0.batch", "1")),
        ("results: status 'maybe'", _set("cells.0.status", "maybe")),
        ("results: reference 'no'", _set("cells.0.reference", "no")),
        ("results: complete 'yes'", _set("complete", "yes")),
        ("results: cells an object", _set("cells", {"a": 1})),
        ("results: a cell is a number", _set("cells.1", 7)),
        ("results: probe NaN", _set("cells.0.probe.min_ms", NAN)),
    ]
    cases = [Case("gate", name, results(change)) for name, change in malformed]
    cases.append(
        Case(
            "gate",
            "results: two cells with the same key",
            results(lambda d: d["cells"].append(d["cells"][0])),
        )
    )
    stored = [
        ("baseline: latency NaN", _set("cells.1.latency.p50_ms", NAN)),
        ("baseline: tolerance latency -0.9", _set("config.tolerances", {"latency": -0.9})),
        ("baseline: tolerance alpha 7", _set("config.tolerances", {"alpha": 7})),
        ("baseline: tolerance latency NaN", _set("config.tolerances", {"latency": NAN})),
        ("baseline: tolerance a string", _set("config.tolerances", {"latency": "0.25"})),
        ("baseline: tolerances a list", _set("config.tolerances", [0.25])),
    ]
    cases += [Case("gate", name, baseline(change)) for name, change in stored]
    options = [
        ("--latency-tolerance", "nan"),
        ("--latency-tolerance", "inf"),
        ("--latency-tolerance", "-1"),
        ("--alpha", "nan"),
        ("--alpha", "0"),
        ("--alpha", "7"),
        ("--top1-floor", "nan"),
        ("--top1-floor", "1.5"),
        ("--latency-metric", "fastest"),
    ]
    cases += [
        Case("gate", f"compare {flag} {value}", results(lambda d: None, flag, value))
        for flag, value in options
    ]
    cases += _verdicts(fx, results) + _baseline_updates(fx) + _bench_gate(fx)
    return cases


def _verdicts(fx: Fixtures, results) -> list[Case]:
    """Exit 0 and exit 1 mean what they say: no regression, a measured regression."""
    return [
        Case("gate", "identical results (control)", results(lambda d: None), expect=(0,)),
        Case(
            "gate", "machine 2x slower, uniformly (control)", results(_scale(None, 2, True)), (0,)
        ),
        Case("gate", "torch cell 1.5x slower", results(_scale("torch", 1.5)), expect=(1,)),
        Case("gate", "reference cell 1.5x slower", results(_scale("onnxruntime", 1.5)), (1,)),
        Case(
            "gate",
            "one-item run 1.5x slower (gated by the probe)",
            results(_scale(None, 1.5), single=True),
            expect=(1,),
        ),
        Case("gate", "torch cell 20 more images wrong", results(_flip(20)), expect=(1,)),
    ]


def _baseline_updates(fx: Fixtures) -> list[Case]:
    """``--update-baseline`` never replaces a good baseline with a partial run."""

    def update(change: Callable[[dict], None], *flags: str, fresh: bool = False):
        def argv(folder: Path) -> list:
            base = folder / "baseline.json"
            if not fresh:
                shutil.copy(fx.results, base)
            new = _edited(fx.results, change, folder / "results.json")
            (folder / "before.sha").write_text(sha(base))
            return ["compare", new, "--baseline", base, "--update-baseline", *flags]

        return argv

    def unchanged(out: Outcome) -> str | None:
        before = (out.case_dir / "before.sha").read_text()
        return None if sha(out.case_dir / "baseline.json") == before else "baseline replaced"

    def replaced(out: Outcome) -> str | None:
        return "baseline kept" if unchanged(out) is None else None

    partial = _set("complete", False)
    return [
        Case("gate", "--update-baseline from a partial run", update(partial), check=unchanged),
        Case(
            "gate",
            "--update-baseline with fewer cells",
            update(lambda d: d["cells"].pop()),
            check=unchanged,
        ),
        Case(
            "gate",
            "--update-baseline with a failed cell",
            update(_set("cells.1.status", "failed")),
            check=unchanged,
        ),
        Case(
            "gate",
            "new baseline from a partial run",
            update(partial, fresh=True),
            check=unchanged,
        ),
        Case(
            "gate",
            "--update-baseline --allow-partial (control)",
            update(partial, "--allow-partial"),
            expect=(0,),
            check=replaced,
        ),
    ]


def _bench_gate(fx: Fixtures) -> list[Case]:
    """bench itself: failed cells make a non-zero exit; tampered artifacts are refused."""

    def tampered(*flags: str):
        def argv(folder: Path) -> list:
            model = fx.copy_onnx(folder)
            flip_a_weight_bit(model)
            return ["bench", model, *QUICK, "--json", folder / "out" / "r.json", *flags]

        return argv

    def recorded(out: Outcome) -> str | None:
        data = json.loads((out.case_dir / "out" / "r.json").read_text())
        return None if data["config"].get("modified_artifacts") else "not recorded in results"

    def suite(folder: Path) -> list:
        spec = folder / "s.yaml"
        spec.write_text(
            "models: [{ref: demo_resnet, num_classes: 10, input_shape: 1x3x32x32, source: false}]\n"
            "exports: [{target: onnx, precision: fp32}]\nlimit: 16\n"
            "timing: {warmup_iters: 1, warmup_s: 0, min_iters: 5, min_s: 0.01}\n"
        )
        fx.cli("bench", "--suite", spec, "-o", folder / "out")
        flip_a_weight_bit(next((folder / "out" / "artifacts").glob("*/*.onnx")))
        return ["bench", "--suite", spec, "-o", folder / "out"]

    def not_reused(out: Outcome) -> str | None:
        if out.code == 0 and "reused" in out.stderr:
            return "tampered cached artifact reused"
        return None

    ort_cuda = ("--backend", "ort-cuda")
    return [
        Case(
            "gate",
            "bench: every cell failed (ort-cuda without CUDA)",
            lambda f: ["bench", fx.onnx, *ort_cuda, *QUICK, "--json", f / "out" / "r.json"],
            expect=(5,),
        ),
        Case(
            "gate",
            "bench --strict: one cell of two failed",
            lambda f: ["bench", fx.onnx, "--backend", "onnxruntime,ort-cuda", *QUICK, "--strict"],
            expect=(5,),
        ),
        Case("gate", "bench: artifact modified after export", tampered()),
        Case(
            "gate",
            "bench --allow-modified (control, recorded)",
            tampered("--allow-modified"),
            expect=(0,),
            check=recorded,
        ),
        Case(
            "gate",
            "suite: cached artifact modified",
            suite,
            expect=(0, 2),
            check=not_reused,
        ),
    ]


def options_cases(fx: Fixtures) -> list[Case]:
    """Section 5: ranges refused before any work starts."""

    def bench(*flags: str):
        return lambda f: ["bench", fx.onnx, *QUICK, *flags]

    export = ["export", "demo_resnet", *SHAPE, "--to", "onnx", "-o", "out"]
    rows = [
        ("bench --limit -395", bench("--limit", "-395")),
        ("bench --threads 0", bench("--threads", "0")),
        ("bench --iters -5", bench("--iters", "-5")),
        ("bench --warmup -1", bench("--warmup", "-1")),
        ("bench --timeout 0", bench("--timeout", "0")),
        ("bench --min-time nan", bench("--min-time", "nan")),
        ("bench --max-time -1", bench("--max-time", "-1")),
        ("bench --batch 0", bench("--batch", "0")),
        ("export --verify-samples 0", [*export, "--verify-samples", "0"]),
        ("export --atol -1", [*export, "--atol", "-1"]),
        ("export --atol nan", [*export, "--atol", "nan"]),
        ("export --min-agreement 2", [*export, "--min-agreement", "2"]),
        ("export --min-cosine nan", [*export, "--min-cosine", "nan"]),
        ("export --opset 99", [*export, "--opset", "99"]),
        ("export --opset 1", [*export, "--opset", "1"]),
        ("calibrate --samples 3 (INT8 needs >= 8)", ["calibrate", "digits", "--samples", "3"]),
        ("calibrate --samples -1", ["calibrate", "digits", "--samples", "-1"]),
        (
            "finetune --lr -1",
            ["finetune", "demo_resnet", *SHAPE, "--data", "digits", "--lr", "-1", "-o", "o.pt2"],
        ),
        (
            "finetune --epochs 0",
            ["finetune", "demo_resnet", *SHAPE, "--data", "digits", "--epochs", "0", "-o", "o.pt2"],
        ),
    ]
    return [Case("options", name, argv) for name, argv in rows]


def all_cases(root: Path) -> list[Case]:
    """Every case, in section order (fixtures are built when a case first needs them)."""
    from hostile_faults import writes_cases
    from hostile_files import data_cases, trust_cases

    root.mkdir(parents=True, exist_ok=True)
    fx = Fixtures(root)
    fx.onnx, fx.results, fx.single, fx.pt2  # noqa: B018 (built before cases run side by side)
    return [
        *trust_cases(fx),
        *writes_cases(fx),
        *gate_cases(fx),
        *data_cases(fx),
        *options_cases(fx),
    ]
