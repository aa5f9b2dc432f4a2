"""Cases of benchmarks/hostile.py for hostile files (1), writes and faults (2) and bad data (4)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
from hostile import Case, Outcome
from hostile_cases import QUICK, Fixtures

from tests.security.hostile import (  # hostile.py puts the repo on sys.path
    WritesMarker,
    torch_pickle,
)

NONZERO = tuple(range(2, 128))  # any failure exit but 1, which compare keeps for regressions
EXPORT = ("--to", "onnx", "-o", "out")


def rewrite_zip(src: Path, dst: Path, edits: dict[str, bytes]) -> Path:
    """Copy zip ``src`` to ``dst`` with the entries ending in each key replaced."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            for suffix, new in edits.items():
                if info.filename.endswith(suffix):
                    data = new
            zout.writestr(info.filename, data)
    return dst


def hostile_pt2(fx: Fixtures, folder: Path, where: str) -> Path:
    """A .pt2 whose ``weights`` entry (use_pickle) or ``sample_inputs`` runs a payload."""
    payload = torch_pickle(WritesMarker(folder / "MARKER"))
    clean = fx.pt2
    if where == "sample_inputs":
        edits = {"data/sample_inputs/model.pt": payload}
    else:
        with zipfile.ZipFile(clean) as z:
            name = next(n for n in z.namelist() if n.endswith("model_weights_config.json"))
            config = json.loads(z.read(name))
        entry = config["config"]["0.weight"]
        entry["use_pickle"] = True
        edits = {
            "model_weights_config.json": json.dumps(config).encode(),
            f"weights/{entry['path_name']}": payload,
        }
    return rewrite_zip(clean, folder / "model.pt2", edits)


def no_marker(out: Outcome) -> str | None:
    return "payload ran (marker written)" if (out.case_dir / "MARKER").exists() else None


def zip_bomb(path: Path, gib: float = 2.0, entries: int = 1) -> Path:
    """A zip whose entries expand to ``gib`` GiB of zeros (about 2 MB on disk per GiB)."""
    chunk = bytes(1 << 24)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", json.dumps({"class_name": "Functional", "config": {}}))
        z.writestr("metadata.json", json.dumps({"keras_version": "3.0.0"}))
        with z.open("model.weights.h5", "w", force_zip64=True) as fh:
            for _ in range(int(gib * 64)):
                fh.write(chunk)
        for i in range(entries - 1):
            z.writestr(f"assets/{i}", b"")
    return path


def bomb(name: str, file: str, gib: float = 2.0, entries: int = 1) -> Case:
    """``deploykit export`` of a zip bomb: refused in one line for its size, before expanding."""
    argv = lambda f: ["export", zip_bomb(f / file, gib, entries), *EXPORT]  # noqa: E731
    return Case("trust", name, argv, check=says_too_big, timeout=120)


def h5_bomb(path: Path, gib: float = 2.0) -> Path:
    """A Keras-looking HDF5 file declaring ``gib`` GiB of weights in a few kB (unwritten chunks)."""
    import h5py

    side = int((gib * 2**28) ** 0.5)  # float32: gib GiB in a side x side matrix
    with h5py.File(path, "w") as handle:
        handle.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {}})
        kernel = handle.create_dataset(
            "model_weights/dense/dense/kernel:0", (side, side), "float32", chunks=(256, 256)
        )
        kernel[:256, :256] = 1.0
    return path


def says_too_big(out: Outcome) -> str | None:
    """The refusal names the size or count (not an unrelated error after expanding it)."""
    words = ("bomb", "uncompressed", "entries", "expand", "pixels")  # the files' names have none
    return None if any(w in out.stderr.lower() for w in words) else "not refused for its size"


def quick(seconds: float):
    def check(out: Outcome) -> str | None:
        return f"took {out.seconds:.0f} s" if out.seconds > seconds else None

    return check


