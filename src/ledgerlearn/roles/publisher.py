"""The model publisher: spec, initial weights and encrypted validation fragments, published.

It stores everything by content address, splits its validation set into stratified fragments
(one per committee member), encrypts each to that member's registered certificate (only the
member can read its fragment), and publishes the task with its rules on the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from ledgerlearn.learning.datasets import Dataset
from ledgerlearn.learning.models import ModelSpec
from ledgerlearn.learning.weights import state_dict_to_bytes
from ledgerlearn.roles.ledger_api import LearningLedger
from ledgerlearn.storage.fragments import encrypt_fragment, pack_fragment, split_stratified
from ledgerlearn.storage.store import ContentStore


@dataclass(frozen=True)
class ModelPlan:
    """Everything a publisher decides about a learning task."""

    model_id: str
    spec: ModelSpec
    mode: str  # "federation" or "gossip"
    rules: Mapping[str, Any]
    name: str = "digits classifier"
    description: str = "Classify 8x8 images of handwritten digits into 10 classes."
    data_requirements: str = "labelled 8x8 grey-scale digit images, values standardized"
    metric: str = "accuracy"
    higher_is_better: bool = True
    seed: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)


class Publisher:
    """Publishes learning tasks through the ledger client and the content store."""

    def __init__(self, ledger: LearningLedger, store: ContentStore) -> None:
        self.ledger = ledger
        self.store = store

    def publish(
        self, plan: ModelPlan, validation: Dataset, committee: Sequence[str],
        *, pool: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Store spec, initial weights and fragments; publish; return the model record.
        With a rotation ``pool``, one fragment per pool member (an elected member finds its
        own without the publisher online); otherwise one per committee member."""
        spec_cid = self.store.put_bytes(plan.spec.to_json())
        initial = plan.spec.initial_state(plan.seed)
        weights_cid = self.store.put_bytes(state_dict_to_bytes(initial))
        holders = list(pool) if pool is not None else list(committee)
        parts = split_stratified(validation.x, validation.y, len(holders), plan.seed)
        fragments = {}
        for member_id, (features, labels) in zip(holders, parts, strict=True):
            record = self.ledger.get_member(member_id)
            certificate = x509.load_pem_x509_certificate(record["certificate_pem"].encode())
            blob = encrypt_fragment(
                pack_fragment(features, labels), certificate,
                model_id=plan.model_id, member_id=member_id,
            )
            fragments[member_id] = self.store.put_bytes(blob)
        return self.ledger.publish_model({
            "model_id": plan.model_id,
            "name": plan.name,
            "description": plan.description,
            "data_requirements": plan.data_requirements,
            "spec_cid": spec_cid,
            "initial_weights_cid": weights_cid,
            "metric": plan.metric,
            "higher_is_better": plan.higher_is_better,
            "mode": plan.mode,
            "committee": list(committee),
            "fragments": fragments,
            "rules": dict(plan.rules),
        })
