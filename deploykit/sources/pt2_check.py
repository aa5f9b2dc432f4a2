"""Checking a ``.pt2`` archive before ``torch.export.load`` reads it.

``torch.export.load`` (torch 2.14) runs code from the file in several places:

- weights and tensor constants marked ``"use_pickle": true`` are read with
  ``torch.load(weights_only=False)``; ``custom_obj_*`` constants with the TorchScript
  unpickler and ``opaque_obj_*`` constants with ``pickle.loads``;
- the sample inputs (and legacy ``<model>.pt`` weights/constants) go through
  ``deserialize_torch_artifact``, which falls back to ``weights_only=False`` when the
  safe load fails (pytorch#153410);
- symbolic sizes (``expr_str``) are parsed by ``sympy.sympify``, which calls ``eval``;
- ``guards_code`` strings are ``exec``-ed when ``program.module()`` is built;
- node targets are looked up as attributes of ``torch``, ``operator`` and ``math``
  and called when the graph runs (``torch.os.system`` resolves);
- ``data/aotinductor/`` holds compiled shared libraries that are ``dlopen``-ed.

:func:`check_archive` reads the archive with :mod:`zipfile` and the JSON parser only,
refuses each of those unless the user passed ``--trust-pickle``, and checks that the
embedded pickles load under ``weights_only=True``. The caller then loads the very
bytes it checked, so the file cannot change in between.
"""

from __future__ import annotations

import ast
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

from deploykit.errors import ModelLoadError
from deploykit.untrusted import check_zip

TRUST_HINT = "pass --trust-pickle only if you trust where the file came from"
ARCHIVE_VERSION = "0"

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_OP_TARGET = re.compile(rf"^torch\.ops\.{_IDENT}\.{_IDENT}(\.{_IDENT})?$")
# The Python-level targets torch's serializer writes for symbolic-size arithmetic.
_SYM_TARGETS = frozenset(
    [
        f"_operator.{n}"
        for n in [
            "eq",
            "ne",
            "le",
            "ge",
            "lt",
            "gt",
            "neg",
            "pos",
            "mul",
            "add",
            "sub",
            "floordiv",
            "mod",
            "pow",
            "truediv",
            "and_",
            "or_",
            "lshift",
            "rshift",
            "getitem",
        ]
    ]
    + [
        f"torch.{n}"
        for n in ["sym_not", "sym_int", "sym_float", "sym_ite", "sym_max", "sym_min", "sym_sqrt"]
    ]
    + ["math.trunc", "math.floor", "math.ceil", "math.sqrt"]
)
# Functions a symbolic size may call (sympy's and torch.utils._sympy.functions').
_SYMPY_CALLS = frozenset(
    [
        "Symbol",
        "Integer",
        "Rational",
        "Float",
        "Max",
        "Min",
        "Abs",
        "Eq",
        "Ne",
        "Lt",
        "Le",
        "Gt",
        "Ge",
        "StrictLessThan",
        "StrictGreaterThan",
        "LessThan",
        "GreaterThan",
        "Unequality",
        "Equality",
        "And",
        "Or",
        "Not",
        "Mod",
        "floor",
        "ceiling",
        "sqrt",
        "Piecewise",
        "FloorDiv",
        "ModularIndexing",
        "Where",
        "PythonMod",
        "CleanDiv",
        "CeilToInt",
        "FloorToInt",
        "CeilDiv",
        "LShift",
        "RShift",
        "PowByNatural",
        "FloatPow",
        "FloatTrueDiv",
        "IntTrueDiv",
        "IsNonOverlappingAndDenseIndicator",
        "TruncToFloat",
        "TruncToInt",
        "RoundToInt",
        "RoundDecimal",
        "ToFloat",
        "Identity",
        "BitwiseFn_bitwise_and",
        "BitwiseFn_bitwise_or",
        "OpaqueUnaryFn_sqrt",
    ]
)
_SYMBOL_KEYWORDS = frozenset({"positive", "integer", "real", "nonnegative", "finite"})
_GUARD_METHODS = frozenset({"size", "stride", "storage_offset"})
_SAFE_NODES = (
    ast.Expression, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.Constant, ast.Name,
    ast.Load, ast.Call, ast.keyword, ast.Subscript, ast.Attribute,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.USub, ast.UAdd,
    ast.Not, ast.And, ast.Or, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE,
)  # fmt: skip


