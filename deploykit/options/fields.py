"""Option declarations: the :class:`Opt` record, range and choice checks, suite mappings."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, dataclass
from pathlib import Path
from typing import Any

from deploykit.errors import InputError

_KEY = "deploykit.option"


@dataclass(frozen=True)
class Opt:
    """How one dataclass field appears to users.

    Attributes:
        help: one sentence for ``--help``, the README and suite errors.
        flag: the CLI flag (default ``--field-name``; ``--a/--b`` for booleans).
        short: a one-letter alias such as ``-o``.
        choices: allowed values, or a callable returning them (read from the capability table).
        min, max: allowed range for numbers (inclusive unless ``exclusive``).
        exclusive: the range bounds themselves are not allowed.
        unit: shown after the range in help (``ms``, ``s``, ``points``).
        parse: turns the command-line text into the field's value (lists, shapes, KEY=VALUE).
        key: the suite YAML key (default: the field name; ``None`` with ``suite=False``).
        cli: whether the option is on the command line.
        suite: whether a suite may set it.
    """

    help: str
    flag: str | None = None
    short: str | None = None
    choices: tuple[str, ...] | Callable[[], Iterable[str]] | None = None
    min: float | None = None
    max: float | None = None
    exclusive: bool = False
    unit: str | None = None
    parse: Callable[[Any], Any] | None = None
    key: str | None = None
    cli: bool = True
    suite: bool = True

    def allowed(self) -> tuple[str, ...] | None:
        """The choices as a tuple (calling the table lookup if it is one)."""
        if self.choices is None:
            return None
        return tuple(self.choices() if callable(self.choices) else self.choices)

    def range_text(self) -> str:
        """``in [0, 1]``, ``at least 1``, ``> 0`` ... or ``""``."""
        unit = f" {self.unit}" if self.unit else ""
        lo, hi = self.min, self.max
        if lo is not None and hi is not None:
            brackets = "()" if self.exclusive else "[]"
            return f"in {brackets[0]}{_num(lo)}, {_num(hi)}{brackets[1]}{unit}"
        if lo is not None:
            return f"{'>' if self.exclusive else 'at least'} {_num(lo)}{unit}"
        if hi is not None:
            return f"{'<' if self.exclusive else 'at most'} {_num(hi)}{unit}"
        return unit.strip()


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def option(default: Any = MISSING, help: str = "", **settings: Any) -> Any:
    """A dataclass field with an :class:`Opt` declaration.

    Args:
        default: the field default (immutable; use ``default_factory=`` for others).
        help: the option's help sentence.
        **settings: the other :class:`Opt` attributes, plus ``default_factory``.
    """
    factory = settings.pop("default_factory", MISSING)
    meta = {_KEY: Opt(help, **settings)}
    if factory is not MISSING:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def opt_of(field: dataclasses.Field) -> Opt | None:
    """The declaration on ``field``, if it has one."""
    return field.metadata.get(_KEY)


def declared_fields(cls: type) -> list[tuple[dataclasses.Field, Opt, Any]]:
    """``(field, declaration, resolved type)`` for every declared field of ``cls``, in order."""
    hints = typing.get_type_hints(cls)
    return [(f, o, hints[f.name]) for f in dataclasses.fields(cls) if (o := opt_of(f)) is not None]


def flag_of(field: dataclasses.Field, opt: Opt) -> str:
    """The long CLI flag of a field (for booleans, the positive half)."""
    if opt.flag:
        return opt.flag.split("/")[0]
    return "--" + field.name.replace("_", "-")


def default_of(field: dataclasses.Field) -> Any:
    if field.default is not MISSING:
        return field.default
    if field.default_factory is not MISSING:
        return field.default_factory()
    return MISSING


def is_declared(kind: Any) -> bool:
    return dataclasses.is_dataclass(kind) and any(opt_of(f) for f in dataclasses.fields(kind))


def strip_optional(kind: Any) -> Any:
    args = typing.get_args(kind)
    if typing.get_origin(kind) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0] if len(rest) == 1 else kind
    return kind


# ---------------------------------------------------------------------------- checking


def check_value(label: str, opt: Opt, value: Any) -> None:
    """Raise :class:`InputError` when ``value`` breaks the declaration (None always passes).

    Args:
        label: how the user named it (``--iters``, ``suite x.yaml: timing.min_iters``).
        opt: the declaration.
        value: the value (a scalar or a tuple of scalars).
    """
    if value is None:
        return
    for item in value if isinstance(value, (tuple, list)) else (value,):
        _check_scalar(label, opt, item)


def _check_scalar(label: str, opt: Opt, value: Any) -> None:
    allowed = opt.allowed()
    if allowed is not None and isinstance(value, str) and value not in allowed:
        raise InputError(f"{label}: unknown value {value!r}", f"use one of {', '.join(allowed)}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if not math.isfinite(value):
        raise InputError(f"{label}: {value} is not a finite number", "give a number")
    lo, hi = opt.min, opt.max
    low = lo is not None and (value <= lo if opt.exclusive else value < lo)
    high = hi is not None and (value >= hi if opt.exclusive else value > hi)
    if low or high:
        raise InputError(
            f"{label}: {_num(value)} is out of range", f"use a value {opt.range_text()}"
        )


def check_options(obj: Any) -> None:
    """Check every declared field of a dataclass instance (call it from ``__post_init__``)."""
    for field, opt, _ in declared_fields(type(obj)):
        check_value(flag_of(field, opt), opt, getattr(obj, field.name))


# ---------------------------------------------------------------------------- suites


def suite_keys(cls: type) -> dict[str, dataclasses.Field]:
    """YAML key -> field, for the fields a suite may set."""
    return {(o.key or f.name): f for f, o, _ in declared_fields(cls) if o.suite}


def from_mapping(cls: type, mapping: Any, where: str, **fixed: Any) -> Any:
    """Build ``cls`` from a YAML mapping, checking keys, types, ranges and choices.

    Args:
        cls: a dataclass with declared fields; nested declared dataclasses read nested mappings.
        mapping: the parsed YAML value.
        where: how errors name the place (``suite s.yaml: exports[0]``).
        **fixed: fields set by the caller, not by the suite.

    Raises:
        InputError: one line naming the key and what is wrong.
    """
    if not isinstance(mapping, Mapping):
        raise InputError(f"{where}: expected a mapping, got {type(mapping).__name__} {mapping!r}")
    keys = suite_keys(cls)
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = dict(fixed)
    for key, raw in mapping.items():
        label = join_key(where, key)
        if key not in keys:
            raise InputError(f"{label}: unknown key", f"use one of {', '.join(keys)}")
        field = keys[key]
        opt = opt_of(field)
        kind = strip_optional(hints[field.name])
        if raw is None:
            values[field.name] = None
            continue
        if is_declared(kind):
            values[field.name] = from_mapping(kind, raw, label)
            continue
        value = _typed(label, kind, opt.parse(raw) if opt.parse and isinstance(raw, str) else raw)
        check_value(label, opt, value)
        values[field.name] = value
    try:
        return cls(**values)
    except InputError as exc:  # a check across fields (__post_init__): say where it came from
        if exc.message.startswith(where):
            raise
        raise InputError(f"{where} {exc.message}", exc.hint) from None


def join_key(where: str, key: Any) -> str:
    """``suite s.yaml: timing`` + ``min_iters`` -> ``suite s.yaml: timing.min_iters``."""
    return f"{where} {key}" if where.endswith(":") else f"{where}.{key}"


def _typed(label: str, kind: Any, value: Any) -> Any:
    """``value`` checked against a field type (ints pass as floats; lists become tuples)."""
    origin = typing.get_origin(kind)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            value = [value]
        item = typing.get_args(kind)[0]
        return tuple(_typed(f"{label}[{i}]", item, v) for i, v in enumerate(value))
    if origin is dict or kind is dict:
        if not isinstance(value, Mapping):
            raise InputError(f"{label}: expected a mapping, got {value!r}")
        return dict(value)
    if kind is Path:
        return Path(_typed(label, str, value))
    if kind is Any:
        return value
    ok = isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        name = getattr(kind, "__name__", str(kind))
        raise InputError(f"{label}: expected {name}, got {type(value).__name__} {value!r}")
    return value


def parse_pairs(pairs: Any) -> dict[str, Any]:
    """``["workspace=2048", "dla=0"]`` -> ``{"workspace": 2048, "dla": 0}`` (JSON values when valid).

    A mapping (from a suite) passes through unchanged.
    """
    import json

    if isinstance(pairs, Mapping):
        return dict(pairs)
    options: dict[str, Any] = {}
    for pair in [pairs] if isinstance(pairs, str) else pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"cannot read --option {pair!r}", "write it as KEY=VALUE")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


def overlay(base: Any, top: Any) -> Any:
    """``base`` with every declared field that ``top`` changed from its default taken from ``top``.

    This is how command-line options override a suite: what the user set wins, the rest
    comes from the file.
    """
    changes = {}
    hints = typing.get_type_hints(type(base))
    for field in dataclasses.fields(base):
        if opt_of(field) is None:
            continue
        mine, theirs = getattr(base, field.name), getattr(top, field.name)
        if (
            is_declared(strip_optional(hints[field.name]))
            and mine is not None
            and theirs is not None
        ):
            changes[field.name] = overlay(mine, theirs)
        elif theirs != default_of(field):
            changes[field.name] = theirs
    return dataclasses.replace(base, **changes)


def help_text(opt: Opt) -> str:
    """Help with the choices and range appended, as ``--help`` and the README show it."""
    parts = [opt.help]
    if allowed := opt.allowed():
        parts.append(f"One of: {', '.join(allowed)}.")
    if text := opt.range_text():
        parts.append(f"Range: {text}.")
    return " ".join(parts)
