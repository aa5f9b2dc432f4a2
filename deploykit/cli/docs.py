"""The README's options tables, generated from the commands themselves.

Run ``python -m deploykit.cli.docs`` to rewrite every block between
``<!-- options: VERB -->`` and ``<!-- /options -->`` in README.md; a test fails when a
block is stale, so the README cannot drift from the declarations.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

BLOCK = re.compile(r"(<!-- options: (\S+) -->\n)(.*?)(<!-- /options -->)", re.S)


def options_table(verb: str) -> str:
    """A Markdown table of ``deploykit VERB``'s options: flags, default, meaning."""
    import typer

    from deploykit.cli import app

    command = typer.main.get_command(app).commands[verb]  # type: ignore[attr-defined]
    rows = ["| option | default | meaning |", "|---|---|---|"]
    for param in command.params:
        if param.param_type_name != "option" or getattr(param, "hidden", False):
            continue
        flags = " / ".join(f"`{f}`" for f in (*param.opts, *param.secondary_opts))
        default = param.default
        if param.is_flag and param.secondary_opts:
            shown = f"`{param.opts[0] if default else param.secondary_opts[0]}`"
        elif default in (None, False, (), []) or param.is_flag:
            shown = ""
        else:
            shown = f"`{default}`"
        meaning = (param.help or "").replace("|", "\\|")
        rows.append(f"| {flags} | {shown} | {meaning} |")
    return "\n".join(rows) + "\n"


def runner_options_table() -> str:
    """A Markdown table of every backend's ``--runner-option`` keys, from the capability table."""
    from deploykit.options import help_text
    from deploykit.targets import BACKENDS

    rows = ["| backend | option | default | meaning |", "|---|---|---|---|"]
    for backend in BACKENDS.values():
        for item in backend.options:
            shown = "" if item.default is None else f"`{item.default}`"
            meaning = help_text(item.opt).replace("|", "\\|")
            rows.append(f"| `{backend.name}` | `{item.key}` | {shown} | {meaning} |")
    return "\n".join(rows) + "\n"


def render(text: str) -> str:
    """``text`` with every options block regenerated (``runner``: the runner options)."""

    def table(verb: str) -> str:
        return runner_options_table() if verb == "runner" else options_table(verb)

    return BLOCK.sub(lambda m: m[1] + table(m[2]) + m[4], text)


def main(readme: str = "README.md") -> int:
    path = Path(readme)
    text = path.read_text(encoding="utf-8")
    new = render(text)
    if new != text:
        path.write_text(new, encoding="utf-8")
        print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
