"""The learning contract as typed calls: what every agent uses to talk to the ledger.

Only the ``LedgerClient`` protocol is used (``submit`` / ``evaluate``), so the embedded network
and a Fabric gateway are interchangeable. Requests and answers are JSON, as the contract takes
and returns them.
"""

from __future__ import annotations

import json
import time
from typing import Any

from ledgerlearn.ledger.client_api import LedgerClient
from ledgerlearn.ledger.errors import CommitError, EndorsementError

#: Validation codes after which a transaction is simply run again (Fabric's usual practice):
#: it read state that another transaction changed first.
RETRYABLE_CODES = ("MVCC_READ_CONFLICT", "PHANTOM_READ_CONFLICT")
ATTEMPTS = 4


class LearningLedger:
    """Calls of the learning contract through one member's ledger client."""

    def __init__(self, client: LedgerClient) -> None:
        self.client = client

    @property
    def member_id(self) -> str:
        member = self.client.member
        return f"{member.msp_id}/{member.name}"

    def _submit(self, function: str, request: dict[str, Any] | None = None) -> Any:
        """Submit; run again after a read conflict or when two peers had not yet seen the same
        blocks (their endorsements disagree). A refusal by the contract is raised at once."""
        args = () if request is None else (json.dumps(request),)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return json.loads(self.client.submit(function, *args) or b"null")
            except CommitError as exc:
                if exc.code not in RETRYABLE_CODES or attempt == ATTEMPTS:
                    raise
            except EndorsementError as exc:
                if "disagree" not in str(exc) or attempt == ATTEMPTS:
                    raise
            time.sleep(0.05 * attempt)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _evaluate(self, function: str, request: dict[str, Any]) -> Any:
        return json.loads(self.client.evaluate(function, json.dumps(request)) or b"null")

    def submit_async(self, function: str, request: dict[str, Any]) -> Any:
        """Submit without waiting for the commit (the caller checks ``.status()``, or
        :meth:`committed`)."""
        return self.client.submit_async(function, json.dumps(request))

    @staticmethod
    def committed(submitted: Any) -> Any:
        """The answer of a transaction sent with :meth:`submit_async`, once committed;
        CommitError naming the validation code when it was not (it is not sent again)."""
        status = submitted.status()
        if not status.valid:
            raise CommitError(status.code, status.tx_id, status.block_number)
        return json.loads(submitted.result or b"null")

    # transactions
    def register_member(self) -> dict[str, Any]:
        return self._submit("register_member")

    def publish_model(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._submit("publish_model", request)

    def review_model(
        self, model_id: str, approve: bool, reason: str, *, decide: bool = True
    ) -> dict[str, Any]:
        return self._submit(
            "review_model",
            {"model_id": model_id, "approve": approve, "reason": reason, "decide": decide},
        )

    def finalize_review(self, model_id: str) -> dict[str, Any]:
        return self._submit("finalize_review", {"model_id": model_id})

    def submit_update(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._submit("submit_update", request)

    def report_evaluation(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._submit("report_evaluation", request)

    def report_evaluation_async(self, request: dict[str, Any]) -> Any:
        """Send a report without waiting for its commit (:meth:`committed` waits)."""
        return self.submit_async("report_evaluation", request)

    def finalize_update(self, model_id: str, update_id: str) -> dict[str, Any]:
        return self._submit("finalize_update", {"model_id": model_id, "update_id": update_id})

    # queries
    def get_member(self, member_id: str) -> dict[str, Any]:
        return self._evaluate("get_member", {"member_id": member_id})

    def get_model(self, model_id: str) -> dict[str, Any]:
        return self._evaluate("get_model", {"model_id": model_id})

    def list_models(self) -> list[dict[str, Any]]:
        return self._evaluate("list_models", {})

    def get_update(self, model_id: str, update_id: str) -> dict[str, Any]:
        return self._evaluate("get_update", {"model_id": model_id, "update_id": update_id})

    def get_reports(self, model_id: str, update_id: str) -> list[dict[str, Any]]:
        return self._evaluate("get_reports", {"model_id": model_id, "update_id": update_id})

    def member_flags(self, model_id: str, member: str | None = None) -> list[dict[str, Any]]:
        """Committee members flagged on a model, each with its evidence (its deviations)."""
        request: dict[str, Any] = {"model_id": model_id}
        if member is not None:
            request["member"] = member
        return self._evaluate("member_flags", request)

    def list_updates(
        self, model_id: str, *, status: str | None = None, round_number: int | None = None
    ) -> list[dict[str, Any]]:
        request: dict[str, Any] = {"model_id": model_id}
        if status is not None:
            request["status"] = status
        if round_number is not None:
            request["round"] = round_number
        return self._evaluate("list_updates", request)

    def lineage(self, model_id: str, update_id: str) -> dict[str, Any]:
        return self._evaluate("lineage", {"model_id": model_id, "update_id": update_id})

    def pending_evaluations(self, member_id: str | None = None) -> list[dict[str, Any]]:
        return self._evaluate("pending_evaluations", {"member_id": member_id or self.member_id})

    def pending_reviews(self, member_id: str | None = None) -> list[dict[str, Any]]:
        return self._evaluate("pending_reviews", {"member_id": member_id or self.member_id})

    def select_parents(
        self, model_id: str, *, seed: int = 0, alpha: float = 10.0, count: int | None = None,
        pool: int | None = None,
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model_id": model_id, "seed": seed, "alpha": alpha, "provider": self.member_id,
        }
        if count is not None:
            request["count"] = count
        if pool is not None:
            request["pool"] = pool
        return self._evaluate("select_parents", request)

    # rewards and rotation (contract.rewards, contract.rotation)
    @staticmethod
    def _subject(model_id: str, round_number: int | None, update_id: str | None
                 ) -> dict[str, Any]:
        request: dict[str, Any] = {"model_id": model_id}
        if round_number is not None:
            request["round"] = round_number
        if update_id is not None:
            request["update_id"] = update_id
        return request

    def contribution_task(self, model_id: str, round_number: int | None = None,
                          update_id: str | None = None) -> dict[str, Any]:
        return self._evaluate("contribution_task",
                              self._subject(model_id, round_number, update_id))

    def report_contribution(self, model_id: str, values: dict[str, float],
                            round_number: int | None = None, update_id: str | None = None,
                            finalize: bool = True) -> dict[str, Any]:
        request = {**self._subject(model_id, round_number, update_id), "values": values}
        if not finalize:
            request["finalize"] = False
        return self._submit("report_contribution", request)

    def report_contribution_async(self, model_id: str, values: dict[str, float],
                                  update_id: str) -> Any:
        """A gossip update's coalition values sent without waiting for the commit and
        without finalizing (``finalize_contributions`` writes the credits of a batch)."""
        return self.submit_async("report_contribution", {
            "model_id": model_id, "update_id": update_id, "values": values,
            "finalize": False})

    def finalize_contributions(self, model_id: str, update_ids: list[str]) -> dict[str, Any]:
        return self._submit("finalize_contributions",
                            {"model_id": model_id, "update_ids": update_ids})

    def contributions_of_round(self, model_id: str, round_number: int | None = None,
                               update_id: str | None = None) -> dict[str, Any]:
        return self._evaluate("contributions_of_round",
                              self._subject(model_id, round_number, update_id))

    def balance(self, account: str, model_id: str | None = None) -> dict[str, Any]:
        request = {"account": account, **({"model_id": model_id} if model_id else {})}
        return self._evaluate("balance", request)

    def rewards_of(self, provider: str, model_id: str | None = None) -> dict[str, Any]:
        request = {"provider": provider, **({"model_id": model_id} if model_id else {})}
        return self._evaluate("rewards_of", request)

    def elect_committee(self, model_id: str, epoch: int) -> dict[str, Any]:
        return self._submit("elect_committee", {"model_id": model_id, "epoch": epoch})

    def committee_of(self, model_id: str, round_number: int | None = None) -> dict[str, Any]:
        return self._evaluate("committee_of", self._subject(model_id, round_number, None))

    # community scale: per-round draws, recorded aggregates

    def open_round(self, model_id: str, round_number: int) -> dict[str, Any]:
        return self._submit("open_round", {"model_id": model_id, "round": round_number})

    def round_draw(self, model_id: str, round_number: int) -> dict[str, Any]:
        return self._evaluate("round_draw", {"model_id": model_id, "round": round_number})

    def record_aggregate(self, model_id: str, round_number: int, cid: str) -> dict[str, Any]:
        return self._submit("record_aggregate",
                            {"model_id": model_id, "round": round_number, "weights_cid": cid})
