"""What every model-poisoning attacker that mimics honest statistics shares: it trains
honestly, observes the honest updates (:mod:`.population`), and sends a crafted update.

A subclass implements only :meth:`CraftedUpdate.craft` on flat vectors: the base, the honest
view, and a seeded generator; its plain version for the ledger-free baselines is
:func:`plain_crafted` with the same ``craft``. Claims are honest (its real samples and its
real training time), so that only the weights differ from an honest provider's.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from ledgerlearn.attacks.coalition import Coalition, base_key
from ledgerlearn.attacks.population import HonestView, from_vector, observe
from ledgerlearn.learning.models import ModelSpec
from ledgerlearn.learning.training import TrainConfig
from ledgerlearn.roles.provider import DataProvider, Produced


class CraftedUpdate(DataProvider, abc.ABC):
    """A colluding provider sending ``craft(view)`` instead of its honest training (abstract:
    each attack's module says what it crafts)."""

    kind: ClassVar[str] = "crafted"
    uses_parent_states: ClassVar[bool] = True  # the chain's updates, one by one
    #: Whether it also sees its colluders' honest training of this round (else: the chain).
    omniscient: ClassVar[bool] = False

    def __init__(self, *args: Any, coalition: Coalition | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.coalition = coalition or Coalition(population=1, size=1)
        self.coalition.join(self.member_id)

    @abc.abstractmethod
    def craft(self, view: HonestView, rng: np.random.Generator) -> np.ndarray:
        """The flat update vector this attack sends, from what it can see."""

    def produce(
        self, spec: ModelSpec, base: dict[str, np.ndarray], config: TrainConfig,
        parents: list[dict[str, np.ndarray]],
    ) -> Produced:
        result = self.run_training(spec, base, self.data, config)
        key = base_key(base)
        self.coalition.share(key, self.member_id, result.state)
        mates = self.coalition.honest(key, exclude=self.member_id) if self.omniscient else []
        view = observe(base, result.state, chain=parents, colluders=mates)
        rng = np.random.default_rng([config.seed, 0xA77AC])
        crafted = from_vector(self.craft(view, rng), result.state)
        return Produced(crafted, len(self.data), result.seconds)


def plain_crafted(
    craft: Any,
    trained: Mapping[str, np.ndarray],
    start: Mapping[str, np.ndarray],
    rng: np.random.Generator,
    population: Sequence[Mapping[str, np.ndarray]] = (),
) -> dict[str, np.ndarray]:
    """Without agents (the baselines): ``craft`` on the view of its own and the round's other
    trained updates (``population``: the omniscient view)."""
    view = observe(start, trained, colluders=list(population))
    return from_vector(craft(view, rng), trained)
