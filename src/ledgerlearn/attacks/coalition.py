"""A coalition: attackers that collude (Sybil identities of one organization, colluding
providers, and the committee members they bought).

Its members share what they trained honestly this round (the omniscient attacker's view of
the honest updates, Baruch et al. 2019; Xie et al. 2020), know how many providers take part
(``population``) and how many of them collude (``size``), and the member ids of the providers
among them (the allies a colluding committee member favours).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


class Coalition:
    def __init__(self, population: int, size: int) -> None:
        self.population = population
        self.size = size
        self.providers: set[str] = set()
        self._honest: dict[str, dict[str, dict[str, np.ndarray]]] = {}

    def join(self, member_id: str) -> None:
        self.providers.add(member_id)

    def share(self, key: str, member_id: str, trained: Mapping[str, np.ndarray]) -> None:
        """Post a member's honest training for the base ``key`` (one round's parents)."""
        self._honest.setdefault(key, {})[member_id] = dict(trained)

    def honest(self, key: str, exclude: str) -> list[dict[str, np.ndarray]]:
        """What the other members trained honestly from the same base, in member order."""
        shared = self._honest.get(key, {})
        return [shared[m] for m in sorted(shared) if m != exclude]


def base_key(base: Mapping[str, np.ndarray]) -> str:
    """A key naming the base of a round (its weights' hash): colluders building on the same
    parents' aggregate share their training under it."""
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(base):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(base[name]).tobytes())
    return digest.hexdigest()[:24]
