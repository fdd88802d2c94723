"""Reward rules: how much each verified update of a round contributed, and its credit.

Pure functions, one named rule each, so that a reviewer checks the arithmetic here and the
contract (``report_contribution``) only feeds them the committee's median evaluations.

The committee evaluates *coalitions*: the aggregate (FedAvg by samples, as every provider
aggregates) of a subset of the round's verified updates, on each member's validation fragment.
A coalition is written as its sorted update ids joined by ``,``; the empty coalition ``""`` is
the model the round started from (the aggregate of the round's parents). The contract says
which coalitions a rule needs (:func:`required_coalitions`), takes the median of the members'
values per coalition (:func:`median_values`), and the rule turns values into contributions:

* ``loo`` — leave-one-out: ``v(V) - v(V without i)`` (Cook 1977's deletion diagnostics, the
  baseline of contribution measurement in FL; e.g. Jia et al. 2019, "Towards Efficient Data
  Valuation Based on the Shapley Value", AISTATS).
* ``gtg_shapley`` — a Monte-Carlo Shapley value over a few permutations of the round's updates,
  guided as in GTG-Shapley (Liu, Chen, Lin, Wu, Yu & Song 2022, "GTG-Shapley: Efficient and
  Accurate Participant Contribution Evaluation in Federated Learning", ACM TIST 13(4)): the k-th
  permutation starts with the k-th update (each update leads once before any leads twice), the
  rest is ordered by a hash of recorded randomness; the round is truncated (everyone 0) when the
  whole round changed the value by at most ``truncation``. The within-permutation truncation of
  GTG-Shapley is not used: the committee reports every prefix at once, so the set of coalitions
  must be fixed before anyone evaluates.
* ``improvement`` — the update alone against the round's starting model, ``v({i}) - v({})``
  (gossip: the update against the aggregate of its parents), the score difference a committee
  already measures (the "marginal gain" used by FedCoin, Liu et al. 2020, to seed its payments).

**What the committee measures** (``rules.rewards.metric``, default the model's metric): the
verdict's metric need not be the reward's. Accuracy on a member's fragment of a few hundred
images moves in steps of 1/fragment size, while one update of a 20-provider round moves the
aggregate by much less: most leave-one-out differences are then 0 or one step, that is,
quantization noise. Cross-entropy (``loss``) is continuous in the weights, so small
contributions keep their order (Jia et al. 2019 value data with a smooth utility for the same
reason). Values are oriented so that larger is better (a lower-is-better metric is negated).

**Lazy updates** (``rules.rewards.min_gain``, optional): the committee then also evaluates
each update alone, and an update that alone moves its start's value by at most ``min_gain``,
either way, did no training and earns nothing (:func:`own_gain_gate`).

Credits are whole units: a round's pot is split in proportion to the positive contributions
and rounded down, so the credits of a round never exceed its pot; negative or zero contributions
earn nothing, and only verified updates take part at all.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence

from ledgerlearn.contract.decisions import median

LOO = "loo"
GTG_SHAPLEY = "gtg_shapley"
IMPROVEMENT = "improvement"
#: The reward rules a model may name (rules.rewards.rule), and the modes each fits.
REWARD_RULES: dict[str, tuple[str, ...]] = {
    LOO: ("federation",),
    GTG_SHAPLEY: ("federation",),
    IMPROVEMENT: ("federation", "gossip"),
}
START = ""  # the empty coalition: the model the round (the update) started from


def measure(spec: Mapping[str, object], model_metric: str) -> str:
    """The metric the committee evaluates coalitions with: the reward rule's, else the
    model's."""
    return str(spec.get("metric") or model_metric)


def coalition_key(update_ids: Sequence[str]) -> str:
    return ",".join(sorted(update_ids))


def contribution_seed(subject: str, tx_ids: Sequence[str]) -> str:
    """Randomness no single participant controls: SHA-256 over the subject and the sorted
    transaction ids of the round's updates and verdicts (each chosen by a different submitter,
    all committed before the contributions are asked for)."""
    text = "|".join([subject, *sorted(tx_ids)])
    return hashlib.sha256(text.encode()).hexdigest()


def permutations(update_ids: Sequence[str], seed: str, count: int) -> list[list[str]]:
    """``count`` guided permutations: the k-th starts with update k (in sorted order, cycling),
    the others ordered by SHA-256 of (seed, k, update id)."""
    ids = sorted(update_ids)
    if not ids:
        return []
    result = []
    for k in range(count):
        first = ids[k % len(ids)]
        rest = sorted(
            (u for u in ids if u != first),
            key=lambda u, k=k: hashlib.sha256(f"{seed}|{k}|{u}".encode()).hexdigest(),
        )
        result.append([first, *rest])
    return result


def required_coalitions(
    rule: str, update_ids: Sequence[str], *, seed: str = "", permutation_count: int = 0,
    singletons: bool = False,
) -> list[str]:
    """The coalitions the committee must evaluate for ``rule`` over ``update_ids`` (and,
    with ``singletons``, each update alone, for :func:`own_gain_gate`)."""
    ids = sorted(update_ids)
    needed = {START}
    if singletons:
        needed.update(ids)
    if rule == LOO:
        needed.add(coalition_key(ids))
        needed.update(coalition_key([u for u in ids if u != left]) for left in ids)
    elif rule == GTG_SHAPLEY:
        for order in permutations(ids, seed, permutation_count):
            needed.update(coalition_key(order[: n + 1]) for n in range(len(order)))
    elif rule == IMPROVEMENT:
        needed.update(ids)
    else:
        raise ValueError(f"unknown reward rule {rule!r}")
    return sorted(needed)


