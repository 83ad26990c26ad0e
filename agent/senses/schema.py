"""The published alarm schema with its sense-dependent parts taken from the registry.

agent/schemas/alarm.schema.json is the file subscribers read; tests/test_schema_registry.py
checks that it is exactly what this function makes of the registered senses, so the file
cannot drift from the code. With a sense added, `alarm_schema()` describes its payloads too.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

from agent.senses.registry import SENSES


def alarm_schema() -> dict[str, Any]:
    """The alarm payload's JSON Schema for the senses registered now."""
    schema: dict[str, Any] = json.loads(
        resources.files("agent.schemas").joinpath("alarm.schema.json").read_text()
    )
    names = list(SENSES)
    kinds = [spec.evidence.kind for spec in SENSES.values()]
    media_types = list(dict.fromkeys(spec.evidence.media_type for spec in SENSES.values()))
    properties = schema["properties"]
    properties["modalities"]["propertyNames"]["enum"] = names
    properties["evidence"]["propertyNames"]["enum"] = names
    properties["present"]["items"]["enum"] = names
    properties["trigger"]["properties"]["modality"]["enum"] = names
    properties["rule"]["pattern"] = (
        f"^(weighted|calibrated|learned|degraded|none|no_data|critical:({alternatives(names)}))$"
    )
    files = properties["evidence_files"]["items"]["properties"]
    files["kind"]["enum"] = kinds
    files["media_type"]["enum"] = media_types
    files["topic"]["pattern"] = f"^.+/evidence/[^/]+/[0-9]+/({alternatives(kinds)})$"
    return schema


def alternatives(words: list[str]) -> str:
    """A regular expression alternation matching exactly these words."""
    return "|".join(re.escape(word) for word in words)
