"""The embedded default: train two small CNNs on digits, prune, export, benchmark, on the CPU.

Each step builds on the previous one's artifacts; optional steps run when their
framework is installed (TFLite with the ``tflite`` extra, OpenVINO with ``openvino``)
and are otherwise reported as skipped, never crashed on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploykit.bench import BenchConfig, BenchRun, TimingConfig, run_bench
from deploykit.export import ExportRequest, export_model
from deploykit.optional import available
from deploykit.options import check_options, option
from deploykit.sources import LoadedModel
from deploykit.train import Progress, TrainConfig

DEMO_MODELS = ("demo_resnet", "demo_mobilenet_v2")
Say = Callable[[str], None]


@dataclass(frozen=True)
class DemoConfig:
    """Demo settings.

    Attributes:
        out_dir: where artifacts, manifests and ``results.json`` go.
        models: registry names of the seed models to train.
        epochs: training epochs on digits (cached per epoch count).
        prune_epochs: fine-tuning epochs after pruning half the channels.
        calib_samples: calibration images for INT8.
        threads: runner threads (None: backend defaults).
        min_time: timed seconds per cell (see ``timing``).
    """

    out_dir: Path = option(Path("demo-out"), "Output directory.", flag="--out", short="-o")
    models: tuple[str, ...] = option(DEMO_MODELS, "Seed models to train, comma-separated.")
    epochs: int = option(8, "Training epochs on digits (cached per epoch count).", min=1)
    prune_epochs: int = option(20, "Fine-tuning epochs after pruning half the channels.", min=0)
    calib_samples: int = option(256, "Calibration images for INT8.", min=8)
    threads: int | None = option(None, "Runner threads (default: each backend's).", min=1)
    min_time: float = option(1.0, "Timed seconds per cell.", min=0, unit="s")

    def __post_init__(self) -> None:
        check_options(self)

    @property
    def timing(self) -> TimingConfig:
        """Short warm-up and at least 30 timed runs: enough for a demo's ranking."""
        return TimingConfig(warmup_iters=5, warmup_s=0.2, min_iters=30, min_s=self.min_time)


@dataclass
class DemoResult:
    """The merged benchmark run and what was skipped, with reasons."""

    run: BenchRun
    skipped: list[str]


def _artifacts(
    loaded: LoadedModel,
    config: DemoConfig,
    calib: Path,
    say: Say,
    skipped: list[str],
    progress: Progress | None,
) -> list[str]:
    """Export every artifact the installed toolchain allows; return bench items, torch first."""
    from deploykit.sources.pt2 import save_program

    out = config.out_dir / loaded.name
    pt2 = save_program(
        loaded.model,
        loaded.spec,
        out / f"{loaded.name}.pt2",
        source=loaded.source,
        num_classes=loaded.num_classes,
    )
    items = [str(pt2)]
    requests = [
        ExportRequest(out_dir=out, force=True),
        ExportRequest(out_dir=out, force=True, precision="fp16"),
        _int8_request(out, loaded.name, calib),
    ]
    if available("tensorflow"):
        requests += [
            ExportRequest(out_dir=out, force=True, target="tflite"),
            ExportRequest(out_dir=out, force=True, target="tflite", precision="fp16"),
            ExportRequest(out_dir=out, force=True, target="tflite", precision="int8", calib=calib),
        ]
    else:
        skipped.append('TFLite rows: TensorFlow is not installed (pip install "deploykit[tflite]")')
    for request in requests:
        say(f"exporting {loaded.name} to {request.target} {request.precision}")
        items.append(str(export_model(loaded, request).artifact))
    return items + _pruned_artifacts(loaded, config, calib, say, progress)


def _int8_request(out: Path, name: str, calib: Path) -> ExportRequest:
    """INT8 as the demo builds it: it runs its artifacts where it builds them, so 7-bit
    weights on a CPU without VNNI; named ``<name>_int8`` on every CPU all the same.

    Not verified at export: the bench that follows judges every row on the whole test split
    (agreement with the torch model, paired top-1 test), and a short ``--epochs`` or
    ``--prune-epochs`` run (the README test's ``--epochs 1 --prune-epochs 1``: 87.5 % agreement
    on 32 images) must end in that table, not in an export error.
    """
    from deploykit.runners.cpu import local_int8_weights

    options = {"weights": local_int8_weights()}
    return ExportRequest(
        out_dir=out,
        name=f"{name}_int8",
        force=True,
        precision="int8",
        calib=calib,
        options=options,
        verify=False,
    )


def _pruned_artifacts(
    loaded: LoadedModel, config: DemoConfig, calib: Path, say: Say, progress: Progress | None
) -> list[str]:
    """Half the channels pruned and fine-tuned: the .pt2, its FP32 and its INT8 ONNX."""
    from deploykit.prune import PruneConfig, prune, save
    from deploykit.sources import load_model

    say(f"pruning 50 % of {loaded.name}'s channels and fine-tuning on digits")
    settings = PruneConfig(
        ratio=0.5,
        finetune="digits",
        epochs=config.prune_epochs,
        measure_latency=False,
        threads=config.threads,
        force=True,
    )
    out = config.out_dir / loaded.name
    pt2 = save(prune(loaded, settings, progress=progress), out / f"{loaded.name}-p50.pt2")
    pruned = load_model(str(pt2))
    items = [str(pt2)]
    for request in (
        ExportRequest(out_dir=out, force=True),
        _int8_request(out, pruned.name, calib),
    ):
        say(f"exporting the pruned {loaded.name} to onnx {request.precision}")
        items.append(str(export_model(pruned, request).artifact))
    return items


def run_demo(
    config: DemoConfig | None = None,
    say: Say | None = None,
    progress: Progress | None = None,
    on_cell: Callable[[Any, int, int], None] | None = None,
) -> DemoResult:
    """Train, export and benchmark the demo models; write ``results.json``.

    Args:
        config: demo settings (defaults when None).
        say: called with a short line before each step (progress display).
        progress: called as ``progress(step, total, loss)`` while training and fine-tuning.
        on_cell: called as ``on_cell(cell, done, total)`` as benchmark cells finish.
    """
    from deploykit.calibration import make_calibration_set
    from deploykit.zoo.trained import load_trained

    config = config or DemoConfig()
    say = say or (lambda _text: None)
    skipped: list[str] = []
    backends = ["torch", "onnxruntime"] + (["litert"] if available("tensorflow") else [])
    if available("openvino"):
        backends.append("openvino")
    else:
        skipped.append(
            'OpenVINO rows: OpenVINO is not installed (pip install "deploykit[openvino]")'
        )
    say("drawing a calibration set from digits")
    calib = make_calibration_set(
        "digits", config.calib_samples, 0, config.out_dir / f"digits-{config.calib_samples}.npz"
    )
    runs = []
    for name in config.models:
        say(f"training {name} on digits (cached after the first run)")
        train = TrainConfig(epochs=config.epochs, threads=config.threads)
        loaded = load_trained(name, train, progress)
        items = _artifacts(loaded, config, calib, say, skipped, progress)
        bench = BenchConfig(backends=tuple(backends), threads=config.threads, timing=config.timing)
        runs.append(
            run_bench(
                items, bench, progress=lambda text: say(f"benchmarking {text}"), on_cell=on_cell
            )
        )
    merged = BenchRun(
        [c for r in runs for c in r.cells],
        runs[0].environment,
        {**runs[0].config, "items": [i for r in runs for i in r.config["items"]]},
    )
    merged.write_json(config.out_dir / "results.json")
    return DemoResult(merged, skipped)
