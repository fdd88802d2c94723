"""Composite keys as Fabric builds them; request schemas refuse bad input with its path."""

from __future__ import annotations

import json

import pytest

from ledgerlearn.contract import keys
from ledgerlearn.contract.errors import ContractError
from ledgerlearn.contract.records import METRICS
from ledgerlearn.contract.schemas import parse_request


def test_composite_key_matches_fabric_shim() -> None:
    from ledgerlearn.ledger.endorse.fabric_api import ChaincodeStub

    stub = ChaincodeStub(None, "ch", "tx", None, None)
    for attrs in (["m1"], ["m1", "000003", "abc"], ["Org1MSP/alice", "m1", "u"]):
        key = keys.composite_key("report", attrs)
        assert key == stub.create_composite_key("report", attrs)
        assert keys.split_composite_key(key) == ("report", attrs)
    with pytest.raises(ValueError):
        keys.composite_key("report", ["a\x00b"])
    with pytest.raises(ValueError):
        keys.composite_key("report", [""])


def test_round_part_orders_rounds() -> None:
    assert keys.round_part(2) < keys.round_part(10)


def test_parse_request_reports_path_and_refuses_nan() -> None:
    with pytest.raises(ContractError, match="score"):
        parse_request("report_evaluation", json.dumps({
            "model_id": "m1", "update_id": "0" * 24, "score": "high", "sane": True,
            "reasons": [], "evaluation_seconds": 1.0}))
    with pytest.raises(ContractError, match=r"not valid JSON.*NaN"):
        parse_request("report_evaluation", '{"score": NaN}')
    with pytest.raises(ContractError, match="twice"):
        parse_request("get_model", '{"model_id": "m1", "model_id": "m2"}')
    with pytest.raises(ContractError, match="Additional properties"):
        parse_request("get_model", '{"model_id": "m1", "x": 1}')
    assert parse_request("get_model", '{"model_id": "m1"}') == {"model_id": "m1"}


def test_contract_metric_allow_list_matches_learning() -> None:
    from ledgerlearn.learning.metrics import metric

    for name, higher in METRICS.items():
        assert metric(name).higher_is_better == higher
