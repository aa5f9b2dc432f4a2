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
from tests.security.conftest import files_under


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


def _h5(path: Path, build) -> Path:
    import h5py

    with h5py.File(path, "w") as handle:
        build(handle)
    return path


def test_keras_h5_bomb_is_refused_before_keras_reads_it(tmp_path, cli, refused):
    """A 2 GiB dataset of compressed zeros in a file of a few kB: refused from its metadata."""

    def bomb(handle):
        weights = handle.create_dataset(
            "model_weights/dense/kernel",
            (2**14, 2**15),
            "float32",
            chunks=(1024, 1024),
            compression="gzip",
        )
        weights[:1024, :1024] = 0.0  # one chunk written: the rest is the fill value
        handle.attrs["model_config"] = "{}"

    path = _h5(tmp_path / "m.h5", bomb)
    assert path.stat().st_size < 2**20
    out = tmp_path / "out"
    start = time.monotonic()
    refused(cli("export", path, "--to", "onnx", "-o", out), out, "HDF5 bomb", "m.h5")
    assert time.monotonic() - start < 10
    assert not (tmp_path / "out").exists() or files_under(tmp_path / "out") == []


def test_h5_object_count_and_outside_links_are_refused(tmp_path):
    import h5py

    from deploykit.untrusted import check_h5

    many = _h5(tmp_path / "many.h5", lambda h: [h.create_group(f"g{i}") for i in range(20)])
    with pytest.raises(DeployKitError, match="over 10 objects"):
        check_h5(many, "many.h5", max_objects=10)
    check_h5(many, "many.h5", max_objects=20)  # at the cap: fine
    secret = tmp_path / "secret.bin"
    secret.write_bytes(bytes(64))

    def external(handle):
        handle.create_dataset("w", (16,), "float32", external=[(str(secret), 0, 64)])

    with pytest.raises(DeployKitError, match="w keeps its data in another file"):
        check_h5(_h5(tmp_path / "ext.h5", external), "ext.h5")

    def link(handle):
        handle["w"] = h5py.ExternalLink(str(tmp_path / "many.h5"), "/g0")

    with pytest.raises(DeployKitError, match="w links to"):
        check_h5(_h5(tmp_path / "link.h5", link), "link.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(DeployKitError, match="not a readable HDF5 file"):
        check_h5(tmp_path / "text.h5", "text.h5")


def test_a_real_keras_h5_passes_the_check_and_loads(keras_digits, tmp_path):
    from deploykit.sources import SourceOptions, load_model
    from deploykit.tensorflow_compat import import_keras
    from deploykit.untrusted import check_h5

    keras = import_keras()
    path = tmp_path / "digits.h5"
    keras.models.load_model(keras_digits, compile=False).save(path)
    check_h5(path, "digits.h5")
    loaded = load_model(str(path), SourceOptions())
    assert loaded.kind == "keras" and loaded.num_classes == 10
