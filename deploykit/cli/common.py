"""What every verb prints through: the terminal consoles.

Options are not declared here: each lives once on its request or config dataclass
(see :mod:`deploykit.options`), and :func:`deploykit.options.declared` builds the flags.
"""

from __future__ import annotations

import os

from rich.console import Console

console = Console(stderr=True)
# Tables fit the terminal (deploykit.terminal); a file or pipe gets 200 columns unless COLUMNS says.
out = Console() if Console().is_terminal or os.environ.get("COLUMNS") else Console(width=200)

WIDE_HELP = "Print every column in one table, however wide (default: fit the terminal)."


def note_assumptions(loaded) -> None:
    """Print, in one line on stderr, what was assumed about a loaded model (its preprocessing)."""
    if note := loaded.details.get("assumed"):
        console.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
