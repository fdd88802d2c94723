"""Sequential tests of a mean against a threshold: score with as few samples as the decision
needs.

A committee member's score of an update (accuracy) is the mean, over the samples of its
fragment, of a bounded per-sample value (1 when the prediction is right); the relative rule
compares a paired mean (per sample, the joined aggregate's value minus its base's). Drawing
samples of the fragment uniformly *with replacement* makes the draws i.i.d. with exactly that
full-fragment mean as their expectation, so an anytime-valid confidence sequence for the mean
of i.i.d. bounded observations covers the full-fragment value at every draw count at once,
with the declared confidence. The test stops as soon as the interval excludes the threshold:
the full-fragment value then lies on the same side, so the verdict is the one the whole
fragment would give (with probability at least the confidence).

The confidence sequence is the *predictable plug-in empirical-Bernstein* sequence (PrPl-EB) of
Waudby-Smith and Ramdas, "Estimating means of bounded random variables by betting", JRSS-B
86(1), 2024, Theorem 2 (building on Howard, Ramdas, McAuliffe and Sekhon, "Time-uniform,
nonparametric, nonasymptotic confidence sequences", Annals of Statistics 49(2), 2021). For
observations ``X_i`` in [0, 1]:

* ``mu_t = (1/2 + sum_{i<=t} X_i) / (t + 1)``,
  ``s2_t = (1/4 + sum_{i<=t} (X_i - mu_i)^2) / (t + 1)``
* ``lambda_t = min(sqrt(2 log(2/alpha) / (s2_{t-1} t log(1 + t))), 1/2)`` (predictable)
* ``v_t = 4 (X_t - mu_{t-1})^2``, ``psi(l) = (-log(1 - l) - l) / 4``
* ``C_t = sum l_i X_i / sum l_i  +-  (log(2/alpha) + sum v_i psi(l_i)) / sum l_i``

and the running intersection of the ``C_t`` (still valid). Unlike a fixed-sample bound with a
union bound over looks (as in Mnih, Szepesvari and Audibert, "Empirical Bernstein stopping",
ICML 2008), it may be checked after every batch at no extra cost in confidence, and its width
follows the observed variance (paired differences that are mostly 0 stop early).

Observations on another bounded range ``[low, high]`` are mapped to [0, 1] and back.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ledgerlearn.learning.errors import TrainingError

__all__ = ["ConfidenceSequence", "SequentialTest", "Threshold", "draw_indices"]

#: The cap on the bet (the paper's c; 1/2 or 3/4 are its suggestions).
MAX_BET = 0.5


def check_confidence(confidence: float, where: str) -> float:
    """A confidence strictly between 0 and 1 (the one place this unit checks it)."""
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not (
        0.0 < float(confidence) < 1.0
    ):
        raise TrainingError(f"{where}: confidence must be a number in (0, 1); got {confidence!r}")
    return float(confidence)


def check_observations(values: np.ndarray, low: float, high: float, where: str) -> np.ndarray:
    """Finite observations within ``[low, high]``, as float64."""
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(array)):
        raise TrainingError(f"{where}: observations must be finite")
    if array.size and (array.min() < low or array.max() > high):
        raise TrainingError(
            f"{where}: observations must lie in [{low:g}, {high:g}]; got "
            f"[{array.min():g}, {array.max():g}]"
        )
    return array


class ConfidenceSequence:
    """PrPl-EB confidence sequence for the mean of i.i.d. observations in ``[low, high]``."""

    def __init__(self, confidence: float, low: float = 0.0, high: float = 1.0) -> None:
        where = "ConfidenceSequence"
        self.confidence = check_confidence(confidence, where)
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise TrainingError(f"{where}: the range must be finite with low < high; got "
                                f"[{low!r}, {high!r}]")
        self.low, self.high = float(low), float(high)
        self._log = math.log(2.0 / (1.0 - self.confidence))
        self.count = 0
        self._sum = 0.0  # sum of X_i (unit scale)
        self._sq = 0.0  # sum of (X_i - mu_i)^2
        self._bets = 0.0  # sum of lambda_i
        self._weighted = 0.0  # sum of lambda_i X_i
        self._penalty = 0.0  # sum of v_i psi(lambda_i)
        self._lower, self._upper = 0.0, 1.0  # running intersection, unit scale

    def extend(self, values: Sequence[float] | np.ndarray) -> None:
        """Add observations in the order they were drawn."""
        x = (check_observations(np.asarray(values), self.low, self.high, "ConfidenceSequence")
             - self.low) / (self.high - self.low)
        if not x.size:
            return
        t = self.count + np.arange(1, x.size + 1, dtype=np.float64)  # this draw's index
        sums = self._sum + np.cumsum(x)
        means = (0.5 + sums) / (t + 1.0)  # mu_t
        previous_means = np.concatenate(([(0.5 + self._sum) / (self.count + 1.0)], means[:-1]))
        squares = self._sq + np.cumsum((x - means) ** 2)
        variances = (0.25 + squares) / (t + 1.0)  # s2_t
        previous_var = np.concatenate(([(0.25 + self._sq) / (self.count + 1.0)], variances[:-1]))
        bets = np.minimum(np.sqrt(2.0 * self._log / (previous_var * t * np.log1p(t))), MAX_BET)
        v = 4.0 * (x - previous_means) ** 2
        psi = (-np.log1p(-bets) - bets) / 4.0
        bet_sums = self._bets + np.cumsum(bets)
        weighted = self._weighted + np.cumsum(bets * x)
        penalty = self._penalty + np.cumsum(v * psi)
        centre = weighted / bet_sums
        radius = (self._log + penalty) / bet_sums
        self._lower = max(self._lower, float(np.max(centre - radius)))
        self._upper = min(self._upper, float(np.min(centre + radius)))
        self.count += x.size
        self._sum, self._sq = float(sums[-1]), float(squares[-1])
        self._bets, self._weighted, self._penalty = (float(bet_sums[-1]), float(weighted[-1]),
                                                     float(penalty[-1]))

    @property
    def mean(self) -> float:
        """The plain mean of the observations so far (on their own scale)."""
        if not self.count:
            raise TrainingError("ConfidenceSequence: no observations yet")
        return self.low + (self.high - self.low) * self._sum / self.count

    @property
    def interval(self) -> tuple[float, float]:
        """The running interval on the observations' scale (the whole range before any)."""
        span = self.high - self.low
        lower, upper = self._lower, self._upper
        if lower > upper:  # the intersection emptied: a miscoverage event; keep the mean
            lower = upper = self._sum / self.count
        return self.low + span * lower, self.low + span * upper


