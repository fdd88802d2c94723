"""What every tip-selection rule shares: the candidate record and the input checks."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from ledgerlearn.learning.errors import AggregationError


@dataclass(frozen=True)
class Candidate:
    """A verified update a provider may build on, with what the provider knows about it.

    ``committee_score``: the median score on chain (higher is better); ``local_score``: its
    accuracy on the provider's own hold-out; ``similarity``: cosine similarity of its change
    from the initial weights with the provider's own latest change (0 when it has none).
    """

    update_id: str
    committee_score: float
    local_score: float
    similarity: float = 0.0
    samples: int = 1


@dataclass(frozen=True)
class Choice:
    """The chosen parents (sorted ids) and their aggregation weights (sum 1), plus the
    utility of every candidate, for the record."""

    parents: tuple[str, ...]
    weights: dict[str, float]
    utilities: dict[str, float]


class TipRule(ABC):
    """A rule: checks its inputs once here, then :meth:`rank` does the math."""

    name = ""

    def choose(self, candidates: Sequence[Candidate], *, max_parents: int) -> Choice:
        if max_parents < 1:
            raise AggregationError(f"tip selection: max_parents must be >= 1; got {max_parents}")
        if not candidates:
            raise AggregationError("tip selection: no candidate to choose from")
        ids = [c.update_id for c in candidates]
        if len(set(ids)) != len(ids):
            raise AggregationError("tip selection: a candidate appears twice")
        for c in candidates:
            values = (c.committee_score, c.local_score, c.similarity)
            if not all(math.isfinite(v) for v in values) or c.samples < 1:
                raise AggregationError(
                    f"tip selection: candidate {c.update_id} has non-finite scores or no samples"
                )
        ordered = sorted(candidates, key=lambda c: c.update_id)  # order-independent
        return self.rank(ordered, max_parents)

    @abstractmethod
    def rank(self, candidates: Sequence[Candidate], max_parents: int) -> Choice:
        """Choose among checked candidates, sorted by id."""
