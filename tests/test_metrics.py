"""Accuracy metrics: top-k that counts the same images as argmax when INT8 logits tie."""

from __future__ import annotations

import numpy as np

from deploykit.bench.cells import accuracy_record
from deploykit.bench.stats import unpack_bits
from deploykit.metrics import topk_accuracy


def test_top1_breaks_ties_as_argmax_does():
    """Quantized outputs tie: top-1 and the per-image correctness must agree on every image."""
    logits = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0], [0.0, 0.0, 5.0], [4.0, 4.0, 4.0]] * 8)
    labels = np.array(
        [1, 1, 2, 2] * 8
    )  # ties resolve to class 1, 0, -, 0: right, wrong, right, wrong
    assert topk_accuracy(logits, labels, 1) == 0.5
    record = accuracy_record(logits, labels)
    correct = unpack_bits(record["correct"], record["n"])
    assert record["top1"] == correct.mean() == 0.5
    assert topk_accuracy(logits, labels, 2) == 0.75  # [4, 4, 4]: classes 0 and 1 come first
    assert np.isnan(topk_accuracy(logits, -np.ones(len(labels), int), 1))
