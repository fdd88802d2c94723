"""The privacy spent by DP-SGD, as a pure function of recorded settings and sample counts.

Rényi-DP accounting of the subsampled Gaussian mechanism: Mironov, Talwar, Zhang, *Rényi
Differential Privacy of the Sampled Gaussian Mechanism* (2019), and Mironov, *Rényi
Differential Privacy* (CSF 2017); the ε(δ) conversion of Balle et al. 2020 as Opacus does it.

The arithmetic is Opacus's own (``opacus/accountants/analysis/rdp.py``, numpy and scipy only),
loaded from the installed Opacus **without importing the ``opacus`` package**, whose
``__init__`` imports torch: the contract recomputes a provider's ε with this module on every
update, and stays free of torch. ``epsilon_spent`` composes the history exactly as
``opacus.accountants.RDPAccountant.get_privacy_spent`` does (same orders, same sum), so the
figures agree with Opacus's accountant (tested).

One DP-SGD **step** samples each of the provider's ``samples`` examples with probability
``sample_rate = min(1, batch_size / samples)`` (Poisson sampling), clips each per-sample
gradient to ``max_grad_norm`` and adds N(0, (noise_multiplier · max_grad_norm)²) noise.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = [
    "ORDERS",
    "PrivacyStep",
    "epsilon_spent",
    "max_steps",
    "noise_multiplier_for",
    "sample_rate",
]

#: Rényi orders: ``RDPAccountant.DEFAULT_ALPHAS`` of Opacus 1.6.
ORDERS: tuple[float, ...] = tuple([1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)))


@lru_cache(maxsize=1)
def _rdp() -> ModuleType:
    """Opacus's ``accountants/analysis/rdp.py``, loaded on its own (numpy, scipy; no torch)."""
    spec = importlib.util.find_spec("opacus")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "the privacy accountant needs opacus==1.6.0 installed (pip install -e '.[privacy]' "
            "or ./dev setup)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "accountants/analysis/rdp.py"
    module_spec = importlib.util.spec_from_file_location("_ledgerlearn_opacus_rdp", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class PrivacyStep:
    """``steps`` DP-SGD steps at one noise multiplier and sample rate (one update's training)."""

    noise_multiplier: float
    sample_rate: float
    steps: int


def sample_rate(batch_size: int, samples: int) -> float:
    """The Poisson sampling rate of a provider with ``samples`` examples, batches of about
    ``batch_size``."""
    if batch_size < 1 or samples < 1:
        raise ValueError(f"batch_size and samples must be >= 1; got {batch_size}, {samples}")
    return min(1.0, batch_size / samples)


def epsilon_spent(history: Iterable[PrivacyStep], delta: float) -> float:
    """ε of the composition of ``history`` at ``delta`` (0.0 for an empty history).

    Deterministic: the same history in the same order gives the same float.
    """
    rdp_module = _rdp()
    steps = [h for h in history if h.steps > 0]
    if not steps:
        return 0.0
    for h in steps:
        if not (h.noise_multiplier > 0 and 0 < h.sample_rate <= 1):
            raise ValueError(
                f"noise_multiplier must be > 0 and sample_rate in (0, 1]; got {h.noise_multiplier}"
                f", {h.sample_rate}"
            )
    # compute_rdp(q, σ, steps) is Opacus's per-step vector times steps: the same floats
    rdp = sum([_rdp_per_step(h.noise_multiplier, h.sample_rate) * h.steps for h in steps])
    eps, _ = rdp_module.get_privacy_spent(orders=list(ORDERS), rdp=rdp, delta=delta)
    eps = float(eps)
    return eps if math.isfinite(eps) else math.inf


def max_steps(
    history: Iterable[PrivacyStep], noise_multiplier: float, sample_rate: float, delta: float,
    budget: float, limit: int = 10**7,
) -> int:
    """How many more steps at (noise_multiplier, sample_rate) keep ε within ``budget``."""
    before = list(history)

    def fits(k: int) -> bool:
        step = PrivacyStep(noise_multiplier, sample_rate, k)
        return epsilon_spent([*before, step], delta) <= budget

    if not fits(0):
        return 0
    low, high = 0, 1
    while high < limit and fits(high):
        low, high = high, high * 2
    if high >= limit and fits(limit):
        return limit
    while high - low > 1:  # fits(low), not fits(high)
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low


@lru_cache(maxsize=256)
def _rdp_per_step(noise_multiplier: float, sample_rate: float) -> Any:
    """Opacus's ``compute_rdp`` of one step (the slow part: cached per setting)."""
    return _rdp().compute_rdp(
        q=sample_rate, noise_multiplier=noise_multiplier, steps=1, orders=list(ORDERS)
    )


def noise_multiplier_for(
    target_epsilon: float, delta: float, sample_rate: float, steps: int
) -> float:
    """The smallest noise multiplier whose ``steps`` steps spend at most ``target_epsilon``:
    Opacus's ``get_noise_multiplier`` (rdp accountant, ε tolerance 0.01)."""
    from opacus.accountants.utils import get_noise_multiplier  # imports torch: providers only

    return float(
        get_noise_multiplier(
            target_epsilon=target_epsilon, target_delta=delta, sample_rate=sample_rate,
            steps=steps, accountant="rdp",
        )
    )
