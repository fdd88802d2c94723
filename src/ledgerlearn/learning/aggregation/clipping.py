"""Centered clipping: pull every update to within a radius of a robust centre.

Karimireddy, He, Jaggi. "Learning from History for Byzantine Robust Optimization." ICML 2021.
https://arxiv.org/abs/2012.10333

Updates are model weights, so a plain norm clip would shrink the model itself; the clip is
centred instead. The centre is the coordinate-wise median of the rows (no history is kept on
chain, so one iteration from a robust start), and the radius, unless given, the median of the
rows' distances to it (adaptive, as in Allouah et al. 2024's "Adaptive Robust Clipping"): an
update boosted far from the others keeps its direction but not its length.
"""

from __future__ import annotations

import numpy as np

from ledgerlearn.learning.aggregation.preaggregation import PreAggregation
from ledgerlearn.learning.errors import AggregationError


class Clipping(PreAggregation):
    """x_i -> c + (x_i - c) * min(1, tau / ||x_i - c||), c = coordinate median."""

    name = "clipping"

    def __init__(self, radius: float | None = None) -> None:
        if radius is not None and not (isinstance(radius, (int, float)) and radius > 0):
            raise AggregationError(f"clipping: radius must be positive; got {radius!r}")
        self.radius = radius

    def transform(self, matrix: np.ndarray) -> np.ndarray:
        centre = np.median(matrix, axis=0)
        offsets = matrix - centre
        norms = np.sqrt(np.square(offsets).sum(axis=1))
        radius = float(np.median(norms)) if self.radius is None else float(self.radius)
        scale = np.ones_like(norms)
        far = norms > radius
        scale[far] = radius / norms[far]
        return centre + offsets * scale[:, None]
