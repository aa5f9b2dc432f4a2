"""Hostile ``.pt2`` archives: nothing in them runs unless the user passes --trust-pickle.

Each archive is a real ``torch.export.save`` output, rewritten the way an attacker
would. Where the payload can really run, the test also shows that ``--trust-pickle``
lets it run (the marker file appears): the refusal is what stopped it.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tests.security.hostile import (
    WritesMarker,
    edit_json,
    plain_pickle,
    rewrite,
    save_small_program,
    torch_pickle,
)

WEIGHTS = "data/weights/model_weights_config.json"
CONSTANTS = "data/constants/model_constants_config.json"
SAMPLE = "data/sample_inputs/model.pt"
MODEL = "models/model.json"


@pytest.fixture(scope="module")
def program(tmp_path_factory) -> Path:
    return save_small_program(tmp_path_factory.mktemp("pt2") / "tiny.pt2")


def _pickled_weight(doc: dict) -> None:
    doc["config"]["0.weight"]["use_pickle"] = True


def _extra_constant(path_name: str, use_pickle: bool):
    def change(doc: dict) -> None:
        doc["config"]["evil"] = {
            "path_name": path_name,
            "is_param": False,
            "use_pickle": use_pickle,
        }

    return change


def _replace_exprs(payload: str):
    def change(doc) -> None:
        if isinstance(doc, dict):
            for key, value in doc.items():
                if key == "expr_str":
                    doc[key] = payload
                else:
                    change(value)
        elif isinstance(doc, list):
            for value in doc:
                change(value)

    return change


def _hostile(marker: Path) -> dict[str, dict]:
    """Archive edits by case name; each would write ``marker`` when loaded or run."""
    evil = WritesMarker(marker)
    return {
        "use_pickle weight": {
            WEIGHTS: edit_json(_pickled_weight),
            "data/weights/weight_0": torch_pickle(evil),
        },
        "use_pickle constant": {
            CONSTANTS: edit_json(_extra_constant("tensor_9", True)),
            "data/constants/tensor_9": torch_pickle(evil),
        },
        "opaque object constant": {
            CONSTANTS: edit_json(_extra_constant("opaque_obj_0", True)),
            "data/constants/opaque_obj_0": plain_pickle(evil),
        },
        "sample inputs": {SAMPLE: torch_pickle(((evil,), {}))},
        "legacy weights file": {"data/weights/model.pt": torch_pickle({"0.weight": evil})},
        "sympy expression": {
            MODEL: edit_json(_replace_exprs(f"Symbol('s0') + (0 if open('{marker}', 'w') else 0)"))
        },
        "guards code": {
            MODEL: edit_json(
                lambda doc: doc.update(guards_code=[f"open('{marker}', 'w') is not None"])
            )
        },
    }


CASES = {
    "use_pickle weight": "data/weights/weight_0",
    "use_pickle constant": "data/constants/tensor_9",
    "opaque object constant": "data/constants/opaque_obj_0",
    "sample inputs": "weights_only=True",
    "legacy weights file": "data/weights/model.pt",
    "sympy expression": "models/model.json",
    "guards code": "models/model.json",
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_entry_is_refused_and_never_runs(case, program, tmp_path, cli, refused):
    marker = tmp_path / "MARKER"
    hostile = rewrite(program, tmp_path / "hostile.pt2", _hostile(marker)[case])
    out = tmp_path / "out"
    result = cli("export", hostile, "--to", "onnx", "-o", out, "--no-verify")
    refused(result, out, CASES[case], "--trust-pickle")
    assert not marker.exists()
    if case in ("use_pickle weight", "sample inputs", "sympy expression"):
        # The payload is real: trusting the file runs it (the load then fails or not).
        cli("export", hostile, "--to", "onnx", "-o", out, "--no-verify", "--trust-pickle")
        assert marker.exists(), case


@pytest.mark.parametrize(
    ("case", "edits", "fragment"),
    [
        (
            "custom object constant",
            {
                CONSTANTS: edit_json(_extra_constant("custom_obj_0", False)),
                "data/constants/custom_obj_0": b"x",
            },
            "pickled Python object",
        ),
        ("compiled code", {"data/aotinductor/model/model.so": b"\x7fELF"}, "AOTInductor"),
        (
            "python callable as node target",
            {
                MODEL: edit_json(
                    lambda d: d["graph_module"]["graph"]["nodes"][0].update(
                        target="torch.os.system"
                    )
                )
            },
            "torch.os.system",
        ),
    ],
)
def test_code_bearing_entries_are_refused(case, edits, fragment, program, tmp_path, cli, refused):
    hostile = rewrite(program, tmp_path / "hostile.pt2", edits)
    out = tmp_path / "out"
    refused(cli("export", hostile, "--to", "onnx", "-o", out), out, fragment, "--trust-pickle")


def test_trust_pickle_accepts_a_pickled_weight(program, tmp_path, cli, refused):
    import torch

    from deploykit.sources import SourceOptions, load_model

    weight = load_model(str(program)).model.state_dict()["0.weight"]
    edits = {
        WEIGHTS: edit_json(_pickled_weight),
        "data/weights/weight_0": torch_pickle(torch.nn.Parameter(weight.clone())),
    }
    pickled = rewrite(program, tmp_path / "pickled.pt2", edits)
    out = tmp_path / "out"
    refused(cli("inspect", pickled), out, "data/weights/weight_0", "--trust-pickle")
    loaded = load_model(str(pickled), SourceOptions(trust_pickle=True))
    assert torch.equal(loaded.model.state_dict()["0.weight"], weight)


@pytest.mark.parametrize(
    "verb",
    [
        ("inspect", "{model}"),
        ("bench", "{model}", "-o", "{out}", "--iters", "3"),
        ("prune", "{model}", "--ratio", "0.5", "-o", "{out}"),
        ("finetune", "{model}", "--data", "digits", "--num-classes", "10", "-o", "{out}/f.pt2"),
    ],
    ids=lambda v: v[0],
)
def test_every_verb_checks_the_archive(verb, program, tmp_path, cli, refused):
    marker = tmp_path / "MARKER"
    hostile = rewrite(program, tmp_path / "hostile.pt2", _hostile(marker)["use_pickle weight"])
    out = tmp_path / "out"
    args = [a.format(model=hostile, out=out) for a in verb]
    refused(cli(*args), out, "data/weights/weight_0", "--trust-pickle")
    assert not marker.exists()


def test_suite_items_are_checked(program, tmp_path, cli, refused):
    marker = tmp_path / "MARKER"
    hostile = rewrite(program, tmp_path / "hostile.pt2", _hostile(marker)["use_pickle weight"])
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"models: [{hostile}]\n")
    out = tmp_path / "out"
    refused(cli("bench", "--suite", suite, "-o", out), out, "data/weights/weight_0")
    assert not marker.exists()


def test_zip_bomb_is_refused_before_extraction(program, tmp_path, cli, refused):
    bomb = rewrite(program, tmp_path / "bomb.pt2", {})
    with zipfile.ZipFile(bomb, "a", zipfile.ZIP_DEFLATED) as archive:
        root = archive.namelist()[0].split("/", 1)[0]
        with archive.open(f"{root}/extra/pad", "w") as fh:
            for _ in range(128):
                fh.write(bytes(2**20))
    assert bomb.stat().st_size < 2**20
    out = tmp_path / "out"
    refused(cli("export", bomb, "--to", "onnx", "-o", out), out, "zip bomb")


def test_untouched_program_still_loads_and_exports(program, tmp_path, cli):
    out = tmp_path / "out"
    result = cli("export", program, "--to", "onnx", "-o", out, "--verify-samples", "4")
    assert result.code == 0, result.stderr
    assert (out / "tiny.onnx").is_file() and (out / "tiny.json").is_file()
