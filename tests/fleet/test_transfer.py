"""Artifacts shipped to a device: hashed, checked on arrival, cached once."""

from __future__ import annotations

import pytest

from deploykit.errors import InputError
from deploykit.fleet.transfer import pack, unpack
from deploykit.manifest import read_manifest


def test_artifact_and_manifest_arrive_intact(digits_onnx, tmp_path):
    packed, data = pack(digits_onnx)
    path = unpack(packed.to_dict(), data, tmp_path)
    assert path.read_bytes() == digits_onnx.read_bytes()
    assert path.parent.name == packed.sha256 and path.name == digits_onnx.name
    assert read_manifest(path).sha256 == packed.sha256  # the manifest travelled too
    mtime = path.stat().st_mtime_ns
    assert unpack(packed.to_dict(), data, tmp_path) == path  # second arrival: cache hit
    assert path.stat().st_mtime_ns == mtime


def test_corrupted_bytes_are_refused(digits_onnx, tmp_path):
    packed, data = pack(digits_onnx)
    flipped = bytes([data[0] ^ 1]) + data[1:]
    with pytest.raises(InputError, match="arrived corrupted"):
        unpack(packed.to_dict(), flipped, tmp_path)
    assert not (tmp_path / "artifacts").exists() or not any(
        (tmp_path / "artifacts").rglob("*.onnx")
    )


def test_a_name_never_escapes_the_cache(digits_onnx, tmp_path):
    packed, data = pack(digits_onnx)
    hostile = {**packed.to_dict(), "name": "../../escape.onnx"}
    path = unpack(hostile, data, tmp_path / "cache")
    assert path.resolve().is_relative_to((tmp_path / "cache").resolve())
