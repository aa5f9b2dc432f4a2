"""Run a benchmark: items x backends x batch sizes, accuracy and fidelity against a reference."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from deploykit.bench.cells import GroupPlan
from deploykit.bench.config import BenchConfig, BenchItem, source_to_json
from deploykit.bench.environment import environment
from deploykit.bench.isolation import run_group_inprocess, run_group_isolated
from deploykit.bench.results import BenchRun, Cell
from deploykit.bench.stats import paired, unpack_bits
from deploykit.bench.subjects import Subject, resolve
from deploykit.data import load_dataset, prepare
from deploykit.errors import CellsFailedError, InputError
from deploykit.fileio import WriteError, temp_dir, write_failure
from deploykit.manifest import check_bytes, read_manifest
from deploykit.metrics import fidelity
from deploykit.targets import TARGETS, get_backend, load_plugins

if TYPE_CHECKING:
    from deploykit.fleet.request import FleetRequest

# The run's settings live in deploykit.bench.config; re-exported here, where callers look.
__all__ = ["BenchConfig", "BenchItem", "run_bench", "source_to_json"]

Progress = Callable[[str], None]
CellDone = Callable[[Cell, int, int], None]


def base_cell(subject: Subject, backend: str, batch: int) -> Cell:
    return Cell(
        item=subject.item,
        label=subject.label,
        fmt=subject.fmt,
        backend=backend,
        batch=batch,
        precision=subject.precision,
        device=get_backend(backend).device,
        size_bytes=subject.size_bytes,
    )


def fill_cell(cell: Cell, record: dict[str, Any]) -> Cell:
    cell.status = record["status"]
    cell.error = record.get("error")
    cell.traceback = record.get("traceback")
    if cell.status == "ok":
        cell.latency, cell.memory = record["latency"], record["memory"]
        cell.runner, cell.wall_s = record["runner"], record["wall_s"]
        cell.probe = record.get("probe")
        cell.accuracy = dict(record["accuracy"]) if record.get("accuracy") else None
    return cell


def batches_for(subject: Subject, config: BenchConfig, notes: list[str]) -> tuple[tuple, int]:
    """Batch sizes and accuracy batch for ``subject``: a static artifact runs at its own only."""
    if subject.spec.dynamic_batch:
        return tuple(config.batch_sizes), config.eval_batch
    batch = subject.spec.shape[0]
    note = f"{subject.label} has a static batch of {batch}: measured at batch {batch} only"
    if tuple(config.batch_sizes) != (batch,) and note not in notes:
        notes.append(note)
    return (batch,), batch


Group = tuple[BenchItem, Subject, str]


def plan_groups(
    items: list[str | BenchItem], config: BenchConfig
) -> tuple[Any, list[Group], list[tuple[Subject, str, str]]]:
    """Check the request, load the evaluation data and list every (item, subject, backend).

    Args:
        items: what to measure, in order (strings, or :class:`BenchItem` with own options).
        config: what and how to measure.

    Returns:
        the evaluation dataset, the groups in run order, and every requested backend that
        cannot run an item as (subject, backend, why): those get a failed row, never silence.

    Raises:
        DeployKitError: for bad items, data, backend names or batch sizes.
    """
    if not items:
        raise InputError("nothing to benchmark", "pass artifact files or model names")
    load_plugins()
    for backend in config.backends:
        get_backend(backend)
    if not config.batch_sizes or min(config.batch_sizes) < 1:
        raise InputError("batch sizes must be positive integers", "e.g. --batch 1,8,32")
    bench_items = [i if isinstance(i, BenchItem) else BenchItem(i) for i in items]
    data = load_dataset(config.data, split="test", limit=config.limit)
    subjects = [(i, resolve(i.ref, i.source or config.source)) for i in bench_items]
    formats = {s.fmt for _, s in subjects}
    rows = [
        (i, s, b, why) for i, s in subjects for b, why in s.backends(list(config.backends), formats)
    ]
    groups = [(i, s, b) for i, s, b, why in rows if why is None]
    refused = [(s, b, why) for _, s, b, why in rows if why is not None]
    return data, groups, refused


def group_plan(
    config: BenchConfig,
    backend: str,
    batches: tuple[int, ...] | None = None,
    eval_batch: int | None = None,
) -> GroupPlan:
    """The :class:`GroupPlan` for ``backend`` under ``config`` (``batches``: default all)."""
    return GroupPlan(
        backend,
        tuple(batches if batches is not None else config.batch_sizes),
        config.timing,
        config.threads,
        dict(config.runner_extra),
        eval_batch if eval_batch is not None else config.eval_batch,
    )


def score_against_reference(
    cells: list[Cell], logits: dict[tuple[str, str], np.ndarray], alpha: float
) -> None:
    """Fill reference flag, fidelity, speed-up and the paired accuracy test of every cell.

    The reference is the first (item, backend) with a successful cell.
    """
    ok = [c for c in cells if c.status == "ok"]
    if not ok:
        return
    ref_id = (ok[0].item, ok[0].backend)
    ref_cells = {c.batch: c for c in ok if (c.item, c.backend) == ref_id}
    ref_logits = logits.get(ref_id)
    ref_acc = ok[0].accuracy or {}
    for cell in ok:
        cell.reference = (cell.item, cell.backend) == ref_id
        own = logits.get((cell.item, cell.backend))
        if ref_logits is not None and own is not None and own.shape == ref_logits.shape:
            cell.fidelity = fidelity(ref_logits, own).to_dict()
        if cell.batch in ref_cells:
            cell.speedup = ref_cells[cell.batch].latency["p50_ms"] / cell.latency["p50_ms"]
        acc = cell.accuracy
        if acc and ref_acc.get("correct") and acc.get("correct") and acc["n"] == ref_acc["n"]:
            test = paired(
                unpack_bits(ref_acc["correct"], ref_acc["n"]),
                unpack_bits(acc["correct"], acc["n"]),
                alpha,
            )
            acc["vs_reference"] = test.to_dict()


def check_artifacts(refs: list[str], allow_modified: bool) -> list[dict[str, Any]]:
    """Refuse artifacts whose bytes differ from their manifest's sha256 (or record them).

    Checked before anything parses them, as pip checks hashes before installing.

    Args:
        refs: the items; exported files (and ``.pt2`` programs) with a manifest are checked.
        allow_modified: run modified artifacts anyway; they are returned for the results.
    """
    suffixes = {".pt2", *(s for t in TARGETS.values() for s in t.suffixes)}
    modified = []
    for ref in refs:
        path = Path(ref)
        if not path.is_file() or path.suffix.lower() not in suffixes:
            continue
        manifest = read_manifest(path)
        if manifest is not None and (record := check_bytes(path, manifest, allow_modified)):
            modified.append(record)
    return modified


def check_cells(run: BenchRun, strict: bool = False) -> None:
    """Fail the run when every cell failed, or (``strict``) when any did.

    A broken runtime then turns a CI job red instead of writing a table of failures
    and exiting 0. Call it after the results are written: they are kept either way.

    Raises:
        CellsFailedError: one line with the count and the first failure.
    """
    failed = [c for c in run.cells if c.status != "ok"]
    if failed and (strict or len(failed) == len(run.cells)):
        first = failed[0]
        raise CellsFailedError(
            f"{len(failed)} of {len(run.cells)} cells failed (first: {first.key}: {first.error})",
            "the results were kept; fix the runtime or drop --strict"
            if strict and len(failed) < len(run.cells)
            else "the results were kept; see the failures above",
        )


def _stage_input(path: Path, x: np.ndarray, labels: np.ndarray, notes: list[str]) -> bool:
    """Write the workers' input to ``path``; False (and a note) when there is no room for it.

    A full temporary folder or a file-size limit (``ulimit -f``) must not cost the
    measurements: the run goes on in this process, without crash isolation, and says so.
    """
    try:
        np.savez(path, x=x, labels=labels)
    except OSError as exc:
        failure = write_failure(exc, path)
        if failure is None:
            raise
        notes.append(f"measured in this process, without crash isolation: {failure.message}")
        return False
    return True


def run_bench(
    items: list[str | BenchItem],
    config: BenchConfig,
    progress: Progress | None = None,
    *,
    on_cell: CellDone | None = None,
    checkpoint: Path | None = None,
    extra: dict[str, Any] | None = None,
    fleet: FleetRequest | None = None,
) -> BenchRun:
    """Benchmark ``items`` (artifact paths or model references); the first is the reference.

    Args:
        items: what to measure, in order (strings, or :class:`BenchItem` with own options).
        config: what and how to measure.
        progress: called with a short description before each (item, backend).
        on_cell: called with (cell, cells done, cells in all) as each cell finishes.
        checkpoint: results JSON rewritten (atomically) after every cell, so an
            interrupted run keeps what it measured.
        extra: stored in the results' ``config`` (e.g. the suite it came from).
        fleet: with a ``cluster``, measure on that Ray cluster's devices instead of here
            (:mod:`deploykit.fleet`, the ``fleet`` extra); each device has its own reference.

    Raises:
        DeployKitError: for bad items, data or backend names (a failing runtime is a failed cell).
    """
    if fleet is not None and fleet.cluster is not None:
        from deploykit.fleet.scheduler import run_on_fleet

        return run_on_fleet(items, config, fleet, progress, on_cell, checkpoint, extra)
    refs_given = [i.ref if isinstance(i, BenchItem) else i for i in items]
    modified = check_artifacts(refs_given, config.allow_modified)
    data, groups, refused = plan_groups(items, config)
    total = sum(len(config.batch_sizes) if s.spec.dynamic_batch else 1 for _, s, _ in groups)
    total += len(refused) * len(config.batch_sizes)
    refs = [item.ref if isinstance(item, BenchItem) else item for item in items]
    run = BenchRun(
        [],
        environment(refs),
        {**config.to_dict(), "items": refs, "modified_artifacts": modified, **(extra or {})},
        complete=False,
    )
    logits: dict[tuple[str, str], np.ndarray] = {}
    notes: list[str] = run.config.setdefault("notes", [])
    for subject in [s for _, s, _ in groups] + [s for s, _, _ in refused]:
        if subject.assumed and f"note: {subject.assumed}" not in notes:
            notes.append(f"note: {subject.assumed}")  # export's line, once per item

    unsaved: list[WriteError] = []

    def save(pending: list[Cell]) -> None:
        if checkpoint is not None and not unsaved:
            partial = BenchRun(run.cells + pending, run.environment, run.config, run.created)
            partial.complete = False
            score_against_reference(partial.cells, logits, config.alpha)
            try:
                partial.write_json(checkpoint)
            except WriteError as exc:  # a full disk must not cost the measurements: keep going
                unsaved.append(exc)
                notes.append(f"results kept in memory only: {exc.message}")

    isolate = config.isolate  # off for the rest of the run when the input cannot be staged
    with temp_dir(label="bench") as tmp:
        prepared: dict[int, Path] = {}
        for index, (item, subject, backend) in enumerate(groups):
            if progress:
                progress(f"{subject.label} on {backend}")
            batches, eval_batch = batches_for(subject, config, notes)
            plan = group_plan(config, backend, batches, eval_batch)
            cells = {b: base_cell(subject, backend, b) for b in batches}
            finished: list[Cell] = []

            def record(batch: int, rec: dict, cells=cells, finished=finished) -> None:
                finished.append(fill_cell(cells[batch], rec))
                save(finished)
                if on_cell:
                    on_cell(cells[batch], len(run.cells) + len(finished), total)

            x = prepare(data.images, subject.spec)
            if isolate and id(subject) not in prepared:
                staged = Path(tmp) / f"input{len(prepared)}.npz"
                isolate = _stage_input(staged, x, data.labels, notes)
                prepared[id(subject)] = staged
            if isolate:
                job = {
                    "item": item.ref,
                    "source": source_to_json(item.source or config.source),
                    "data": str(prepared[id(subject)]),
                }
                work = Path(tmp) / f"group{index}"
                outcome = run_group_isolated(job, plan, work, config.timeout_s, record)
            else:
                outcome = run_group_inprocess(subject, x, data.labels, plan, record)
            for batch in batches:
                if batch not in outcome.cells:  # defensive: every batch should be recorded
                    fill_cell(cells[batch], {"status": "failed", "error": "not measured"})
                run.cells.append(cells[batch])
            if outcome.logits is not None:
                logits[(subject.item, backend)] = outcome.logits
            save([])
    for subject, backend, why in refused:  # asked for, cannot run: a row that says why
        for batch in config.batch_sizes:
            cell = fill_cell(base_cell(subject, backend, batch), {"status": "failed", "error": why})
            run.cells.append(cell)
            if on_cell:
                on_cell(cell, len(run.cells), total)
    run.complete = True
    score_against_reference(run.cells, logits, config.alpha)
    if checkpoint is not None:
        try:
            run.write_json(checkpoint)
        except WriteError as exc:  # the caller still has ``run``; the note says it is unsaved
            if not unsaved:
                notes.append(f"results kept in memory only: {exc.message}")
    return run
