"""Accuracy statistics that survive small evaluation sets.

On 400 test images one point of top-1 is four images, so accuracy is reported
with a Wilson 95 % interval, and a difference between two runners on the same
images is judged by McNemar's exact test on the images only one of them got
right (the discordant pairs), not by the raw difference of two percentages.
"""

from __future__ import annotations

import base64
import math
from dataclasses import asdict, dataclass

import numpy as np

Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion (default 95 %); (nan, nan) when ``n`` is 0."""
    if n <= 0:
        return float("nan"), float("nan")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for ``b`` and ``c`` discordant pairs.

    Under the null both runners are equally accurate, so each discordant image
    is a fair coin: the p-value is the two-sided binomial tail at 0.5.
    """
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
    return min(1.0, 2.0 * tail)


@dataclass(frozen=True)
class PairedComparison:
    """A candidate against a reference on the same images (top-1 correctness).

    Attributes:
        n: images compared.
        delta: candidate top-1 minus reference top-1 (a fraction, negative is worse).
        worse: images the reference got right and the candidate got wrong.
        better: images the candidate got right and the reference got wrong.
        p_value: exact McNemar two-sided p-value.
        significant: whether ``p_value`` < ``alpha``.
        alpha: the significance level used.
    """

    n: int
    delta: float
    worse: int
    better: int
    p_value: float
    significant: bool
    alpha: float

    @property
    def regressed(self) -> bool:
        """A significant loss: the candidate is worse, and not by chance."""
        return self.significant and self.worse > self.better

    def to_dict(self) -> dict:
        return {**asdict(self), "regressed": self.regressed}


def paired(reference: np.ndarray, candidate: np.ndarray, alpha: float = 0.05) -> PairedComparison:
    """Compare two boolean correctness vectors over the same images."""
    ref = np.asarray(reference, dtype=bool)
    cand = np.asarray(candidate, dtype=bool)
    if ref.shape != cand.shape:
        raise ValueError(f"paired comparison needs equal lengths ({ref.shape} vs {cand.shape})")
    worse = int(np.sum(ref & ~cand))
    better = int(np.sum(~ref & cand))
    p = mcnemar_exact(worse, better)
    n = len(ref)
    delta = (better - worse) / n if n else 0.0
    return PairedComparison(n, delta, worse, better, p, p < alpha, alpha)


def pack_bits(mask: np.ndarray) -> str:
    """A boolean vector as compact base64 text (for the results JSON)."""
    return base64.b64encode(np.packbits(np.asarray(mask, dtype=bool)).tobytes()).decode("ascii")


def unpack_bits(text: str, n: int) -> np.ndarray:
    """Inverse of :func:`pack_bits` for a vector of length ``n``."""
    raw = np.frombuffer(base64.b64decode(text.encode("ascii")), dtype=np.uint8)
    return np.unpackbits(raw)[:n].astype(bool)
