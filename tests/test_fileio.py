import json

import pytest

from deploykit.errors import InputError
from deploykit.fileio import atomic_path, ensure_dir, sha256_file, write_json_atomic


def test_atomic_path_renames_on_success(tmp_path):
    final = tmp_path / "sub" / "model.onnx"
    with atomic_path(final) as tmp:
        assert tmp.suffix == ".onnx" and tmp.parent == final.parent
        tmp.write_bytes(b"abc")
        assert not final.exists()
    assert final.read_bytes() == b"abc"
    assert list(final.parent.iterdir()) == [final]


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    final = tmp_path / "model.onnx"
    final.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(final) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("boom")
    assert final.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [final]


def test_ensure_dir_refuses_a_file(tmp_path):
    blocker = tmp_path / "out"
    blocker.write_text("x")
    with pytest.raises(InputError, match="is a file"):
        ensure_dir(blocker)


def test_json_and_hash(tmp_path):
    path = write_json_atomic(tmp_path / "a.json", {"b": [1, 2]})
    assert json.loads(path.read_text()) == {"b": [1, 2]}
    assert sha256_file(path) == __import__("hashlib").sha256(path.read_bytes()).hexdigest()