def median_values(reports: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Per coalition, the median of the members' values (no member decides alone)."""
    if not reports:
        raise ValueError("median of no reports")
    return {key: median([r[key] for r in reports]) for key in sorted(reports[0])}


def oriented(values: Mapping[str, float], higher_is_better: bool) -> dict[str, float]:
    return {k: (v if higher_is_better else -v) for k, v in values.items()}


def leave_one_out(values: Mapping[str, float], update_ids: Sequence[str]) -> dict[str, float]:
    """``v(V) - v(V without i)`` for each update i of V (V without i empty: the start)."""
    ids = sorted(update_ids)
    whole = values[coalition_key(ids)]
    return {u: whole - values[coalition_key([x for x in ids if x != u])] for u in ids}


def gtg_shapley(
    values: Mapping[str, float], orders: Sequence[Sequence[str]], truncation: float = 0.0
) -> dict[str, float]:
    """Monte-Carlo Shapley over ``orders``: each update's mean marginal value where it joins
    the prefix before it. Between-round truncation: all zero when ``|v(V) - v({})|`` is at most
    ``truncation`` (the round changed nothing worth splitting)."""
    if not orders:
        return {}
    ids = sorted(orders[0])
    if abs(values[coalition_key(ids)] - values[START]) <= truncation:
        return dict.fromkeys(ids, 0.0)
    total = dict.fromkeys(ids, 0.0)
    for order in orders:
        before = values[START]
        for n, u in enumerate(order):
            after = values[coalition_key(order[: n + 1])]
            total[u] += after - before
            before = after
    return {u: total[u] / len(orders) for u in ids}


def improvement(values: Mapping[str, float], update_ids: Sequence[str]) -> dict[str, float]:
    """``v({i}) - v({})``: each update against the model it started from."""
    return {u: values[u] - values[START] for u in sorted(update_ids)}


def contributions(
    rule: str, values: Mapping[str, float], update_ids: Sequence[str], *, seed: str = "",
    permutation_count: int = 0, truncation: float = 0.0,
) -> dict[str, float]:
    """The contribution of each update under ``rule`` from oriented coalition values."""
    if rule == LOO:
        return leave_one_out(values, update_ids)
    if rule == GTG_SHAPLEY:
        return gtg_shapley(values, permutations(update_ids, seed, permutation_count), truncation)
    if rule == IMPROVEMENT:
        return improvement(values, update_ids)
    raise ValueError(f"unknown reward rule {rule!r}")


def own_gain_gate(
    contribution: Mapping[str, float], values: Mapping[str, float], min_gain: float
) -> tuple[dict[str, float], dict[str, str]]:
    """Lazy updates earn nothing: an update that alone changes the value of the model it
    started from by at most ``min_gain`` either way (``|v({i}) - v({})|``) did no useful
    training, whatever its marginal value in the aggregate (a start copy plus noise can damp
    an overshooting round and so show a positive leave-one-out value). The disguised free
    riders of Lin, Du & Liu 2019 ("Free-riders in Federated Learning: Attacks and Defenses")
    submit exactly that.

    The test is two-sided on purpose: after a few rounds an honest update *alone* (one
    provider's epoch, not yet averaged with the others) is often worse than the round's start
    on a member's fragment, while its share in the aggregate is what helps; a one-sided
    "must gain" test then pays most honest updates nothing (the MNIST run of
    ``benchmarks/incentives.py`` gated 137 of 170 honest updates that way). A copy moves the
    value by the noise it carries only: ~1e-4 of cross-entropy in that run.
    Returns the contributions to pay (gated ones 0) and why each gated one earns nothing."""
    paid, gated = {}, {}
    for u, c in contribution.items():
        gain = values[u] - values[START]
        if abs(gain) <= min_gain:
            paid[u] = 0.0
            gated[u] = (f"lazy: alone it changes the start's value by {gain:+.6f}, within "
                        f"rules.rewards.min_gain {min_gain:g}")
        else:
            paid[u] = c
    return paid, gated


def split_pot(contribution: Mapping[str, float], pot: int) -> dict[str, int]:
    """Whole credits in proportion to the positive contributions, rounded down: their sum
    never exceeds ``pot``; zero and negative contributions earn 0."""
    positive = {u: max(0.0, c) for u, c in contribution.items() if math.isfinite(c)}
    total = sum(positive.values())
    if pot <= 0 or total <= 0:
        return dict.fromkeys(sorted(contribution), 0)
    credits = {u: math.floor(pot * positive.get(u, 0.0) / total) for u in sorted(contribution)}
    while sum(credits.values()) > pot:  # float rounding only; never more than the pot
        largest = max(credits, key=lambda u: (credits[u], u))
        credits[largest] -= 1
    return credits


def round_pot(budget: int, rounds: int) -> int:
    """A federation round's share of the model's budget."""
    return budget // max(1, rounds)


def gossip_credit(gain: float, *, cap: int, full_gain: float) -> int:
    """A gossip update's credit: ``cap`` for a gain of ``full_gain`` or more, proportionally
    less for a smaller gain, nothing for none (rounded down)."""
    if gain <= 0 or cap <= 0:
        return 0
    return math.floor(cap * min(1.0, gain / full_gain))


def evaluation_deviation(
    values: Mapping[str, float], medians: Mapping[str, float], tolerance: float
) -> str | None:
    """How a member's coalition values deviate from the medians, or None when all agree
    (within ``tolerance``, like scores: decisions.member_deviation)."""
    far = [k for k in sorted(medians) if abs(values[k] - medians[k]) > tolerance]
    if not far:
        return None
    worst = max(far, key=lambda k: abs(values[k] - medians[k]))
    return (
        f"{len(far)} of {len(medians)} coalition values beyond ±{tolerance:g} of the median; "
        f"worst {worst or 'start'}: {values[worst]:.4f} against {medians[worst]:.4f}"
    )
