"""Verification: an artifact's outputs against its source's, on real samples."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from deploykit.errors import VerificationError
from deploykit.metrics import Fidelity, fidelity
from deploykit.options import check_options, option


@dataclass(frozen=True)
class Tolerance:
    """When an artifact counts as faithful to its source.

    Attributes:
        max_abs: largest allowed |logit difference|, relative to the reference's
            largest |logit| (None: not checked).
        min_cosine: smallest allowed mean cosine similarity of the logits.
        min_top1_agreement: smallest allowed share of samples with the same top-1.
    """

    max_abs: float | None = option(
        1e-3, "Max |logit diff| relative to the largest |logit|.",
        flag="--atol", min=0,
    )  # fmt: skip
    min_cosine: float = option(0.9999, "Smallest mean cosine similarity.", min=-1, max=1)
    min_top1_agreement: float = option(
        0.98, "Smallest share of samples with the same top-1.",
        flag="--min-agreement", min=0, max=1,
    )  # fmt: skip

    def __post_init__(self) -> None:
        check_options(self)

    def to_dict(self) -> dict[str, float | None]:
        return asdict(self)


# Defaults per precision: reduced precision is judged on agreement, not elementwise error.
DEFAULT_TOLERANCES = {
    "fp32": Tolerance(),
    "fp16": Tolerance(max_abs=None, min_cosine=0.999, min_top1_agreement=0.95),
    "int8": Tolerance(max_abs=None, min_cosine=0.98, min_top1_agreement=0.90),
    "int8-dynamic": Tolerance(max_abs=None, min_cosine=0.98, min_top1_agreement=0.90),
}


def failures(result: Fidelity, reference: np.ndarray, tolerance: Tolerance) -> list[str]:
    """The tolerance checks ``result`` fails, as readable phrases."""
    problems = []
    if tolerance.max_abs is not None:
        scale = max(1.0, float(np.abs(reference).max()))
        if result.max_abs_diff > tolerance.max_abs * scale:
            problems.append(
                f"max abs diff {result.max_abs_diff:.3g} > {tolerance.max_abs * scale:.3g}"
            )
    if result.cosine < tolerance.min_cosine:
        problems.append(f"cosine {result.cosine:.6f} < {tolerance.min_cosine}")
    if result.top1_agreement < tolerance.min_top1_agreement:
        problems.append(
            f"top-1 agreement {result.top1_agreement:.1%} < {tolerance.min_top1_agreement:.0%}"
        )
    return problems


def check(
    reference: np.ndarray, candidate: np.ndarray, tolerance: Tolerance, what: str
) -> dict[str, object]:
    """Compare logits; return the verification record or raise when out of tolerance."""
    result = fidelity(reference, candidate)
    problems = failures(result, reference, tolerance)
    if problems:
        raise VerificationError(
            f"{what} disagrees with its source on {result.n} samples: {'; '.join(problems)}",
            "loosen the tolerances (--atol, --min-cosine, --min-agreement) or pass --no-verify",
        )
    return {**result.to_dict(), "tolerance": tolerance.to_dict(), "passed": True}