def trust_cases(fx: Fixtures) -> list[Case]:
    """Section 1: nothing is unpickled or expanded without a flag and a cap."""

    def pt2(verb: list[str], where: str = "weights"):
        return lambda f: [verb[0], hostile_pt2(fx, f, where), *verb[1:]]

    def pickled(folder: Path) -> Path:
        path = folder / "model.pt"
        path.write_bytes(torch_pickle(WritesMarker(folder / "MARKER")))
        return path

    def suite_with_trust(folder: Path) -> list:
        pickled(folder)
        (folder / "s.yaml").write_text(
            "models: [{ref: model.pt, trust_pickle: true, num_classes: 10}]\nlimit: 8\n"
        )
        return ["bench", "--suite", folder / "s.yaml", "-o", "out"]

    def trust_announced(out: Outcome) -> str | None:
        said = "unpickl" in out.stderr.lower() or "trust" in out.stderr.lower()
        return None if no_marker(out) is None or said else "unpickled without a word"

    def external(folder: Path) -> list:
        import onnx

        model = onnx.load(fx.onnx)
        tensor = max(model.graph.initializer, key=lambda t: len(t.raw_data))
        tensor.ClearField("raw_data")
        tensor.data_location = onnx.TensorProto.EXTERNAL
        entry = tensor.external_data.add()
        entry.key, entry.value = "location", "../../../../../../etc/hostname"
        onnx.save(model, folder / "m.onnx")
        return ["bench", folder / "m.onnx", *QUICK]

    def yaml_bomb(folder: Path) -> list:
        """Billion laughs: under 1 KB of YAML, 9**9 strings once its aliases are expanded."""
        lines = ['- &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
        for i in range(1, 10):
            ref = ",".join([f"*a{i - 1}"] * 9)
            lines.append(f"- &a{i} [{ref}]")
        (folder / "laughs.yaml").write_text("\n".join(lines) + "\n")
        return ["bench", "--suite", folder / "laughs.yaml", "-o", "out"]

    return [
        Case("trust", ".pt2 use_pickle weight: export", pt2(["export", *EXPORT]), check=no_marker),
        Case(
            "trust",
            ".pt2 pickled sample_inputs: export",
            pt2(["export", *EXPORT], "sample_inputs"),
            check=no_marker,
        ),
        Case("trust", ".pt2 use_pickle weight: bench", pt2(["bench", *QUICK]), check=no_marker),
        Case("trust", ".pt2 use_pickle weight: inspect", pt2(["inspect"]), check=no_marker),
        Case(
            "trust",
            ".pt2 use_pickle weight: prune",
            pt2(["prune", "--ratio", "0.5", "-o", "out"]),
            check=no_marker,
        ),
        Case(
            "trust",
            "whole-model .pt pickle without --trust-pickle",
            lambda f: ["export", pickled(f), *EXPORT],
            check=no_marker,
        ),
        Case(
            "trust",
            "suite sets trust_pickle: true, command line does not",
            suite_with_trust,
            expect=(0, 2),
            check=trust_announced,
        ),
        bomb(".keras zip bomb (2 GiB of zeros)", "z.keras"),
        bomb(".keras with 200 000 zip entries", "many.keras", 0.02, 200_000),
        bomb(".pt2 zip bomb (2 GiB entry)", "z.pt2"),
        Case(
            "trust",
            ".h5 declaring 2 GiB of weights in a few kB",
            lambda f: ["export", h5_bomb(f / "m.h5"), *EXPORT],
            check=says_too_big,
            timeout=120,
        ),
        Case("trust", "YAML alias bomb suite", yaml_bomb, check=quick(30), timeout=120),
        Case("trust", "ONNX external data path outside its folder", external),
    ]


RAMP = np.linspace(0.0, 0.5, 256, dtype=np.float32).reshape(16, 16)  # mean 0.25, max 0.5


def image_folder(folder: Path, mode: str, classes: tuple[int, ...] = (10, 10)) -> Path:
    """An ImageFolder of RAMP images stored in Pillow ``mode`` (count per class; 0: empty)."""
    from PIL import Image

    root = folder / "images"
    for c, count in enumerate(classes):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(count):
            level = RAMP * (0.2 + 1.6 * c / max(len(classes) - 1, 1))  # classes differ in level
            if mode == "I;16":
                img = Image.fromarray((level * 65535).astype(np.uint16))
            elif mode in ("I", "F"):
                values = level * (65535 if mode == "I" else 1.0)
                img = Image.fromarray(values.astype(np.int32 if mode == "I" else np.float32), mode)
            else:
                img = Image.fromarray((level * 255).astype(np.uint8)).convert(mode)
            suffix = ".tif" if mode in ("I", "F") else ".png"
            img.save(root / f"class{c}" / f"{i}{suffix}")
    return root


def calibrate(data: Path, samples: int = 8) -> list:
    """``deploykit calibrate``: reads a data set raw (8 samples, the INT8 minimum)."""
    return ["calibrate", data, "--samples", samples, "-o", "out/c.npz"]


def scaled_right(out: Outcome) -> str | None:
    """Refused, or read at the scale it was written (not all white)."""
    if out.code != 0:
        return None
    with np.load(out.case_dir / "out" / "c.npz") as data:
        x, y = data["x"], data["y"]
    if x.dtype == np.uint8:  # sets of 8-bit images are stored as they were read, 0..255
        x = x / 255.0
    levels = {int(label): float(img.mean()) for img, label in zip(x, y, strict=True)}
    expected = {c: 0.25 * (0.2 + 1.6 * c) for c in levels}
    worst = max(abs(levels[c] - expected[c]) for c in levels)
    return None if worst < 0.05 else f"read at the wrong scale (mean {levels}, want {expected})"


def labels_kept(out: Outcome) -> str | None:
    """Refused, or the class after the empty folder keeps its index (ImageFolder semantics)."""
    if out.code != 0:
        return None
    with np.load(out.case_dir / "out" / "c.npz") as data:
        x, y = data["x"], data["y"]
    bright = [int(label) for img, label in zip(x, y, strict=True) if img.mean() > 0.3]
    return None if set(bright) <= {2} else f"labels shifted: bright images labelled {bright}"


def npz(folder: Path, **arrays) -> Path:
    path = folder / "d.npz"
    np.savez(path, **arrays)
    return path


def data_cases(fx: Fixtures) -> list[Case]:
    """Section 4: images by mode, empty classes, npz, manifests and ONNX inputs that do not fit."""
    x = np.random.default_rng(0).random((8, 3, 32, 32), dtype=np.float32)
    y = np.arange(8) % 10

    def modes(mode: str):
        return lambda f: calibrate(image_folder(f, mode))

    def huge_header(folder: Path) -> list:
        from PIL import Image

        images = image_folder(folder, "L", (10,))
        Image.new("1", (30000, 30000)).save(images / "class0" / "big.png")
        return calibrate(images)

    def array_npz(**arrays):
        return lambda f: calibrate(npz(f, **arrays))

    def bench_npz(**arrays):
        return lambda f: ["bench", fx.onnx, *QUICK[:-2], "--data", npz(f, **arrays)]

    def manifest(change):
        def argv(folder: Path) -> list:
            model = fx.copy_onnx(folder)
            doc = json.loads(model.with_suffix(".json").read_text())
            doc = change(doc) or doc
            model.with_suffix(".json").write_text(json.dumps(doc))
            return ["bench", model, *QUICK]

        return argv

    def pre(key, value):
        def change(doc):
            doc["input"]["preprocess"][key] = value

        return change

    def layout(doc):
        doc["input"]["layout"] = "NHWC"
        doc["input"]["shape"] = [1, 32, 32, 3]

    def graph(inputs):
        def argv(folder: Path) -> list:
            import onnx
            from onnx import TensorProto, helper

            names = [
                helper.make_tensor_value_info(f"x{i}", dtype, shape)
                for i, (dtype, shape) in enumerate(inputs)
            ]
            if inputs:  # the output is the first input: what matters is what comes in
                nodes = [helper.make_node("Identity", ["x0"], ["y"])]
                output = helper.make_tensor_value_info("y", *inputs[0])
            else:
                value = helper.make_tensor("c", TensorProto.FLOAT, [1, 10], [0.0] * 10)
                nodes = [helper.make_node("Constant", [], ["y"], value=value)]
                output = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])
            model = helper.make_model(
                helper.make_graph(nodes, "g", names, [output]),
                opset_imports=[helper.make_opsetid("", 18)],
            )
            onnx.save(model, folder / "m.onnx")
            return ["bench", folder / "m.onnx", *QUICK]

        return argv

    from onnx import TensorProto

    f32, i64 = TensorProto.FLOAT, TensorProto.INT64
    rows = [
        ("16-bit PNG (I;16)", modes("I;16"), scaled_right),
        ("32-bit integer TIFF (I)", modes("I"), scaled_right),
        ("float TIFF (F)", modes("F"), scaled_right),
        ("grey + alpha PNG (LA)", modes("LA"), scaled_right),
        ("RGBA PNG", modes("RGBA"), scaled_right),
        ("palette PNG (P)", modes("P"), scaled_right),
        (
            "empty class folder between two",
            lambda f: calibrate(image_folder(f, "L", (10, 0, 10))),
            labels_kept,
        ),
        ("image header claims 30000x30000", huge_header, says_too_big),
        ("npz labels out of range for the model", bench_npz(x=x, y=y + 50), None),
        ("npz label count differs from images", array_npz(x=x, y=y[:5]), None),
        ("npz x of strings", array_npz(x=np.array(["a"] * 8), y=y), None),
        ("npz x of objects (needs pickle)", array_npz(x=np.array([{}] * 8, dtype=object)), None),
        ("npz meta is a list", array_npz(x=x, y=y, meta=np.array("[1, 2]")), None),
        ("manifest std 0", manifest(pre("std", [0.0, 0.0, 0.0])), None),
        ("manifest mean of length 2", manifest(pre("mean", [0.5, 0.5])), None),
        ("manifest is a list", manifest(lambda doc: [doc]), None),
        ("manifest NHWC on an NCHW graph", manifest(layout), None),
        ("ONNX with no input", graph([]), None),
        ("ONNX with two inputs", graph([(f32, [1, 3, 32, 32]), (f32, [1, 3, 32, 32])]), None),
        ("ONNX with an integer input", graph([(i64, [1, 3, 32, 32])]), None),
        ("ONNX with a rank-2 input", graph([(f32, [1, 3072])]), None),
        ("ONNX with a 1x3x100000x100000 input", graph([(f32, [1, 3, 100000, 100000])]), None),
    ]
    # Reading an image or a folder right is as good as refusing it: the check tells them apart.
    lenient = (scaled_right, labels_kept)
    return [
        Case("data", name, argv, expect=(0, 2) if check in lenient else (2,), check=check)
        for name, argv, check in rows
    ]
