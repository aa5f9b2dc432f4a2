"""What every verb prints through: the terminal consoles.

Options are not declared here: each lives once on its request or config dataclass
(see :mod:`deploykit.options`), and :func:`deploykit.options.declared` builds the flags.
"""

from __future__ import annotations

from rich.console import Console

console = Console(stderr=True)
# Tables are wide; when stdout is a file or pipe, don't squeeze them into 80 columns.
out = Console() if Console().is_terminal else Console(width=200)
