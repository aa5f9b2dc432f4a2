"""Tables that fit the terminal: numbers are never cut, and columns left out are named.

Rich squeezes a table wider than the console by cutting every column down to
``…``, which turns a benchmark table into a wall of ellipses. Here each column
keeps its natural width; text columns (names) may fold onto several lines, and
when the table is still too wide the least important columns are left out and
listed in the caption, with ``--wide`` to show everything. Cell text is plain
text, never Rich markup, so ``pip install "deploykit[gpu]"`` prints as written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table
from rich.text import Text

# A folding column is never squeezed below this many characters.
FOLD_MIN = 16
Cell = str | Text


@dataclass(frozen=True)
class Column:
    """One table column.

    Attributes:
        name: header text.
        justify: ``left`` or ``right``.
        keep: importance; when space is short, lower values are left out first.
        fold: text that may wrap onto several lines (names); numbers never wrap.
    """

    name: str
    justify: str = "right"
    keep: int = 0
    fold: bool = False


def _text(cell: Cell) -> Text:
    return cell if isinstance(cell, Text) else Text(str(cell))


def table_width(widths: Sequence[int]) -> int:
    """Width of a Rich table (default box, one space of padding) with these column widths."""
    return sum(widths) + 3 * len(widths) + 1


def _natural(columns: Sequence[Column], rows: Sequence[Sequence[Cell]]) -> list[int]:
    widths = [Text(c.name).cell_len for c in columns]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(
                widths[i], max((len(s) for s in _text(cell).plain.split("\n")), default=0)
            )
    return widths


def natural_width(columns: Sequence[Column], rows: Sequence[Sequence[Cell]]) -> int:
    """Width of the table with every column at its natural width (nothing folded)."""
    return table_width(_natural(columns, rows))


def choose_columns(
    columns: Sequence[Column], rows: Sequence[Sequence[Cell]], width: int | None
) -> list[int]:
    """Indices of the columns that fit in ``width`` (all when ``width`` is None).

    Folding columns count at their narrowest (``FOLD_MIN``); the rest at their
    natural width. The column with the lowest ``keep`` (the rightmost among equals)
    goes first; the most important column always stays.
    """
    natural = _natural(columns, rows)
    least = [min(w, FOLD_MIN) if c.fold else w for c, w in zip(columns, natural, strict=True)]
    kept = list(range(len(columns)))
    while width is not None and len(kept) > 1 and table_width([least[i] for i in kept]) > width:
        drop = min(reversed(kept), key=lambda i: columns[i].keep)
        kept.remove(drop)
    return kept


def fit_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[Cell]],
    width: int | None,
    title: str | None = None,
    caption: str | None = None,
) -> Table:
    """A Rich table of ``rows`` that fits ``width`` columns (None: every column, any width).

    Args:
        columns: the columns, in display order.
        rows: cell texts (``str`` is plain text; a ``Text`` may carry a style).
        width: the console width to fit, or None to keep every column.
        title: the table title.
        caption: shown under the table; the names of left-out columns are added to it.
    """
    kept = choose_columns(columns, rows, width)
    natural = _natural(columns, rows)
    hidden = [c.name for i, c in enumerate(columns) if i not in kept]
    notes = [caption] if caption else []
    if hidden:
        notes.append(f"not shown at this width: {', '.join(hidden)} (--wide shows every column)")
    table = Table(title=title, caption="; ".join(notes) or None, caption_justify="left")
    for i in kept:
        column = columns[i]
        table.add_column(
            column.name,
            justify=column.justify,  # type: ignore[arg-type]
            no_wrap=not column.fold,
            overflow="fold",
            min_width=min(natural[i], FOLD_MIN) if column.fold and width else natural[i],
        )
    for row in rows:
        table.add_row(*(_text(row[i]) for i in kept))
    return table


def print_table(console: Console, table: Table, wide: bool = False) -> None:
    """Print ``table``; ``wide`` lets a table made with ``width=None`` run past the console."""
    if wide:
        needed = table_width([column.min_width or 0 for column in table.columns])
        width = console.width
        console.width = max(width, needed)  # print() alone caps a table at the console width
        try:
            console.print(table, crop=False)
        finally:
            console.width = width
    else:
        console.print(table)


def print_lines(console: Console, lines: Sequence[str]) -> None:
    """Print plain lines: no markup, so ``[gpu]`` in a hint stays on screen."""
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
