"""Error of one tensor against its FP32 reference, accumulated batch by batch.

SQNR is measured per channel and averaged over the channels that carry
signal: ``-10 log10(mean_c(noise_c / signal_c))``. A plain whole-tensor SQNR
is dominated by the loudest channel, so a layer whose one channel was scaled
1000x (crushing every other channel under a shared INT8 scale) would look
clean while it loses almost everything downstream layers read. Cosine is the
mean per-sample cosine of the flattened tensors; max abs is the largest
absolute difference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# SQNR reported when there is no measurable noise (identical tensors).
MAX_SQNR_DB = 140.0
# Channels whose energy is below this share of the loudest channel's carry no signal.
SILENT_CHANNEL = 1e-10
# Below this input SQNR noise no longer adds up: a layer's own loss cannot be estimated.
ESTIMABLE_INPUT_DB = 10.0


def channels_first(array: np.ndarray) -> np.ndarray:
    """``array`` as N x C x rest (a 2-D N x C tensor gets one spatial position)."""
    if array.ndim == 1:
        return array.reshape(-1, 1, 1)
    return array.reshape(array.shape[0], array.shape[1], -1)


@dataclass
class ErrorStats:
    """Running sums for one tensor: per-channel signal and noise, per-sample cosine, max abs."""

    signal: np.ndarray | None = None
    noise: np.ndarray | None = None
    cosines: list[float] = field(default_factory=list)
    max_abs: float = 0.0

    def add(self, reference: np.ndarray, candidate: np.ndarray) -> None:
        """Accumulate one batch (same shape, batch axis first).

        Works in the tensors' own float32, summing in float64: at 224 pixels the
        probe's tensors are large, and copies to float64 cost more than the run.
        """
        ref = channels_first(np.asarray(reference, dtype=np.float32))
        cand = channels_first(np.asarray(candidate, dtype=np.float32))
        if ref.shape != cand.shape:
            raise ValueError(f"shape mismatch {ref.shape} vs {cand.shape}")
        diff = ref - cand
        ref_nc = np.square(ref).sum(axis=2, dtype=np.float64)
        noise_nc = np.square(diff).sum(axis=2, dtype=np.float64)
        signal, noise = ref_nc.sum(axis=0), noise_nc.sum(axis=0)
        self.signal = signal if self.signal is None else self.signal + signal
        self.noise = noise if self.noise is None else self.noise + noise
        flat_ref, flat_cand = ref.reshape(len(ref), -1), cand.reshape(len(cand), -1)
        cand_energy = np.square(flat_cand).sum(axis=1, dtype=np.float64)
        norms = np.sqrt(ref_nc.sum(axis=1) * cand_energy)
        dots = np.einsum("ij,ij->i", flat_ref, flat_cand, dtype=np.float64)
        same = noise_nc.sum(axis=1) == 0
        cos = np.where(same, 1.0, dots / np.maximum(norms, 1e-30))
        self.cosines.extend(float(c) for c in cos)
        if diff.size:
            self.max_abs = max(self.max_abs, float(max(diff.max(), -diff.min())))

    @property
    def noise_ratio(self) -> float:
        """Mean over signal-carrying channels of noise / signal (0 when exact)."""
        if self.signal is None or self.noise is None:
            return float("nan")
        loud = self.signal > SILENT_CHANNEL * max(float(self.signal.max()), 1e-30)
        if not loud.any():
            return 0.0 if float(self.noise.sum()) == 0 else float("inf")
        return float(np.mean(self.noise[loud] / self.signal[loud]))

    def summary(self) -> dict[str, float]:
        """``{"sqnr_db", "cosine", "max_abs"}``."""
        return {
            "sqnr_db": ratio_to_db(self.noise_ratio),
            "cosine": float(np.mean(self.cosines)) if self.cosines else float("nan"),
            "max_abs": self.max_abs,
        }


def ratio_to_db(ratio: float) -> float:
    """Noise/signal ratio -> SQNR in dB, capped at ``MAX_SQNR_DB``."""
    if math.isnan(ratio):
        return ratio
    if ratio <= 0:
        return MAX_SQNR_DB
    return min(MAX_SQNR_DB, -10.0 * math.log10(ratio))


def db_to_ratio(db: float) -> float:
    return 10.0 ** (-db / 10.0)


def estimated_local_db(output_db: float, input_dbs: list[float]) -> float:
    """A layer's own SQNR estimated from cumulative ones, assuming noise powers add.

    Used where a runtime cannot run a layer alone (LiteRT): the noise a layer
    adds is its output's noise ratio minus the largest ratio among its inputs.
    NaN when an input is already below ``ESTIMABLE_INPUT_DB`` (its signal is lost,
    and what follows says nothing about this layer).
    """
    before = max((db_to_ratio(d) for d in input_dbs if not math.isnan(d)), default=0.0)
    if before > db_to_ratio(ESTIMABLE_INPUT_DB):
        return float("nan")
    return ratio_to_db(db_to_ratio(output_db) - before)
