"""JSON schemas of every transaction's request, and the one place requests are checked.

Each transaction takes one JSON object. It is parsed strictly (no NaN or Infinity, no
duplicate keys) and validated against its schema before any rule runs, so a malformed request
is refused with the path of the offending field and changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from ledgerlearn.contract.errors import ContractError
from ledgerlearn.contract.records import AGGREGATION_RULES, MAX_PRE_AGGREGATIONS, PRE_AGGREGATIONS

MODEL_ID = {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,63}$"}
UPDATE_ID = {"type": "string", "pattern": "^(initial|[0-9a-f]{24})$"}
MEMBER_ID = {
    "type": "string",
    "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}/[A-Za-z0-9][A-Za-z0-9@._-]{0,127}$",
}
# CIDv0 (base58btc multihash) or CIDv1 in base32 (IPFS's default text form).
CID = {"type": "string", "pattern": "^(Qm[1-9A-HJ-NP-Za-km-z]{44}|b[a-z2-7]{50,120})$"}
TEXT = {"type": "string", "minLength": 1, "maxLength": 2000}
FINITE = {"type": "number"}
NON_NEGATIVE = {"type": "number", "minimum": 0}
MAX_COMMITTEE = 32

#: A model's aggregation choice: names from allow-lists (records.AGGREGATION_RULES; the
#: learning side, learning.aggregation.choice, checks the same choice for every aggregator).
AGGREGATION = {
    "type": ["object", "null"],
    "additionalProperties": False,
    "required": ["rule"],
    "properties": {
        "rule": {"enum": list(AGGREGATION_RULES)},
        "pre": {
            "type": "array", "maxItems": MAX_PRE_AGGREGATIONS,
            "items": {"enum": list(PRE_AGGREGATIONS)},
        },
        "byzantine_fraction": {"type": "number", "minimum": 0, "exclusiveMaximum": 0.5},
        "bucket_size": {"type": "integer", "minimum": 1, "maximum": 1000},
    },
}

POSITIVE = {"type": "number", "exclusiveMinimum": 0}
DELTA = {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}

#: A model's differential-privacy rule: the per-provider budget (epsilon, delta) and the DP-SGD
#: settings every provider must train with (docs/contract.md, "Differential privacy").
PRIVACY_RULE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["epsilon", "delta", "max_grad_norm", "noise_multiplier"],
    "properties": {
        "epsilon": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000},
        "delta": DELTA,
        "max_grad_norm": {"type": "number", "exclusiveMinimum": 0, "maximum": 1e6},
        "noise_multiplier": {"type": "number", "exclusiveMinimum": 0, "maximum": 1e6},
    },
}

#: What a DP update declares: its settings, its steps and batch size (the sample rate is
#: batch_size / samples), and the epsilon its provider has spent on the model with it.
PRIVACY_CLAIM = {
    "type": "object",
    "additionalProperties": False,
    "required": ["noise_multiplier", "max_grad_norm", "delta", "batch_size", "steps", "epsilon"],
    "properties": {
        "noise_multiplier": POSITIVE,
        "max_grad_norm": POSITIVE,
        "delta": DELTA,
        "batch_size": {"type": "integer", "minimum": 1},
        "steps": {"type": "integer", "minimum": 1, "maximum": 10**7},
        "epsilon": NON_NEGATIVE,
    },
}

#: A model's reward rule (contract.rewards): a rule from the allow-list and a whole budget of
#: credits; members earn ``member_fee`` per report consistent with the median.
REWARDS_RULE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["rule", "budget"],
    "properties": {
        "rule": {"enum": ["loo", "gtg_shapley", "improvement"]},
        "budget": {"type": "integer", "minimum": 1, "maximum": 10**15},
        "member_fee": {"type": "integer", "minimum": 0, "maximum": 10**12},
        "permutations": {"type": "integer", "minimum": 1, "maximum": 64},
        "truncation": NON_NEGATIVE,
        "updates": {"type": "integer", "minimum": 1, "maximum": 10**7},
        "full_gain": {"type": "number", "exclusiveMinimum": 0},
        "metric": {"enum": ["accuracy", "macro_f1", "loss"]},
        "min_gain": NON_NEGATIVE,
    },
}

#: A model's committee rotation (contract.rotation): epochs of ``epoch_rounds`` federation
#: rounds, ``size`` seats elected from ``pool`` (which holds the published committee).
ROTATION_RULE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["epoch_rounds", "size", "pool"],
    "properties": {
        "epoch_rounds": {"type": "integer", "minimum": 1, "maximum": 100000},
        "size": {"type": "integer", "minimum": 2, "maximum": MAX_COMMITTEE},
        "pool": {
            "type": "array", "items": MEMBER_ID, "minItems": 2, "maxItems": 256,
            "uniqueItems": True,
        },
    },
}

COALITION = "^([0-9a-f]{24}(,[0-9a-f]{24})*)?$"

MAX_CLASSES = 1000
CLASS_SCORES = {
    "type": "array", "maxItems": MAX_CLASSES,
    "items": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
}
#: What a member measured for the relative rule (contract.decisions.HarmRule).
MEASURES = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "base_score": FINITE,
        "joined_score": FINITE,
        "base_loss": NON_NEGATIVE,
        "joined_loss": NON_NEGATIVE,
        "join_weight": {"type": "number", "minimum": 0, "maximum": 1},
        "class_scores": CLASS_SCORES,
        "base_class_scores": CLASS_SCORES,
        "candidates": {
            "type": "array", "maxItems": 100000, "uniqueItems": True,
            "items": {"type": "string", "pattern": "^[0-9a-f]{24}$"},
        },
    },
}

#: A model's scoring rule (contract.sampling): "full" (every sample of the fragment, the
#: default) or "adaptive" (a sequential test at ``confidence``, in ``batch`` draws, at least
#: ``min_samples`` of them).
SCORING_RULE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["mode"],
    "properties": {
        "mode": {"enum": ["full", "adaptive"]},
        "confidence": {"type": "number", "minimum": 0.5, "exclusiveMaximum": 1},
        "batch": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
        "min_samples": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
    },
}

INTERVAL = {"type": "array", "items": FINITE, "minItems": 2, "maxItems": 2}
COUNT = {"type": "integer", "minimum": 1, "maximum": 10**9}
#: What an adaptive score carries (records.Report.sampling).
SAMPLING = {
    "type": "object",
    "additionalProperties": False,
    "required": ["samples", "evaluated", "fragment", "confidence", "interval", "exact"],
    "properties": {
        "samples": COUNT,
        "evaluated": COUNT,
        "fragment": COUNT,
        "confidence": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "interval": INTERVAL,
        "change_interval": INTERVAL,
        "exact": {"type": "boolean"},
    },
}

RULES = {
    "type": "object",
    "additionalProperties": False,
    "required": ["quorum", "training_time_tolerance"],
    "properties": {
        "quorum": {"type": "integer", "minimum": 1, "maximum": MAX_COMMITTEE},
        "min_score": {"type": ["number", "null"]},
        "max_harm": {"type": ["number", "null"], "minimum": 0},
        "max_class_harm": {"type": ["number", "null"], "minimum": 0},
        "max_loss_increase": {"type": ["number", "null"], "minimum": 0},
        "join_weight": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "harm_baseline": {"enum": ["parents", "leave_one_out"]},
        "training_time_tolerance": {"type": "number", "minimum": 1, "maximum": 1e6},
        "local_epochs": {"type": "integer", "minimum": 1, "maximum": 1000},
        "max_samples": {"type": "integer", "minimum": 1, "maximum": 10**9},
        "max_parents": {"type": "integer", "minimum": 1, "maximum": 64},
        "rounds": {"type": "integer", "minimum": 0, "maximum": 100000},
        "providers_per_round": {"type": "integer", "minimum": 0, "maximum": 100000},
        "round_timeout_seconds": NON_NEGATIVE,
        "free_rider_epsilon": NON_NEGATIVE,
        "finalize_grace_seconds": {"type": "number", "minimum": 0, "maximum": 86400},
        "report_grace_seconds": {"type": "number", "minimum": 0, "maximum": 86400},
        "aggregation": AGGREGATION,
        "min_cosine": {"type": ["number", "null"], "minimum": -1, "maximum": 1},
        "max_norm_ratio": {"type": ["number", "null"], "exclusiveMinimum": 0},
        "min_norm_ratio": {"type": ["number", "null"], "minimum": 0},
        "deviation_tolerance": {"type": "number", "exclusiveMinimum": 0},
        "flag_after": {"type": "integer", "minimum": 1, "maximum": 1000},
        "privacy": PRIVACY_RULE,
        "rewards": REWARDS_RULE,
        "rotation": ROTATION_RULE,
        "max_relative_distance": {"type": ["number", "null"], "exclusiveMinimum": 0},
        "scoring": SCORING_RULE,
        "sample_providers": {"type": "boolean"},
    },
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "publish_model": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "model_id", "name", "description", "data_requirements", "spec_cid",
            "initial_weights_cid", "metric", "higher_is_better", "mode", "committee",
            "fragments", "rules",
        ],
        "properties": {
            "model_id": MODEL_ID,
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "description": TEXT,
            "data_requirements": TEXT,
            "spec_cid": CID,
            "initial_weights_cid": CID,
            "metric": {"type": "string"},
            "higher_is_better": {"type": "boolean"},
            "mode": {"enum": ["federation", "gossip"]},
            "committee": {
                "type": "array", "items": MEMBER_ID, "minItems": 1,
                "maxItems": MAX_COMMITTEE, "uniqueItems": True,
            },
            "fragments": {
                "type": "object", "propertyNames": MEMBER_ID, "additionalProperties": CID,
            },
            "rules": RULES,
        },
    },
    "review_model": {
        "type": "object",
        "additionalProperties": False,
        "required": ["model_id", "approve", "reason"],
        "properties": {
            "model_id": MODEL_ID, "approve": {"type": "boolean"}, "reason": TEXT,
            "decide": {"type": "boolean"},
        },
    },
    "finalize_review": {
        "type": "object",
        "additionalProperties": False,
        "required": ["model_id"],
        "properties": {"model_id": MODEL_ID},
    },
    "submit_update": {
        "type": "object",
        "additionalProperties": False,
        "required": ["model_id", "weights_cid", "parents", "samples", "training_seconds"],
        "properties": {
            "model_id": MODEL_ID,
            "weights_cid": CID,
            "parents": {
                "type": "array", "items": UPDATE_ID, "minItems": 1, "maxItems": 100000,
                "uniqueItems": True,
            },
            "samples": {"type": "integer", "minimum": 1},
            "training_seconds": {"type": "number", "exclusiveMinimum": 0},
            "round": {"type": "integer", "minimum": 1},
            "selection": {
                "type": "object",
                "additionalProperties": False,
                "required": ["seed", "alpha"],
                "properties": {
                    "seed": {"type": "integer"},
                    "alpha": NON_NEGATIVE,
                    # The provider's own aggregation weights of its parents (gossip parent
                    # choice); absent: FedAvg by samples.
                    "weights": {
                        "type": "object", "propertyNames": UPDATE_ID,
                        "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1e12},
                    },
                    "rule": {"type": "string", "maxLength": 200},
                },
            },
            "privacy": PRIVACY_CLAIM,
        },
    },
    "report_evaluation": {
        "type": "object",
        "additionalProperties": False,
        "required": ["model_id", "update_id", "score", "sane", "reasons", "evaluation_seconds"],
        "properties": {
            "model_id": MODEL_ID,
            "update_id": UPDATE_ID,
            "score": FINITE,
            "sane": {"type": "boolean"},
            "reasons": {"type": "array", "items": TEXT, "maxItems": 32},
            "evaluation_seconds": NON_NEGATIVE,
            "finalize": {"type": "boolean"},
            "measures": MEASURES,
            "sampling": SAMPLING,
        },
    },
    "finalize_update": {
        "type": "object",
        "additionalProperties": False,
        "required": ["model_id", "update_id"],
        "properties": {"model_id": MODEL_ID, "update_id": UPDATE_ID},
    },
    "get_member": {
        "type": "object", "additionalProperties": False, "required": ["member_id"],
        "properties": {"member_id": MEMBER_ID},
    },
    "get_model": {
        "type": "object", "additionalProperties": False, "required": ["model_id"],
        "properties": {"model_id": MODEL_ID},
    },
    "list_models": {"type": "object", "additionalProperties": False, "properties": {}},
    "get_update": {
        "type": "object", "additionalProperties": False, "required": ["model_id", "update_id"],
        "properties": {"model_id": MODEL_ID, "update_id": UPDATE_ID},
    },
    "get_reports": {
        "type": "object", "additionalProperties": False, "required": ["model_id", "update_id"],
        "properties": {"model_id": MODEL_ID, "update_id": UPDATE_ID},
    },
    "list_updates": {
        "type": "object", "additionalProperties": False, "required": ["model_id"],
        "properties": {
            "model_id": MODEL_ID,
            "status": {"enum": ["pending", "verified", "rejected"]},
            "round": {"type": "integer", "minimum": 1},
        },
    },
    "member_flags": {
        "type": "object", "additionalProperties": False, "required": ["model_id"],
        "properties": {"model_id": MODEL_ID, "member": MEMBER_ID},
    },
    "lineage": {
        "type": "object", "additionalProperties": False, "required": ["model_id", "update_id"],
        "properties": {"model_id": MODEL_ID, "update_id": UPDATE_ID},
    },
    "pending_evaluations": {
        "type": "object", "additionalProperties": False,
        "properties": {"member_id": MEMBER_ID},
    },
    "pending_reviews": {
        "type": "object", "additionalProperties": False,
        "properties": {"member_id": MEMBER_ID},
    },
    "select_parents": {
        "type": "object", "additionalProperties": False, "required": ["model_id"],
        "properties": {
            "model_id": MODEL_ID,
            "seed": {"type": "integer"},
            "alpha": {"type": "number", "minimum": 0, "maximum": 1000},
            "count": {"type": "integer", "minimum": 1, "maximum": 64},
            "pool": {"type": "integer", "minimum": 1, "maximum": 64},
            "provider": MEMBER_ID,
        },
    },
    # rewards and rotation (appended)
    "report_contribution": {
        "type": "object",
        "additionalProperties": False,
        "required": ["model_id", "values"],
        "properties": {
            "model_id": MODEL_ID,
            "round": {"type": "integer", "minimum": 1},
            "update_id": UPDATE_ID,
            "values": {
                "type": "object", "propertyNames": {"pattern": COALITION},
                "additionalProperties": FINITE, "minProperties": 1, "maxProperties": 4096,
            },
            "finalize": {"type": "boolean"},
        },
    },
    "finalize_contributions": {
        "type": "object",
        "additionalProperties": False,
        "required": ["model_id", "update_ids"],
        "properties": {
            "model_id": MODEL_ID,
            "update_ids": {"type": "array", "items": UPDATE_ID, "minItems": 1,
                           "maxItems": 256, "uniqueItems": True},
        },
    },
    "contribution_task": {
        "type": "object", "additionalProperties": False, "required": ["model_id"],
        "properties": {"model_id": MODEL_ID, "round": {"type": "integer", "minimum": 1},
                       "update_id": UPDATE_ID},
    },
    "contributions_of_round": {
        "type": "object", "additionalProperties": False, "required": ["model_id"],
        "properties": {"model_id": MODEL_ID, "round": {"type": "integer", "minimum": 1},
                       "update_id": UPDATE_ID},
    },
    "balance": {
        "type": "object", "additionalProperties": False, "required": ["account"],
        "properties": {"account": MEMBER_ID, "model_id": MODEL_ID},
    },
    "rewards_of": {
        "type": "object", "additionalProperties": False, "required": ["provider"],
        "properties": {"provider": MEMBER_ID, "model_id": MODEL_ID},
    },
    "elect_committee": {
        "type": "object", "additionalProperties": False, "required": ["model_id", "epoch"],
        "properties": {"model_id": MODEL_ID, "epoch": {"type": "integer", "minimum": 2}},
    },
    # community scale: per-round draws and recorded aggregates (appended)
    "open_round": {
        "type": "object", "additionalProperties": False, "required": ["model_id", "round"],
        "properties": {"model_id": MODEL_ID, "round": {"type": "integer", "minimum": 1}},
    },
    "round_draw": {
        "type": "object", "additionalProperties": False, "required": ["model_id", "round"],
        "properties": {"model_id": MODEL_ID, "round": {"type": "integer", "minimum": 1}},
    },
    "record_aggregate": {
        "type": "object", "additionalProperties": False,
        "required": ["model_id", "round", "weights_cid"],
        "properties": {"model_id": MODEL_ID, "round": {"type": "integer", "minimum": 1},
                       "weights_cid": CID},
    },
    "committee_of": {
        "type": "object", "additionalProperties": False, "required": ["model_id"],
        "properties": {"model_id": MODEL_ID, "round": {"type": "integer", "minimum": 1}},
    },
}

_VALIDATORS = {name: Draft202012Validator(schema) for name, schema in SCHEMAS.items()}


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number; send finite numbers only")


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"key {key!r} appears twice")
        result[key] = value
    return result


def parse_request(transaction: str, text: str) -> dict[str, Any]:
    """Parse and validate the request of ``transaction``; ContractError says what is wrong."""
    try:
        value = json.loads(
            text or "{}",
            parse_constant=_refuse_constant,
            object_pairs_hook=_refuse_duplicates,
        )
    except ValueError as exc:
        raise ContractError(f"{transaction}: the request is not valid JSON: {exc}") from None
    error = best_match(_VALIDATORS[transaction].iter_errors(value))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "request"
        raise ContractError(
            f"{transaction}: {where}: {error.message} (see the schema in "
            "ledgerlearn.contract.schemas)"
        )
    return value
