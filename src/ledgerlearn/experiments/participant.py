"""One participant of an experiment's cast, as ``ledgerlearn node --experiment`` runs it.

Built from the experiment file, the role, the index and the mode, it gives the node
(:mod:`ledgerlearn.participants.node`, which sits below the experiment layers and takes it as
``NodeConfig.cast``) exactly what the in-process run gives the same participant: the workload
(:func:`ledgerlearn.protocols.workload.build_workload`: data set, split, partition, model,
training settings, adversaries) and the agent (:mod:`ledgerlearn.protocols.ledger_session`).
"""

from __future__ import annotations

import dataclasses
from functools import cached_property
from pathlib import Path
from typing import Any

from ledgerlearn.experiments.config import ConfigError, load_config
from ledgerlearn.protocols.config import LEDGER_MODES, ExperimentConfig


class CastError(ValueError):
    """The experiment has no such participant, or the file cannot be read."""


@dataclasses.dataclass
class ExperimentCast:
    """Participant ``index`` (0-based) of ``role`` in the experiment's ``mode`` model."""

    path: Path
    config: ExperimentConfig
    role: str
    index: int
    mode: str

    @classmethod
    def load(cls, path: Path, role: str, index: int, mode: str) -> ExperimentCast:
        try:
            config = load_config(path)
        except ConfigError as exc:
            raise CastError(str(exc)) from None
        if mode not in LEDGER_MODES:
            raise CastError(f"--mode must be one of {', '.join(LEDGER_MODES)}, not {mode}")
        size = {"provider": config.providers.count, "committee": config.committee.size}
        if role in size and not 0 <= index < size[role]:
            raise CastError(f"{path} has {size[role]} {role} participants; --index {index} "
                            f"must lie in 0..{size[role] - 1}")
        return cls(Path(path), config, role, index, mode)

    @property
    def model_id(self) -> str:
        from ledgerlearn.protocols.ledger_session import model_id_of

        return model_id_of(self.config, self.mode)

    @cached_property
    def workload(self) -> Any:
        from ledgerlearn.protocols.workload import build_workload

        return build_workload(self.config)

    def plan(self, model_id: str) -> tuple[Any, Any]:
        """The model plan and validation set the publisher publishes. A federation round's
        time-out is real time here: ``[rules].round_deadline`` seconds."""
        from ledgerlearn.protocols.ledger_session import model_plan

        plan = model_plan(self.config, self.workload, self.mode,
                          round_timeout=self.config.rules.round_deadline)
        return dataclasses.replace(plan, model_id=model_id), self.workload.validation

    def committee_ids(self, folder: Path) -> tuple[str, ...]:
        """The committee's member ids, from the certificates of ``connection-member<I>.json``
        in ``folder`` (a network folder's layout)."""
        from ledgerlearn.experiments.network import ParticipantFiles

        files = ParticipantFiles(folder, self.config)
        return tuple(files.member_id("committee", i) for i in range(self.config.committee.size))

    def provider(self, ledger: Any, store: Any) -> Any:
        from ledgerlearn.protocols.ledger_session import provider_agent

        return provider_agent(self.config, self.workload, self.index, ledger, store)

    def committee_member(self, ledger: Any, store: Any, key: Any) -> Any:
        from ledgerlearn.protocols.ledger_session import committee_agent

        return committee_agent(self.config, self.index, ledger, store, key)

    def max_updates(self) -> int:
        """This provider's updates in the in-process gossip schedule."""
        from ledgerlearn.experiments.runner import make_schedule
        from ledgerlearn.protocols.gossip import update_quotas

        samples = [len(p.dataset) for p in self.workload.providers]
        return update_quotas(self.config, make_schedule(self.config), samples)[self.index]
