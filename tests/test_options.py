"""Options are declared once: the CLI, suites, range checks and README all come from the fields."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest
import typer

from deploykit.bench.api import BenchConfig
from deploykit.bench.compare import Tolerances
from deploykit.bench.suite import SUITE_KEYS, load_suite
from deploykit.bench.timing import TimingConfig
from deploykit.cli import app
from deploykit.cli.docs import BLOCK, render
from deploykit.errors import InputError
from deploykit.export import ExportRequest
from deploykit.finetune import FinetuneRequest
from deploykit.options import cli_options, default_of, flag_of, help_text, suite_keys
from deploykit.prune import PruneConfig
from deploykit.sources import SourceOptions
from deploykit.targets import TARGETS

ROOT = Path(__file__).resolve().parents[1]
# Each verb and the declared dataclasses its flags come from.
VERBS = {
    "export": (ExportRequest, SourceOptions),
    "bench": (BenchConfig,),
    "prune": (PruneConfig, SourceOptions),
    "finetune": (FinetuneRequest, SourceOptions),
    "compare": (Tolerances,),
}


def _command(verb: str):
    return typer.main.get_command(app).commands[verb]


def _declared(classes) -> dict[str, object]:
    return {c.name: c for cls in classes for c in cli_options(cls)}


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_every_declared_option_is_on_the_command_with_its_default_and_help(verb):
    params = {p.name: p for p in _command(verb).params}
    for name, cli in _declared(VERBS[verb]).items():
        if verb in ("prune", "finetune") and name in ("trust_code", "num_classes"):
            continue  # each leaves out the one SourceOptions field that means something else there
        assert name in params, f"{verb} lacks --{name}"
        param = params[name]
        assert flag_of(cli.field, cli.opt) in param.opts
        assert help_text(cli.opt) in param.help
        if verb != "compare":  # compare's tolerances default to the baseline's
            default = default_of(cli.field)
            if isinstance(default, tuple):
                default = ",".join(map(str, default)) or None
            assert param.default == (None if default == {} else default), name


def test_no_cli_module_hand_writes_an_option_a_dataclass_declares():
    declared = {c.name for classes in VERBS.values() for c in _declared(classes).values()}
    for path in (ROOT / "deploykit" / "cli").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                own = {
                    a.arg
                    for a in node.args.args + node.args.kwonlyargs
                    if a.annotation is not None and "typer.Option(" in ast.unparse(a.annotation)
                }
                assert not own & declared, (path.name, own & declared)


def test_suites_accept_exactly_the_declared_keys(tmp_path):
    keys = set(suite_keys(BenchConfig))
    assert {"data", "backends", "batch", "threads", "timing", "limit", "timeout_s"} <= keys
    assert "isolate" not in keys and "source" not in keys  # command-line matters only
    suite = tmp_path / "s.yaml"
    timing = ", ".join(f"{k}: 1" for k in suite_keys(TimingConfig))
    suite.write_text(f"models: [demo_resnet]\ntiming: {{{timing}}}\nbatch: [1, 2]\nthreads: 1\n")
    config = load_suite(suite).config
    assert config.timing.min_iters == 1 and config.batch_sizes == (1, 2) and config.threads == 1
    export_keys = set(suite_keys(ExportRequest))
    assert "out_dir" not in export_keys and "name" not in export_keys
    assert {"target", "precision", "opset", "calib", "calib_method", "options"} <= export_keys
    assert set(SUITE_KEYS).isdisjoint(keys)


def test_command_line_options_override_a_suite_only_where_given(tmp_path):
    suite = tmp_path / "s.yaml"
    suite.write_text("models: [demo_resnet]\nthreads: 1\ntimeout_s: 30\ntiming: {min_iters: 7}\n")
    config = load_suite(suite, overrides=BenchConfig(timeout_s=12.0)).config
    assert (config.timeout_s, config.threads, config.timing.min_iters) == (12.0, 1, 7)


@pytest.mark.parametrize(
    ("build", "fragment"),
    [
        (lambda: BenchConfig(limit=-395), "--limit: -395 is out of range"),
        (lambda: BenchConfig(threads=0), "--threads: 0 is out of range"),
        (lambda: BenchConfig(timeout_s=0), "--timeout: 0 is out of range"),
        (lambda: BenchConfig(timeout_s=float("inf")), "--timeout: inf is not a finite number"),
        (lambda: BenchConfig(backends=("tvm",)), "--backend: unknown value 'tvm'"),
        (lambda: ExportRequest(verify_samples=0), "--verify-samples: 0 is out of range"),
        (lambda: ExportRequest(opset=1), "--opset: 1 is out of range"),
        (lambda: ExportRequest(name="../x"), "--name '../x' is not a plain file name"),
        (lambda: ExportRequest(name="/abs/x"), "is not a plain file name"),
        (lambda: ExportRequest(options={"io": "int8"}), "onnx has no option 'io'"),
        (lambda: ExportRequest(target="trt", options={"workspace": 0}), "--option workspace"),
        (lambda: Tolerances(alpha=float("nan")), "--alpha: nan is not a finite number"),
        (lambda: Tolerances(latency=-0.9), "--latency-tolerance: -0.9 is out of range"),
        (lambda: Tolerances(alpha=7), "--alpha: 7 is out of range"),
        (lambda: SourceOptions(num_classes=0), "--num-classes: 0 is out of range"),
        (lambda: FinetuneRequest(num_classes=-1), "--num-classes"),
    ],
)
def test_ranges_choices_and_finiteness_are_checked_where_declared(build, fragment):
    with pytest.raises(InputError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        build()


def test_cli_range_errors_are_one_line_before_any_work(cli, user_error, tmp_path):
    cases = [
        (("bench", "demo_resnet", "--iters", "-5"), "--iters: -5 is out of range"),
        (("bench", "demo_resnet", "--limit", "-395"), "--limit: -395 is out of range"),
        (("bench", "demo_resnet", "--timeout", "0"), "--timeout: 0 is out of range"),
        (("export", "demo_resnet", "--verify-samples", "0"), "--verify-samples: 0"),
        (("export", "demo_resnet", "--atol", "-1"), "--atol: -1 is out of range"),
        (("export", "demo_resnet", "--min-agreement", "2"), "--min-agreement: 2 is out of range"),
        (("export", "demo_resnet", "--opset", "99"), "--opset: 99 is out of range"),
        (("export", "demo_resnet", "--name", "../../x"), "is not a plain file name"),
        (("finetune", "demo_resnet", "--lr", "-1"), "--lr: -1 is out of range"),
        (("calibrate", "digits", "--samples", "3"), "--samples: 3 is out of range"),
        (("compare", "r.json", "--baseline", "b.json", "--alpha", "nan"), "--alpha: nan"),
    ]
    for args, fragment in cases:
        user_error(
            cli(*args, "-o", tmp_path / "out") if args[0] == "export" else cli(*args), fragment
        )
    assert not (tmp_path / "out").exists()


def test_target_options_are_declared_in_the_capability_table():
    for target in TARGETS.values():
        resolved = target.resolve_options({})
        assert set(resolved) == {o.key for o in target.options}
        for item in target.options:
            assert item.opt.help, (target.name, item.key)


def test_every_declared_field_has_help():
    for classes in VERBS.values():
        for cls in classes:
            for field in dataclasses.fields(cls):
                opt = field.metadata.get("deploykit.option")
                assert opt is not None and opt.help, (cls.__name__, field.name)


def test_readme_options_tables_are_current():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    verbs = {m[2] for m in BLOCK.finditer(text)}
    assert set(VERBS) <= verbs
    assert render(text) == text, "README options tables are stale: python -m deploykit.cli.docs"
