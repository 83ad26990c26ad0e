"""A device's `sources:` section, composed from the sense registry: one optional key per sense.

Each key is a sense's `source_key` (camera, infrared, microphone, modbus: the hardware that
feeds the sense) and takes that sense's own config model, so a new sense needs no edit here.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationInfo, create_model

from agent.config.base import StrictModel
from agent.senses.registry import SENSES


class SourcesConfig(StrictModel):
    """Up to one source per sense; the fields come from the registry (see `sources_model`)."""

    def configured(self) -> dict[str, Any]:
        """{sense name: its config section} for every section that is set, in registry order."""
        return {
            name: section
            for name, spec in SENSES.items()
            if (section := getattr(self, spec.source_key, None)) is not None
        }


_MODELS: dict[tuple[tuple[str, type[StrictModel]], ...], type[SourcesConfig]] = {}


def sources_model() -> type[SourcesConfig]:
    """The `sources:` model for the senses registered now (built once per registry state)."""
    key = tuple((spec.source_key, spec.config) for spec in SENSES.values())
    if key not in _MODELS:
        fields: dict[str, Any] = {name: (config | None, None) for name, config in key}
        _MODELS[key] = create_model(
            "SourcesConfig", __base__=SourcesConfig, __module__=__name__, **fields
        )
    return _MODELS[key]


def validate_sources(cls: type, value: object, info: ValidationInfo) -> SourcesConfig:
    """Validate a `sources:` mapping against the registry; field errors keep their path."""
    model = sources_model()
    sources = (
        value if isinstance(value, model) else model.model_validate(value, context=info.context)
    )
    if not sources.configured():
        raise ValueError("a device needs at least one source")
    return sources
