"""Value checks on a results file before anything reads it, so the gate never judges garbage.

A results or baseline file that parses as JSON can still hold a zero, null,
string or NaN latency, a ``correct`` bitmap that does not decode to ``n`` bits,
a string top-1 or two cells with the same key. Each of these would make
``deploykit compare`` crash (read by CI as "regression") or, worse, pass.
:func:`check_results` refuses them with one line naming the file and the field.
"""

from __future__ import annotations

import base64
import binascii
import math
from pathlib import Path
from typing import Any

from deploykit.errors import InputError

# Every latency statistic the gate may read (tolerances.LATENCY_METRICS), plus throughput.
GATED_STATS = ("p50_ms", "min_ms", "mean_ms", "p90_ms", "throughput")
STATUSES = ("ok", "failed")


class _Fields:
    """Type and range checks that name the file and the field in one line."""

    def __init__(self, path: Path | str) -> None:
        self.path = path

    def fail(self, where: str, problem: str) -> None:
        raise InputError(
            f"{self.path} is not a deploykit results file: {where} {problem}",
            "pass a file written by `deploykit bench --json`, unedited",
        )

    def mapping(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(where, f"is {_show(value)}, expected an object")
        return value

    def text(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value:
            self.fail(where, f"is {_show(value)}, expected a non-empty string")
        return value

    def integer(self, value: Any, where: str, low: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            self.fail(where, f"is {_show(value)}, expected an integer >= {low}")
        return value

    def number(
        self, value: Any, where: str, low: float, high: float = math.inf, open_low: bool = False
    ) -> float:
        """A finite int or float in [low, high] (``open_low``: strictly above ``low``)."""
        ok = (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value)
            and (value > low if open_low else value >= low)
            and value <= high
        )
        if not ok:
            bound = f"> {low:g}" if open_low else f">= {low:g}"
            if high != math.inf:
                bound += f" and <= {high:g}"
            self.fail(where, f"is {_show(value)}, expected a finite number {bound}")
        return value


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def check_latency(fields: _Fields, stats: Any, where: str) -> None:
    """Latency statistics: each gated one a finite number of milliseconds above zero."""
    stats = fields.mapping(stats, where)
    for name in GATED_STATS:
        if name not in stats:
            fields.fail(f"{where}.{name}", "is missing")
        fields.number(stats[name], f"{where}.{name}", 0.0, open_low=True)


def check_accuracy(fields: _Fields, acc: Any, where: str) -> None:
    """Accuracy record: fractions in [0, 1], ``n`` images, a bitmap of exactly ``n`` bits."""
    acc = fields.mapping(acc, where)
    n = fields.integer(acc.get("n"), f"{where}.n", 0)
    for name in ("top1", "top5"):
        if acc.get(name) is not None:
            fields.number(acc[name], f"{where}.{name}", 0.0, 1.0)
    ci = acc.get("top1_ci")
    if ci is not None:
        if not isinstance(ci, list) or len(ci) != 2:
            fields.fail(f"{where}.top1_ci", f"is {_show(ci)}, expected [low, high]")
        for i, bound in enumerate(ci):
            fields.number(bound, f"{where}.top1_ci[{i}]", 0.0, 1.0)
    bits = acc.get("correct")
    if bits is not None:
        if not isinstance(bits, str):
            fields.fail(f"{where}.correct", f"is {_show(bits)}, expected base64 text")
        try:
            raw = base64.b64decode(bits.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            fields.fail(f"{where}.correct", "is not valid base64")
        if len(raw) != (n + 7) // 8:
            fields.fail(
                f"{where}.correct", f"holds {len(raw) * 8} bits, expected {n} (one per image)"
            )


def check_cell(fields: _Fields, cell: Any, where: str) -> str:
    """One cell; returns its key (label|backend|precision|batch)."""
    cell = fields.mapping(cell, where)
    for name in ("item", "label", "backend", "precision"):
        fields.text(cell.get(name), f"{where}.{name}")
    batch = fields.integer(cell.get("batch"), f"{where}.batch", 1)
    status = cell.get("status", "ok")
    if status not in STATUSES:
        fields.fail(f"{where}.status", f"is {_show(status)}, expected one of {STATUSES}")
    if not isinstance(cell.get("reference", False), bool):
        fields.fail(f"{where}.reference", f"is {_show(cell['reference'])}, expected true/false")
    if status == "ok":
        check_latency(fields, cell.get("latency"), f"{where}.latency")
        if cell.get("accuracy") is not None:
            check_accuracy(fields, cell["accuracy"], f"{where}.accuracy")
        if cell.get("probe") is not None:
            check_latency(fields, cell["probe"], f"{where}.probe")
    key = f"{cell['label']}|{cell['backend']}|{cell['precision']}|b{batch}"
    device = cell.get("device_name")  # fleet runs: one cell per device (Cell.key)
    return f"{device}|{key}" if device else key


def check_results(data: Any, path: Path | str) -> None:
    """Refuse a results dict the gate cannot trust, in one line naming the field.

    Args:
        data: the parsed JSON of a results file (schema already checked).
        path: the file, for the message.

    Raises:
        InputError: a wrong type, a non-finite or out-of-range number, a bad bitmap,
            or two cells with the same key.
    """
    fields = _Fields(path)
    data = fields.mapping(data, "the top level")
    if not isinstance(data.get("complete", True), bool):
        fields.fail("complete", f"is {_show(data['complete'])}, expected true/false")
    for name in ("environment", "config"):
        if data.get(name) is not None:
            fields.mapping(data[name], name)
    cells = data.get("cells")
    if not isinstance(cells, list):
        fields.fail("cells", f"is {_show(cells)}, expected a list")
    seen: set[str] = set()
    for i, cell in enumerate(cells):
        key = check_cell(fields, cell, f"cells[{i}]")
        if key in seen:
            fields.fail(f"cells[{i}]", f"repeats the cell {key}")
        seen.add(key)
