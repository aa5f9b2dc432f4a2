"""Typer signatures built from declared dataclasses (see :func:`declared`)."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Optional

from deploykit.errors import InputError
from deploykit.options.fields import (
    Opt,
    check_value,
    declared_fields,
    default_of,
    flag_of,
    help_text,
    is_declared,
    opt_of,
    strip_optional,
)


class Partial:
    """Annotate a verb parameter ``Annotated[dict, Partial(Cls)]``: Cls's options, all optional.

    The verb receives only the options the user gave (checked), to lay over a default
    that depends on other options or files (verification tolerances per precision, the
    gate's tolerances stored in a baseline).
    """

    def __init__(self, cls: type, note: str = "Default: {default}.") -> None:
        self.cls = cls
        self.note = note


class Without:
    """Annotate ``Annotated[Cls, Without("a", "b")]``: Cls's options except those fields."""

    def __init__(self, *names: str) -> None:
        self.names = names


@dataclass(frozen=True)
class _CliOption:
    name: str
    field: dataclasses.Field
    opt: Opt
    kind: Any
    note: str | None = None  # set for Partial options: where their default comes from


def cli_options(cls: type, note: str | None = None) -> list[_CliOption]:
    """The command-line options of ``cls``, nested declared dataclasses expanded."""
    found: list[_CliOption] = []
    for field, opt, kind in declared_fields(cls):
        if not opt.cli:
            continue
        inner = strip_optional(kind)
        if is_declared(inner):
            found += cli_options(inner, note)
            continue
        found.append(_CliOption(field.name, field, opt, kind, note))
    return found


def _cli_type(kind: Any, opt: Opt) -> Any:
    """The type Typer parses: text for lists, shapes and mappings (``opt.parse`` reads it)."""
    inner = strip_optional(kind)
    if opt.parse is not None or typing.get_origin(inner) in (tuple, dict) or inner is dict:
        return list[str] if typing.get_origin(inner) is dict or inner is dict else str
    return inner


def _parameter(cli: _CliOption) -> inspect.Parameter:
    opt, field = cli.opt, cli.field
    kind = _cli_type(cli.kind, opt)
    optional = cli.note is not None
    default = None if optional else default_of(field)
    if default is not None and kind is str and isinstance(default, tuple):
        default = ",".join(map(str, default)) or None
    if isinstance(default, dict):
        default = None
    decls = [opt.flag or flag_of(field, opt)]
    if kind is bool and "/" not in decls[0] and default is True:
        decls = [f"{decls[0]}/--no-{decls[0][2:]}"]
    if opt.short:
        decls.append(opt.short)
    typer = _typer()
    text = help_text(opt)
    if optional:
        text += " " + cli.note.format(default=_show(default_of(field)))
    info = typer.Option(*decls, help=text, show_default=not optional)
    nullable = default is None
    annotation = Annotated[Optional[kind] if nullable else kind, info]
    return inspect.Parameter(
        cli.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


def _typer():
    import typer

    return typer


def _cli_value(cli: _CliOption, raw: Any) -> Any:
    """The field value from what Typer parsed."""
    if raw is None:
        return None
    opt, kind = cli.opt, strip_optional(cli.kind)
    if opt.parse is not None:
        return opt.parse(raw)
    if typing.get_origin(kind) is tuple:
        item = typing.get_args(kind)[0]
        parts = [p.strip() for p in str(raw).split(",") if p.strip()]
        try:
            return tuple(item(p) for p in parts)
        except ValueError:
            raise InputError(
                f"{flag_of(cli.field, opt)}: cannot read {raw!r}",
                f"give comma-separated {item.__name__} values",
            ) from None
    return raw


def declared(func: Callable[..., Any]) -> Callable[..., Any]:
    """Give a verb the Typer signature its declared dataclasses describe.

    Parameters annotated with a declared dataclass (or ``Annotated[dict, Partial(Cls)]``)
    are replaced by one keyword option per declared field (nested declared dataclasses
    expanded); the wrapper builds the dataclass from them, which checks every value once.
    Other parameters (arguments, output paths, display flags) stay as written.
    """
    hints = typing.get_type_hints(func, include_extras=True)
    own: list[inspect.Parameter] = []
    groups: dict[str, tuple[type, bool, list[_CliOption]]] = {}
    for param in inspect.signature(func).parameters.values():
        kind = hints.get(param.name, param.annotation)
        marks = getattr(kind, "__metadata__", ())
        partial = next((m for m in marks if isinstance(m, Partial)), None)
        without = next((m.names for m in marks if isinstance(m, Without)), ())
        base = typing.get_origin(kind) is Annotated and typing.get_args(kind)[0]
        if partial is not None:
            groups[param.name] = (partial.cls, True, cli_options(partial.cls, partial.note))
        elif is_declared(kind) or (without and is_declared(base)):
            cls = base if without else kind
            options = [c for c in cli_options(cls) if c.name not in without]
            groups[param.name] = (cls, False, options)
        else:
            own.append(param.replace(annotation=kind))
    seen = {p.name for p in own}
    generated = []
    for _, _, options in groups.values():
        for cli in options:
            if cli.name in seen:
                raise TypeError(f"{func.__name__}: option {cli.name!r} is declared twice")
            seen.add(cli.name)
            generated.append(_parameter(cli))

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        call = {p.name: kwargs.pop(p.name) for p in own if p.name in kwargs}
        for name, (cls, partial, options) in groups.items():
            given = {c.name: _cli_value(c, kwargs.get(c.name)) for c in options}
            if partial:
                for c in options:
                    check_value(flag_of(c.field, c.opt), c.opt, given[c.name])
                call[name] = {k: v for k, v in given.items() if v is not None}
            else:
                call[name] = build(cls, {k: v for k, v in given.items() if v is not None})
        return func(**call)

    positional = [p for p in own if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    keyword = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own if p not in positional]
    params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in positional]
    wrapper.__signature__ = inspect.Signature([*params, *keyword, *generated])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {
        p.name: p.annotation for p in wrapper.__signature__.parameters.values()
    }  # type: ignore[attr-defined]
    wrapper.__dict__.pop("__wrapped__", None)
    return wrapper


def build(cls: type, values: Mapping[str, Any]) -> Any:
    """``cls`` from flat option values, nested declared dataclasses filled from the same map."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for field in dataclasses.fields(cls):
        inner = strip_optional(hints[field.name])
        if is_declared(inner) and opt_of(field) and opt_of(field).cli:
            kwargs[field.name] = build(inner, values)
        elif field.name in values:
            kwargs[field.name] = values[field.name]
    return cls(**kwargs)


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return "none" if value is None else str(value)
