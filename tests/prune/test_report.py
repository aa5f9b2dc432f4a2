"""The before/after report: ratios and table rows."""

from __future__ import annotations

import pytest

from deploykit.prune.report import ModelFacts, PruneReport


def test_ratios_and_rows():
    report = PruneReport(
        before=ModelFacts(params=1000, macs=4000, size_bytes=4000, latency_ms=2.0, top1=0.98),
        after=ModelFacts(params=250, macs=1000, size_bytes=1000, latency_ms=0.5, top1=0.975),
        top1_pruned=0.6,
        channel_ratio=0.5,
        backend="onnxruntime",
        eval_data="digits",
    )
    ratios = report.ratios()
    assert ratios["macs"] == 0.25 and ratios["speedup"] == 4.0
    assert ratios["top1_change_points"] == pytest.approx(-0.5)
    rows = {row[0]: row for row in report.rows()}
    assert rows["latency (onnxruntime, ms)"][3] == "0.250 (4.00x faster)"
    assert "pruned: 60.0%" in rows["top-1 (digits)"][2]
    assert report.to_dict()["after"]["params"] == 250


def test_unmeasured_rows_are_left_out():
    facts = ModelFacts(params=10, macs=10, size_bytes=40)
    assert [row[0] for row in PruneReport(facts, facts).rows()] == ["params", "MACs", "size"]
