"""What ``deploykit compare`` does when it is given ``layers.json`` files."""

from __future__ import annotations

from pathlib import Path

from deploykit.errors import InputError
from deploykit.fileio import write_text_atomic
from deploykit.layers.report import is_layer_report


def wants_layers(results: list[Path], baseline: Path) -> bool:
    """Whether any input is a layer report (then all of them must be)."""
    return any(is_layer_report(p) for p in [*results, baseline] if p.is_file())


def compare_layers(
    results: list[Path],
    baseline: Path,
    latency: float | None,
    markdown: Path | None,
    junit: Path | None,
    print_text,
) -> int:
    """Diff one layer report against a baseline report; return the exit code (0 or 1).

    Args:
        results: exactly one current ``layers.json``.
        baseline: the baseline ``layers.json``.
        latency: ``--latency-tolerance`` when given (a layer's share may grow this much).
        markdown: where to write the Markdown summary, if anywhere.
        junit: where to write JUnit XML, if anywhere.
        print_text: prints the Markdown (the CLI's console).

    Raises:
        InputError: several results, a results file that is not a layer report, or reports
            of different models.
    """
    from deploykit.bench.compare import to_junit
    from deploykit.layers.diff import LayerTolerances, diff_reports, to_markdown
    from deploykit.layers.report import read_report

    if len(results) != 1:
        raise InputError("compare takes one layers.json against a baseline layers.json")
    current, base = read_report(results[0]), read_report(baseline)
    tolerances = LayerTolerances() if latency is None else LayerTolerances(latency=latency)
    result = diff_reports(current, base, tolerances)
    text = to_markdown(result, tolerances)
    print_text(text)
    if markdown:
        write_text_atomic(markdown, text)
    if junit:
        write_text_atomic(junit, to_junit(result, "deploykit compare (layers)"))
    return 0 if result.ok else 1
