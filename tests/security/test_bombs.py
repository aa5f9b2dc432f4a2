"""Archives and YAML that expand past sane sizes are refused in one line, before expanding."""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from deploykit.errors import DeployKitError
from deploykit.untrusted import load_yaml


def _zip_bomb(path: Path, entry: str, mib: int = 128) -> Path:
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open(entry, "w") as fh,
    ):
        for _ in range(mib):
            fh.write(bytes(2**20))
    return path


def test_keras_zip_bomb_is_refused_before_keras_extracts_it(tmp_path, cli, refused):
    bomb = _zip_bomb(tmp_path / "m.keras", "model.weights.h5")
    out = tmp_path / "out"
    start = time.monotonic()
    refused(cli("export", bomb, "--to", "onnx", "-o", out), out, "zip bomb")
    assert time.monotonic() - start < 10


def test_npz_zip_bomb_is_refused(tmp_path, cli, refused):
    bomb = _zip_bomb(tmp_path / "d.npz", "x.npy")
    out = tmp_path / "out"
    refused(cli("bench", "demo_resnet", "--data", bomb, "-o", out), out, "zip bomb")


def test_calibration_meta_must_be_an_object(tmp_path):
    from deploykit.calibration import load_calibration
    from deploykit.spec import InputSpec

    path = tmp_path / "c.npz"
    np.savez(path, x=np.zeros((8, 3, 8, 8), np.float32), meta=json.dumps([1, 2]))
    with pytest.raises(DeployKitError, match="not an object"):
        load_calibration(path, InputSpec(shape=(1, 3, 8, 8)))


ALIAS_BOMB = "\n".join(
    [
        'a: &a ["x","x","x","x","x","x","x","x","x"]',
        *(
            f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]"
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        ),
    ]
)


def test_yaml_alias_bomb_is_refused_quickly(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text(ALIAS_BOMB)
    assert path.stat().st_size < 1000
    start = time.monotonic()
    with pytest.raises(DeployKitError, match="aliases expand to") as info:
        load_yaml(path, f"suite {path}")
    assert time.monotonic() - start < 2 and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: &a [*a]\n", "refers to itself"),
        ("a: [1\n", "line 2"),
        ("[" * 1500, "nested too deeply|line"),
    ],
)
def test_yaml_oddities_are_one_line(text, message, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(DeployKitError, match=message):
        load_yaml(path, "suite")


def test_yaml_aliases_within_the_cap_still_load(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("base: &b {iters: 5}\nmodels: [a, b]\ntiming: *b\n")
    assert load_yaml(path, "suite") == {
        "base": {"iters": 5},
        "models": ["a", "b"],
        "timing": {"iters": 5},
    }


def test_weights_zip_bomb_is_refused(tmp_path, cli, refused):
    bomb = _zip_bomb(tmp_path / "w.pt", "archive/data/0")
    out = tmp_path / "out"
    result = cli("export", "demo_resnet", "--weights", bomb, "--to", "onnx", "-o", out)
    refused(result, out, "zip bomb")