class _Refused(Exception):
    """Something in the archive that only runs with --trust-pickle."""

    def __init__(self, entry: str, why: str) -> None:
        super().__init__(f"{entry}: {why}")
        self.entry, self.why = entry, why


def read_checked(path: Path, trust_pickle: bool) -> bytes:
    """The bytes of ``path`` after :func:`check_archive`; load these, not the path.

    Raises:
        ModelLoadError: one line naming the entry that would run code, and ``--trust-pickle``.
    """
    data = path.read_bytes()
    check_archive(data, path, trust_pickle)
    return data


def check_archive(data: bytes, path: Path, trust_pickle: bool = False) -> None:
    """Refuse an archive that ``torch.export.load`` would run code from.

    Args:
        data: the archive's bytes.
        path: where they came from, for messages.
        trust_pickle: the user trusts the file: only the size caps are checked.

    Raises:
        InputError: not a zip, or over the size caps (checked even when trusted).
        ModelLoadError: an entry that would unpickle or execute code, or a layout
            ``torch.export.load`` would read through its legacy (pickle) path.
    """
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ModelLoadError(
            f"cannot load {path} as a torch.export program (not a zip archive)",
            "save it with torch.export.save(torch.export.export(model, args), path)",
        )
    entries = check_zip(data, f"model file {path}")
    if trust_pickle:
        return
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        files = _strip_root(path, [e.filename for e in entries])
        try:
            _check_layout(path, archive, files)
            for model in [n[len("models/") : -len(".json")] for n in files if _is_model(n)]:
                _check_model(archive, files, model)
        except _Refused as refused:
            raise ModelLoadError(
                f"{path} would run code when loaded: entry {refused.entry} {refused.why}",
                TRUST_HINT,
            ) from None


def _strip_root(path: Path, names: list[str]) -> dict[str, str]:
    """Archive paths without their common top folder (what torch's reader does) -> full name."""
    roots = {name.split("/", 1)[0] for name in names}
    if len(roots) != 1 or any("/" not in name for name in names):
        raise ModelLoadError(
            f"{path} is not a torch.export archive (its entries are not under one folder)",
            "save it with torch.export.save from torch 2.7 or newer",
        )
    return {name.split("/", 1)[1]: name for name in names}


def _is_model(name: str) -> bool:
    return name.startswith("models/") and name.endswith(".json") and name.count("/") == 1


def _check_layout(path: Path, archive: zipfile.ZipFile, files: dict[str, str]) -> None:
    version = files.get("archive_version")
    if version is None or archive.read(version).decode(errors="replace").strip() != ARCHIVE_VERSION:
        raise ModelLoadError(
            f"{path} is not a torch.export archive in the current format",
            "save it with torch.export.save from torch 2.7 or newer",
        )
    for name in files:
        if name.startswith("data/aotinductor/"):
            raise _Refused(name, "is compiled AOTInductor code, loaded as a shared library")


def _check_model(archive: zipfile.ZipFile, files: dict[str, str], model: str) -> None:
    """Check one program: its JSON graph, payload configs and embedded pickles."""
    graph = _json(archive, files, f"models/{model}.json")
    _check_graph(graph, f"models/{model}.json")
    for kind in ("weights", "constants"):
        config_name = f"data/{kind}/{model}_{kind}_config.json"
        legacy = f"data/{kind}/{model}.pt"
        if legacy in files:
            _check_weights_only(archive, files, legacy)
        if config_name in files:
            _check_payloads(_json(archive, files, config_name), kind)
    sample = f"data/sample_inputs/{model}.pt"
    if sample in files:
        _check_weights_only(archive, files, sample)


