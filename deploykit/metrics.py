"""Task metrics and fidelity between two sets of logits."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from deploykit.errors import DataMismatchError


def topk_accuracy(logits: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Share of samples whose label is among the ``k`` highest logits (labels < 0 are skipped).

    Ties go to the lower class index, as ``argmax`` breaks them: INT8 outputs tie often, and
    top-1 must count the same images as the per-image correctness the paired test reads.
    """
    mask = labels >= 0
    if not mask.any():
        return float("nan")
    k = min(k, logits.shape[1])
    top = np.argsort(-logits[mask], axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == labels[mask, None], axis=1)))


@dataclass(frozen=True)
class Fidelity:
    """How closely candidate logits follow reference logits on the same inputs."""

    n: int
    max_abs_diff: float
    mean_abs_diff: float
    cosine: float
    top1_agreement: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def fidelity(reference: np.ndarray, candidate: np.ndarray) -> Fidelity:
    """Compare two N x classes logit arrays (cosine is the mean per-sample cosine)."""
    ref = reference.astype(np.float64)
    cand = candidate.astype(np.float64)
    diff = np.abs(ref - cand)
    norms = np.linalg.norm(ref, axis=1) * np.linalg.norm(cand, axis=1)
    cos = np.sum(ref * cand, axis=1) / np.maximum(norms, 1e-30)
    return Fidelity(
        n=len(ref),
        max_abs_diff=float(diff.max()),
        mean_abs_diff=float(diff.mean()),
        cosine=float(cos.mean()),
        top1_agreement=float(np.mean(ref.argmax(1) == cand.argmax(1))),
    )


def label_classes(labels: np.ndarray) -> int:
    """How many classes ``labels`` span (largest label + 1; 0 when none is labelled)."""
    labelled = labels[labels >= 0]
    return int(labelled.max()) + 1 if len(labelled) else 0


def check_labels_fit(outputs: int, classes: int, what: str) -> None:
    """Refuse a labelled set whose labels the model cannot output (a label >= its output count).

    Those images are scored wrong whatever the model does, and cross-entropy fails on
    them: the set belongs to another model. More outputs than classes is only warned
    about (:func:`class_mismatch`): a 1000-class model on a 10-class subset still runs.

    Args:
        outputs: the model's number of outputs (logits per image).
        classes: the data set's class count (:func:`label_classes`; 0: unlabelled).
        what: the model (or data set) the message names.

    Raises:
        DataMismatchError: naming the largest label and the output count.
    """
    if classes > outputs:
        raise DataMismatchError(
            f"{what}: the data's labels go up to {classes - 1} but the model has {outputs} outputs",
            "give data labelled with the model's class indices, or a model with one output "
            "per class (--num-classes)",
        )


def class_mismatch(outputs: int, classes: int, data: str) -> str | None:
    """A one-line warning when a model's output width and a data set's labels disagree.

    Top-1 compares the index of the largest output with the label index, so a
    1000-class model scored on a 10-class set (or the reverse) gives numbers that
    mean nothing, often 0 %.

    Args:
        outputs: the model's number of outputs (logits per image).
        classes: the data set's class count (:func:`label_classes`; 0: unlabelled).
        data: the data set's name, for the message.
    """
    if not classes or classes == outputs:
        return None
    return (
        f"the model has {outputs} outputs but {data} has {classes} classes: top-1 compares "
        "output index with label index, so its accuracy figures are not meaningful "
        "(give a model with one output per class, e.g. --num-classes, or matching data)"
    )
