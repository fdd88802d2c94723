"""Raw transactions of the learning contract on an embedded network (test helpers)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from ledgerlearn.contract import CHAINCODE_NAME
from ledgerlearn.contract.decisions import finalizer_order
from ledgerlearn.ledger.errors import EndorsementError
from ledgerlearn.ledger.network.network import EmbeddedNetwork

MEMBERS = {
    "Org1": [("pub", "publisher"), ("p1", "provider"), ("p2", "provider"), ("c1", "committee"),
             ("user", "client")],
    "Org2": [("pub2", "publisher"), ("p3", "provider"), ("p4", "provider"), ("c2", "committee"),
             ("c3", "committee")],
}
COMMITTEE = ["Org1MSP/c1", "Org2MSP/c2", "Org2MSP/c3"]
PROVIDERS = ["Org1MSP/p1", "Org1MSP/p2", "Org2MSP/p3", "Org2MSP/p4"]


def fake_cid(text: str) -> str:
    """A syntactically valid CIDv0 (the contract never fetches content)."""
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    digest = hashlib.sha256(text.encode()).digest()
    return "Qm" + "".join(alphabet[b % 58] for b in digest + digest[:12])[:44]


class Ledger:
    """Raw transactions of the learning contract, as any member could send them."""

    def __init__(self, network: EmbeddedNetwork) -> None:
        self.network = network
        self._clients: dict[str, Any] = {}

    def client(self, label: str) -> Any:
        if label not in self._clients:
            self._clients[label] = self.network.client(label, CHAINCODE_NAME)
        return self._clients[label]

    def submit(self, label: str, function: str, request: dict | None = None) -> Any:
        args = () if request is None else (json.dumps(request),)
        result = json.loads(self.client(label).submit(function, *args))
        self.network.sync()  # every peer has the block before the next endorsement
        return result

    def evaluate(self, label: str, function: str, request: dict | None = None) -> Any:
        return json.loads(self.client(label).evaluate(function, json.dumps(request or {})))

    def refused(self, label: str, function: str, request: dict | None, match: str) -> str:
        with pytest.raises(EndorsementError) as caught:
            self.submit(label, function, request)
        assert match in str(caught.value), str(caught.value)
        return str(caught.value)

    # scenario helpers ------------------------------------------------------------------
    def publish(self, model_id: str, mode: str = "federation", **rules: Any) -> dict:
        base_rules = {"quorum": 3, "min_score": 0.5, "training_time_tolerance": 10.0}
        if mode == "federation":
            base_rules.update(rounds=3, providers_per_round=2)
        base_rules.update(rules)
        return self.submit("Org1MSP/pub", "publish_model", publish_request(model_id, mode,
                                                                           base_rules))

    def activate(self, model_id: str) -> None:
        for member in COMMITTEE:
            result = self.submit(member, "review_model",
                                 {"model_id": model_id, "approve": True, "reason": "fine"})
            if result["decision"] is not None:
                return

    def update(self, provider: str, model_id: str, parents: list[str], round_number: int = 0,
               samples: int = 100) -> dict:
        request: dict[str, Any] = {
            "model_id": model_id, "weights_cid": fake_cid(f"{provider}{model_id}{parents}"),
            "parents": parents, "samples": samples, "training_seconds": 1.5,
        }
        if round_number:
            request["round"] = round_number
        return self.submit(provider, "submit_update", request)

    def report(self, member: str, model_id: str, update_id: str, score: float,
               sane: bool = True, finalize: bool = True) -> dict:
        return self.submit(member, "report_evaluation", report_request(
            model_id, update_id, score, sane, finalize))

    def verdict(self, model_id: str, update_id: str, scores=(0.9, 0.9, 0.9)) -> dict:
        result = None
        for member, score in zip(COMMITTEE, scores, strict=True):
            result = self.report(member, model_id, update_id, score)
            if result["verdict"] is not None:
                break
        assert result is not None and result["verdict"] is not None
        return result["verdict"]


def finalizers(model_id: str, update_id: str | None = None) -> list[str]:
    """The committee in the order the contract lets it finalize (the designated one first)."""
    subject = (model_id,) if update_id is None else (model_id, update_id)
    return finalizer_order(COMMITTEE, *subject)


def publish_request(model_id: str, mode: str, rules: dict) -> dict:
    return {
        "model_id": model_id, "name": "digits", "description": "classify digits",
        "data_requirements": "8x8 digit images", "spec_cid": fake_cid("spec"),
        "initial_weights_cid": fake_cid("init"), "metric": "accuracy",
        "higher_is_better": True, "mode": mode, "committee": COMMITTEE,
        "fragments": {m: fake_cid(m) for m in COMMITTEE}, "rules": rules,
    }


def report_request(model_id: str, update_id: str, score: float, sane: bool = True,
                   finalize: bool = True) -> dict:
    return {"model_id": model_id, "update_id": update_id, "score": score, "sane": sane,
            "reasons": [] if sane else ["looks wrong"], "evaluation_seconds": 0.2,
            "finalize": finalize}