@dataclass(frozen=True)
class Threshold:
    """One rule's comparison: the mean of ``name`` passes when it is at least ``at``
    (None: only its interval is wanted, nothing is tested)."""

    name: str
    at: float | None
    low: float = 0.0
    high: float = 1.0


@dataclass
class SequentialTest:
    """Several thresholds tested at once on paired observations, each with a confidence
    sequence at ``1 - (1 - confidence) / len(thresholds)`` (a union bound), so that all are
    right together with the declared confidence."""

    thresholds: Sequence[Threshold]
    confidence: float
    sequences: dict[str, ConfidenceSequence] = field(init=False)

    def __post_init__(self) -> None:
        check_confidence(self.confidence, "SequentialTest")
        if not self.thresholds:
            raise TrainingError("SequentialTest: name at least one threshold")
        names = [t.name for t in self.thresholds]
        if len(set(names)) != len(names):
            raise TrainingError(f"SequentialTest: threshold names repeat: {names}")
        each = 1.0 - (1.0 - self.confidence) / len(self.thresholds)
        self.sequences = {t.name: ConfidenceSequence(each, t.low, t.high)
                          for t in self.thresholds}

    def extend(self, observations: dict[str, np.ndarray]) -> None:
        """Add the same draws' observations for every threshold."""
        if set(observations) != set(self.sequences):
            raise TrainingError(
                f"SequentialTest: observations for {sorted(observations)}, thresholds "
                f"{sorted(self.sequences)}"
            )
        lengths = {len(np.asarray(v).reshape(-1)) for v in observations.values()}
        if len(lengths) != 1:
            raise TrainingError("SequentialTest: paired observations must have one length")
        for name, values in observations.items():
            self.sequences[name].extend(values)

    def side(self, threshold: Threshold) -> bool | None:
        """True: certainly passes (interval at or above); False: certainly fails (below);
        None: the interval still holds the threshold. Nothing to test counts as passing."""
        if threshold.at is None:
            return True
        lower, upper = self.sequences[threshold.name].interval
        if lower >= threshold.at:
            return True
        if upper < threshold.at:
            return False
        return None

    @property
    def decided(self) -> bool:
        return all(self.side(t) is not None for t in self.thresholds)


def draw_indices(seed: str, population: int, start: int, count: int) -> np.ndarray:
    """Draws ``start .. start + count - 1`` of the uniform draws with replacement from
    ``range(population)`` that ``seed`` determines (each draw from SHA-256 of the seed and
    its number: the same whichever batches ask for them)."""
    if population < 1 or start < 0 or count < 0:
        raise TrainingError(
            f"draw_indices: population {population} >= 1, start {start} >= 0 and count "
            f"{count} >= 0 required"
        )
    out = np.empty(count, dtype=np.int64)
    for k in range(count):
        digest = hashlib.sha256(f"{seed}|{start + k}".encode()).digest()
        out[k] = int.from_bytes(digest[:8], "big") % population
    return out
