"""What a bundle holds and whom it is for: the manifest its envelope signs.

A bundle carries models, a config fragment and devices' learned baselines (what another agent
learned of the same machine), each listed with its size and sha256, under a `name` (what is
rolled out, e.g. `sound-model`) and a `version` (dotted numbers, compared number by number:
1.10 is newer than 1.9). `targets` are `site/device` glob patterns (`plant-a/pump-*`, `*/*`):
an agent takes the bundle when one matches its site and one of its devices. `url`, when set,
is where the files are served over HTTP(S); without it they travel over MQTT.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from pathlib import PurePosixPath
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_FILES = 256
LEARNED_DIR = "learned"  # learned/<device>/card.json and learned/<device>/<sense>/<file>
MAX_TARGETS = 64
MANIFEST_DEPTH = 6
NAME = r"^[a-z0-9][a-z0-9._-]{0,63}$"
VERSION = re.compile(r"^\d{1,9}(\.\d{1,9}){0,3}$")
PATTERN = re.compile(r"^[A-Za-z0-9_.*?\[\]!-]{1,128}/[A-Za-z0-9_.*?\[\]!-]{1,128}$")
PATH_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
Role = Literal["model", "config", "learned"]


def version_key(version: str) -> tuple[int, ...]:
    """`1.10.2` -> (1, 10, 2), trailing zeros dropped so 1.2 and 1.2.0 are the same version."""
    if not VERSION.match(version):
        raise ValueError(f"version {version[:40]!r}: expected dotted numbers such as 1.4.0")
    parts = [int(p) for p in version.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


class BundleFile(BaseModel):
    """One file of the bundle, at `path` under its `files/` folder."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Annotated[str, Field(max_length=512)]
    role: Role
    size: Annotated[int, Field(ge=0)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]

    @field_validator("path")
    @classmethod
    def _relative_and_plain(cls, path: str) -> str:
        parts = PurePosixPath(path).parts
        if not parts or len(parts) > 4 or not all(PATH_PART.match(p) for p in parts):
            raise ValueError(
                "a relative path of at most 4 parts, each letters, digits, '_', '.', '-' "
                "(not starting with '.')"
            )
        return path


class Manifest(BaseModel):
    """The signed description of a bundle."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal[1] = 1
    name: Annotated[str, Field(pattern=NAME)]
    version: str
    created: datetime
    targets: Annotated[list[str], Field(min_length=1, max_length=MAX_TARGETS)]
    files: Annotated[list[BundleFile], Field(min_length=1, max_length=MAX_FILES)]
    # where the files are served over HTTP(S) (each at <url>/<path>); none: over MQTT
    url: Annotated[str, Field(pattern=r"^https?://[^\s]+$", max_length=512)] | None = None

    @field_validator("version")
    @classmethod
    def _dotted_numbers(cls, version: str) -> str:
        version_key(version)
        return version

    @field_validator("targets")
    @classmethod
    def _site_device_patterns(cls, targets: list[str]) -> list[str]:
        for target in targets:
            if not PATTERN.match(target):
                raise ValueError(f"target {target[:80]!r}: expected SITE/DEVICE glob patterns")
        return targets

    @model_validator(mode="after")
    def _one_entry_per_path(self) -> Manifest:
        paths = [f.path for f in self.files]
        if len(set(paths)) != len(paths):
            raise ValueError("a path is listed twice")
        if sum(f.role == "config" for f in self.files) > 1:
            raise ValueError("at most one config fragment")
        for entry in self.files:
            if (entry.role == "learned") != entry.path.startswith(f"{LEARNED_DIR}/"):
                raise ValueError(f"{entry.path}: learned files, and only they, are under "
                                 f"{LEARNED_DIR}/<device>/")  # fmt: skip
        return self

    def learned_devices(self) -> tuple[str, ...]:
        """The devices whose learned baseline the bundle brings."""
        return tuple(sorted({
            f.path.split("/")[1] for f in self.files if f.role == "learned" and "/" in f.path
        }))  # fmt: skip

    @property
    def total_bytes(self) -> int:
        """What the files weigh together, as declared."""
        return sum(f.size for f in self.files)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is asking: an agent's site and its devices."""

    site: str
    devices: tuple[str, ...]


def targeted_devices(manifest: Manifest, identity: Identity) -> tuple[str, ...]:
    """The agent's devices that a target of the manifest names (none: not for this agent)."""
    chosen = []
    for device in identity.devices:
        for target in manifest.targets:
            site, device_pattern = target.split("/", 1)
            if fnmatchcase(identity.site, site) and fnmatchcase(device, device_pattern):
                chosen.append(device)
                break
    return tuple(chosen)
