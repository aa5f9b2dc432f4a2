"""``deploykit compare``: a results file against a baseline; exit 1 on regression."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from deploykit.bench.compare import Tolerances
from deploykit.cli.common import console, out
from deploykit.options import Partial, declared


@declared
def compare(
    results: Annotated[
        list[Path],
        typer.Argument(
            help="results.json written by `deploykit bench`; several repeats of one suite are "
            "merged, each cell keeping its fastest figures."
        ),
    ],
    baseline: Annotated[Path, typer.Option("--baseline", help="The baseline results file.")],
    tolerances: Annotated[dict, Partial(Tolerances, "Default: the baseline's, else {default}.")],
    junit: Annotated[
        Optional[Path], typer.Option("--junit", help="Write JUnit XML here (one case per check).")
    ] = None,
    markdown: Annotated[
        Optional[Path],
        typer.Option(
            "--markdown", help="Write a Markdown summary here (e.g. $GITHUB_STEP_SUMMARY)."
        ),
    ] = None,
    update_baseline: Annotated[
        bool,
        typer.Option(
            "--update-baseline",
            help="Write RESULTS over the baseline (atomically); only a complete run, in which "
            "every cell of the baseline was measured.",
        ),
    ] = False,
    allow_partial: Annotated[
        bool,
        typer.Option(
            "--allow-partial",
            help="With --update-baseline: accept an interrupted run, failed or missing cells.",
        ),
    ] = False,
) -> None:
    """Compare RESULTS with a baseline: latency normalised by the run's reference, accuracy paired.

    Several RESULTS files (repeats of one suite) are merged, each cell keeping its fastest figures: that is how a latency failure on a busy machine is re-measured before it counts.

    Exits 0 when nothing regressed, 1 on a regression (and only then), 2 for a malformed file or option.
    """
    from deploykit.bench.compare import (
        best_of,
        check_replaceable,
        compare_runs,
        to_junit,
        to_markdown,
    )
    from deploykit.bench.results import read_results
    from deploykit.fileio import write_json_atomic, write_text_atomic
    from deploykit.layers.compare_hook import compare_layers, wants_layers

    if wants_layers(results, baseline):  # layers.json from `deploykit layers`
        tolerance = tolerances.get("latency")
        if compare_layers(results, baseline, tolerance, markdown, junit, out.print):
            raise typer.Exit(1)
        return

    current = best_of([read_results(path) for path in results])
    if update_baseline and not baseline.exists():
        check_replaceable(current, None, allow_partial)
        data = current.to_dict()
        write_json_atomic(baseline, data)
        out.print(f"wrote new baseline {baseline}")
        return
    base = read_results(baseline)
    resolved = Tolerances.resolve(base, str(baseline), **tolerances)
    if update_baseline:
        check_replaceable(current, base, allow_partial)
    result = compare_runs(current, base, resolved)
    text = to_markdown(result)
    out.print(text)
    if markdown:
        write_text_atomic(markdown, text)
        console.print(f"wrote {markdown}")
    if junit:
        write_text_atomic(junit, to_junit(result))
        console.print(f"wrote {junit}")
    if update_baseline:
        data = current.to_dict()
        # Keep the tolerances the gate ran with, so the next compare uses the same ones.
        data["config"] = {
            **data.get("config", {}),
            "tolerances": {k: v for k, v in vars(resolved).items() if v is not None},
        }
        write_json_atomic(baseline, data)
        console.print(f"updated baseline {baseline}")
        return
    if not result.ok:
        raise typer.Exit(1)
