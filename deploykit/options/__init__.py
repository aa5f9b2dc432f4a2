"""Options declared once, as dataclass field metadata.

A request or config dataclass declares each setting with :func:`option`: its default, help,
flag, choices (read from the capability table), range and unit. From that one declaration:

- :func:`declared` builds a verb's Typer signature (every parameter typed with such a
  dataclass is expanded into its options; :class:`Partial` for "override only what is given");
- :func:`check_options` (called by the dataclasses' ``__post_init__``) checks ranges,
  finiteness and choices, for the CLI, suites and library callers alike;
- :func:`from_mapping` builds the dataclass from a suite's YAML mapping, with one-line errors;
- ``deploykit.cli.docs`` writes the README's options tables from the commands built so.
"""

from deploykit.options.command import Partial, Without, build, cli_options, declared
from deploykit.options.fields import (
    Opt,
    check_options,
    check_value,
    declared_fields,
    default_of,
    flag_of,
    from_mapping,
    help_text,
    join_key,
    opt_of,
    option,
    overlay,
    parse_pairs,
    suite_keys,
)

__all__ = [
    "Opt",
    "Partial",
    "Without",
    "build",
    "check_options",
    "check_value",
    "cli_options",
    "declared",
    "declared_fields",
    "default_of",
    "flag_of",
    "from_mapping",
    "help_text",
    "join_key",
    "opt_of",
    "option",
    "overlay",
    "parse_pairs",
    "suite_keys",
]
