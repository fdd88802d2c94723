"""Parent selection for gossip mode: accuracy-biased, seeded, reproducible sampling.

A provider asks the contract for parents; the contract samples ``count`` verified updates
without replacement, each with weight ``exp(alpha * (score - best))`` (the accuracy-biased
random walk of the IOTA tangle, Popov 2018 "The Tangle", and of Schmid et al. 2020,
"Tangle Ledger for Decentralized Learning"; ``alpha = 0`` is uniform, a large ``alpha``
picks the best). Sampling is Efraimidis & Spirakis (2006), "Weighted random sampling with a
reservoir": candidate i gets key ``log(u_i) / w_i`` and the largest keys win, where ``u_i`` is
derived from SHA-256 of (model, seed, update id). Each candidate's key depends only on the seed
and its own id, so anyone can re-run the choice from the ledger and get the same parents.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence


def uniform_from_hash(model_id: str, seed: int, update_id: str) -> float:
    """A number in (0, 1) derived from SHA-256: the same on every machine and language."""
    digest = hashlib.sha256(f"{model_id}|{seed}|{update_id}".encode()).digest()
    return (int.from_bytes(digest[:8], "big") + 1) / (2**64 + 2)


def sample_parents(
    candidates: Sequence[tuple[str, float]],
    *,
    model_id: str,
    seed: int,
    alpha: float,
    count: int,
    higher_is_better: bool,
) -> list[str]:
    """Choose up to ``count`` of ``candidates`` (update id, score), biased to better scores."""
    if count < 1:
        raise ValueError(f"count must be at least 1; got {count}")
    if not candidates:
        return []
    oriented = {uid: (s if higher_is_better else -s) for uid, s in candidates}
    best = max(oriented.values())
    keyed = []
    for uid in sorted(oriented):
        weight = math.exp(alpha * (oriented[uid] - best))  # in (0, 1], best has weight 1
        u = uniform_from_hash(model_id, seed, uid)
        key = math.log(u) / weight if weight > 0 else -math.inf
        keyed.append((key, uid))
    keyed.sort(key=lambda item: (-item[0], item[1]))
    return [uid for _, uid in keyed[:count]]


def draw_seed(model_id: str, round_number: int, tx_ids: Sequence[str]) -> str:
    """The seed of a federation round's draw: SHA-256 over the model, the round and the
    transaction ids it comes from (sorted, so their order does not matter)."""
    text = "|".join([model_id, str(round_number), *sorted(tx_ids)])
    return hashlib.sha256(text.encode()).hexdigest()


def sample_providers(population: Sequence[str], count: int, seed: str) -> list[str]:
    """``count`` of ``population`` drawn uniformly without replacement (all when fewer),
    sorted. Each member's key is SHA-256(seed ‖ member id) and the smallest keys win: a
    random permutation that anyone can recompute from the seed, whatever order the
    population is listed in (as Flower's ``fraction_fit`` samples clients, but on chain)."""
    if count < 1:
        raise ValueError(f"count must be at least 1; got {count}")
    ranked = sorted(
        set(population), key=lambda m: (hashlib.sha256(f"{seed}|{m}".encode()).digest(), m)
    )
    return sorted(ranked[:count])