def _json(archive: zipfile.ZipFile, files: dict[str, str], name: str) -> Any:
    if name not in files:
        raise _Refused(name, "is missing")
    try:
        return json.loads(archive.read(files[name]))
    except ValueError as exc:
        raise _Refused(name, f"is not valid JSON ({exc})") from None


def _check_payloads(config: Any, kind: str) -> None:
    entries = config.get("config") if isinstance(config, dict) else None
    if not isinstance(entries, dict):
        raise _Refused(f"data/{kind}/ config", "has no 'config' mapping")
    for fqn, meta in entries.items():
        entry = f"data/{kind}/{meta.get('path_name') if isinstance(meta, dict) else '?'}"
        if not isinstance(meta, dict) or meta.get("use_pickle"):
            raise _Refused(
                entry, f"({kind[:-1]} {fqn}) is a pickle torch loads with weights_only=False"
            )
        if kind == "constants" and not str(meta.get("path_name", "")).startswith("tensor_"):
            raise _Refused(entry, f"(constant {fqn}) is a pickled Python object")


def _check_weights_only(archive: zipfile.ZipFile, files: dict[str, str], name: str) -> None:
    """The embedded ``torch.save`` payload must load with ``weights_only=True``."""
    import torch

    try:
        torch.load(io.BytesIO(archive.read(files[name])), weights_only=True)
    except Exception as exc:  # the unpickler raises UnpicklingError, RuntimeError, ...
        first = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        raise _Refused(
            name, f"is a pickle that does not load with weights_only=True ({first})"
        ) from None


def _check_graph(graph: Any, entry: str) -> None:
    """Node targets, symbolic sizes and guards: only what torch.export itself writes."""
    stack = [graph]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        for key, value in item.items():
            if key in ("target", "as_operator") and isinstance(value, str):
                if key == "target" and "inputs" not in item:
                    continue
                if not (_OP_TARGET.match(value) or value in _SYM_TARGETS) or "__" in value:
                    raise _Refused(entry, f"calls {value!r}, which is not a torch operator")
            elif key == "expr_str":
                _check_expression(value, entry, _SYMPY_CALLS, methods=frozenset())
            elif key == "guards_code":
                for guard in value if isinstance(value, list) else [value]:
                    _check_expression(guard, entry, frozenset(), methods=_GUARD_METHODS)
            else:
                stack.append(value)


def _check_expression(text: Any, entry: str, calls: frozenset, methods: frozenset) -> None:
    """Refuse a sympy/guard expression that could do more than arithmetic on sizes.

    Args:
        text: the expression torch will ``eval``.
        entry: the archive entry, for the message.
        calls: plain function names it may call.
        methods: method names it may call on a subscripted input (``L['x'].size()``).
    """
    ok = isinstance(text, str) and len(text) < 2000 and not re.search(r'__|["\\\n]', text)
    try:
        tree = ast.parse(text, mode="eval") if ok else None
    except (SyntaxError, ValueError):
        tree = None
    if tree is None or not all(_safe_node(n, calls, methods) for n in ast.walk(tree)):
        shown = str(text)[:60]
        raise _Refused(entry, f"holds the expression {shown!r}, which is code, not a size")


def _safe_node(node: ast.AST, calls: frozenset, methods: frozenset) -> bool:
    if not isinstance(node, _SAFE_NODES):
        return False
    if isinstance(node, ast.Constant):
        value = node.value
        return not isinstance(value, str) or re.fullmatch(r"[A-Za-z0-9_.]*", value) is not None
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name):
            return func.id in calls and all(
                k.arg in _SYMBOL_KEYWORDS and isinstance(k.value, ast.Constant)
                for k in node.keywords
            )
        return isinstance(func, ast.Attribute) and func.attr in methods and not node.keywords
    if isinstance(node, ast.Attribute):
        return node.attr in methods
    if isinstance(node, ast.Subscript):  # only guards index their inputs: L['x']
        return bool(methods)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        exponent = node.right
        return (
            isinstance(exponent, ast.Constant)
            and isinstance(exponent.value, int)
            and (0 <= exponent.value <= 64)
        )
    return True
