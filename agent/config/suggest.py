"""What an unknown config key was probably meant to be: the keys its section allows, and the
nearest of them, so `pol_hz` is answered with `poll_hz` rather than a bare "unknown key"."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel

from agent.config.device import AgentConfig
from agent.config.sources import SourcesConfig, sources_model

MAX_LISTED = 12  # a section with more keys than this is not listed whole


def section_models(loc: tuple[int | str, ...]) -> list[type[BaseModel]]:
    """The models the section at `loc` (the unknown key's path, without it) may be; [] when
    the path leads somewhere without fixed keys (a mapping of names, a plain value)."""
    models: list[type[BaseModel]] = [AgentConfig]
    for part in loc:
        if isinstance(part, int):  # an item of a list: the list's model was taken already
            continue
        chosen = [m for m in models if m.__name__ == part]
        if chosen:  # pydantic names the union member it tried
            models = chosen
            continue
        fields = [m.model_fields[part] for m in models if part in m.model_fields]
        models = [found for field in fields for found in models_in(field.annotation)]
        if not models:
            return []
    return models


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """The config models a field holds: itself, its list's items, or a union's members; a
    mapping's values are not sections with fixed keys, so it holds none."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [sources_model() if annotation is SourcesConfig else annotation]
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, typing.Union, types.UnionType, typing.Annotated):
        return [m for arg in typing.get_args(annotation) for m in models_in(arg)]
    return []


def unknown_key_message(loc: tuple[int | str, ...]) -> str:
    """'unknown key' with the nearest allowed key, else the allowed keys when they are few."""
    *section, key = loc
    allowed = sorted({name for m in section_models(tuple(section)) for name in m.model_fields})
    if near := difflib.get_close_matches(str(key), allowed, n=1):
        return f"unknown key (did you mean {near[0]!r}?)"
    if allowed and len(allowed) <= MAX_LISTED:
        return f"unknown key (allowed here: {', '.join(allowed)})"
    return "unknown key (not allowed here; check the spelling)"
