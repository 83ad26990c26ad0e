"""Seeded fuzzing of every untrusted input: MQTT payloads, config files, Modbus replies.

The generators and the properties they check live in tools/fuzz.py (which runs them longer:
`tools/fuzz.py --cases 100000`); here each target runs a fixed seed, 13,000 cases in all, so
CI is deterministic. A failure prints the first offending inputs.
"""

from __future__ import annotations

import json

import pytest

from tools.fuzz import RUNNERS, Result

SEED = 20261205
CASES = {"agent": 4000, "dashboard": 4000, "config": 1000, "modbus": 4000}


def explain(result: Result) -> str:
    return json.dumps(result.summary(), indent=1, ensure_ascii=True)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("target", list(CASES))
def test_fuzzed_inputs_are_taken_or_refused_as_documented(target: str) -> None:
    result = RUNNERS[target](CASES[target], SEED)
    assert result.cases == CASES[target]
    assert result.failures == 0, explain(result)
    assert result.outcomes["valid"] or target == "modbus"  # the valid baseline was tried too


def test_every_kind_of_outcome_is_reached() -> None:
    """The generators reach past the first check: accepted, and each way of refusing."""
    agent = RUNNERS["agent"](600, SEED).outcomes
    assert {"accepted", "refused:invalid", "refused:not_json", "refused:too_deep",
            "refused:too_large", "refused:unknown_alarm",
            "refused:unknown_device"} <= set(agent)  # fmt: skip
    modbus = RUNNERS["modbus"](300, SEED).outcomes
    assert {"values", "source_error", "exception", "decoded", "transport"} <= set(modbus)
