"""What a device learned, on disk: one folder per version, a JSON card each, a pointer to the
one in use.

    <storage>/learned/<device>/v0003/card.json      when, how long, per sense: samples, rate,
    <storage>/learned/<device>/v0003/<sense>/...    params, summary, files; the fusion threshold
    <storage>/learned/<device>/v0003/calibration_check.json   the running agent's check of it
    <storage>/learned/<device>/current              "v0003"

A version is written in a temporary folder and renamed into place, and `current` is replaced
atomically, so a crash leaves either the old version in use or the new one. Rolling back moves
`current` to the version before it; the newest `KEEP` versions are kept. A card is read as
untrusted input: bounded in size, validated, its file names plain names inside its folder.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent.boundedfile import FileTooLargeError, read_at_most
from agent.config.learning import MAX_FALSE_ALARMS_PER_DAY
from agent.core.calibration_check import BUCKET_S, LEVELS, WINDOW_S, Verdict
from agent.jsontext import loads_bounded
from agent.senses.learning import Learned

KEEP = 5  # versions kept per device: the one in use and those it can roll back to
MAX_CARD_BYTES = 4 * 1024 * 1024
MAX_CARD_DEPTH = 16  # a card nests 6 levels (senses, learned params, a tail's quantiles)
CARD = "card.json"
CHECK = "calibration_check.json"  # written by the running agent, not part of what is learned
MAX_CHECK_BYTES = 256 * 1024
MAX_CHECK_DEPTH = 8
MAX_SENSES = 16
LATEST_TIME = 1e11  # Unix seconds (the year 5138): later is a damaged file, not a clock
# a sense's learning rate, within which the calibrated rule's shares and thresholds stay finite
# and meaningful: one sample in 11.6 days to a million a second
MIN_RATE_HZ, MAX_RATE_HZ = 1e-6, 1e6
CURRENT = "current"
_VERSION = re.compile(r"^v(\d{4,9})$")
_FILE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$"

Model = TypeVar("Model", bound=BaseModel)


class StoreError(Exception):
    """A learned version is missing, damaged or cannot be written; the message says which."""


class SenseCard(BaseModel):
    """What one sense learned, as its card records it."""

    model_config = ConfigDict(extra="forbid")

    samples: int = Field(ge=0)
    rate_hz: float = Field(ge=MIN_RATE_HZ, le=MAX_RATE_HZ, allow_inf_nan=False)  # while learning
    threshold: float = Field(ge=0.0, le=1.0)  # its calibrated score that alarms on its own
    params: dict[str, Any]
    summary: dict[str, Any]
    files: list[str] = Field(default_factory=list, max_length=64)
    warnings: list[str] = Field(default_factory=list, max_length=64)


class Card(BaseModel):
    """One learned version of one device."""

    model_config = ConfigDict(extra="forbid")

    device: str
    version: int = Field(ge=1)
    started_at: float
    learned_at: float
    reason: str  # why it learned: first run, command, MQTT request (who)
    target_false_alarms_per_day: float = Field(
        gt=0.0, le=MAX_FALSE_ALARMS_PER_DAY, allow_inf_nan=False
    )
    threshold: float = Field(ge=0.0, le=1.0)  # the device's calibrated fusion threshold
    senses: dict[str, SenseCard]

    def learned(self, sense: str) -> Learned:
        """The sense's part as its learner returned it (files stay on disk)."""
        part = self.senses[sense]
        return Learned(sense, part.samples, part.params, part.summary, {}, part.warnings)

    def rates_hz(self) -> dict[str, float]:
        """Each sense's sample rate while learning."""
        return {sense: part.rate_hz for sense, part in self.senses.items()}


class SavedSenseCheck(BaseModel):
    """One sense's counts of one hour."""

    model_config = ConfigDict(extra="forbid")

    judged: int = Field(ge=0, le=10**12)
    reached: list[int] = Field(min_length=len(LEVELS), max_length=len(LEVELS))

    @model_validator(mode="after")
    def _reached_within_judged(self) -> SavedSenseCheck:
        if any(not 0 <= n <= self.judged for n in self.reached):
            raise ValueError("reached: each from 0 to judged")
        return self


class SavedHour(BaseModel):
    """The counts of one hour (its number: Unix time // 3600)."""

    model_config = ConfigDict(extra="forbid")

    hour: int = Field(ge=0)
    senses: dict[str, SavedSenseCheck] = Field(max_length=MAX_SENSES)


class SavedCheck(BaseModel):
    """The running agent's calibration check of a version (`LastDay.saved`), for a restart."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["edge-agent-calibration-check/1"] = "edge-agent-calibration-check/1"
    saved_at: float = Field(ge=0.0, le=LATEST_TIME, allow_inf_nan=False)
    started: float = Field(ge=0.0, le=LATEST_TIME, allow_inf_nan=False)
    said: dict[str, Verdict] = Field(max_length=MAX_SENSES)
    hours: list[SavedHour] = Field(max_length=int(WINDOW_S // BUCKET_S) + 1)

    @model_validator(mode="after")
    def _hours_in_order(self) -> SavedCheck:
        numbers = [h.hour for h in self.hours]
        if numbers != sorted(set(numbers)):
            raise ValueError("hours: each hour once, oldest first")
        return self


class LearnedStore:
    """The learned versions of every device under one storage folder."""

    def __init__(self, storage: Path) -> None:
        self.root = storage / "learned"

    def device_folder(self, device: str) -> Path:
        """The device's folder (a device id such as ".." cannot leave the store)."""
        if device in ("", ".", "..") or "/" in device or "\\" in device:
            raise StoreError(f"{device!r} cannot name a folder")
        return self.root / device

    def versions(self, device: str) -> list[int]:
        """Version numbers kept for the device, oldest first."""
        folder = self.device_folder(device)
        if not folder.is_dir():
            return []
        found = (_VERSION.match(p.name) for p in folder.iterdir() if p.is_dir())
        return sorted(int(m.group(1)) for m in found if m)

    def current(self, device: str) -> int | None:
        """The version in use, or None when the device has learned nothing."""
        pointer = self.device_folder(device) / CURRENT
        try:
            text = pointer.read_text(encoding="ascii", errors="strict")[:32].strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeError) as exc:
            raise StoreError(f"{pointer}: unreadable ({exc})") from exc
        match = _VERSION.match(text)
        if match is None:
            raise StoreError(f"{pointer}: {text!r} names no version")
        return int(match.group(1))

    def folder(self, device: str, version: int) -> Path:
        """Where a version's card and files are."""
        return self.device_folder(device) / f"v{version:04d}"

    def card(self, device: str, version: int | None = None) -> Card | None:
        """The card of a version (default: the one in use); None when there is none."""
        version = self.current(device) if version is None else version
        if version is None:
            return None
        return read_card(self.folder(device, version) / CARD)

    def save_check(self, device: str, version: int, check: SavedCheck) -> None:
        """Keep the running check of a version (replaced atomically); OSError when the disk
        refuses."""
        path = self.folder(device, version) / CHECK
        temporary = path.with_name(f".{CHECK}.tmp")
        temporary.write_text(check.model_dump_json() + "\n", encoding="utf-8")
        temporary.replace(path)

    def saved_check(self, device: str, version: int) -> SavedCheck | None:
        """The check last kept for a version, None when none was; read as untrusted input."""
        path = self.folder(device, version) / CHECK
        try:
            return read_model(
                path, SavedCheck, "a calibration check", MAX_CHECK_BYTES, MAX_CHECK_DEPTH
            )
        except FileNotFoundError:
            return None

    def adopt(self, device: str, source: Path) -> int:
        """A version learned elsewhere (another agent's, brought by a bundle), copied in as a
        new version and put in use; its number. Its card is read as untrusted input and must
        be this device's; only the files it lists are copied."""
        card = read_card(source / CARD)
        if card.device != device:
            raise StoreError(f"{source}: learned by {card.device!r}, not {device!r}")
        learned = {}
        for sense, part in card.senses.items():
            try:
                files = {name: (source / sense / name).read_bytes() for name in part.files}
            except OSError as exc:
                raise StoreError(f"{source}: {sense}: {exc.strerror or exc}") from exc
            learned[sense] = dataclasses.replace(card.learned(sense), files=files)
        return self.save(card, learned)

    def save(self, card: Card, learned: dict[str, Learned]) -> int:
        """Write a new version (its number replaces card.version) and put it in use."""
        device_folder = self.device_folder(card.device)
        device_folder.mkdir(parents=True, exist_ok=True)
        version = max(self.versions(card.device), default=0) + 1
        card = card.model_copy(update={"version": version})
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=device_folder))
        try:
            for sense, part in learned.items():
                for name, data in part.files.items():
                    if not re.match(_FILE_NAME, name):
                        raise StoreError(f"{sense}: {name!r} is not a file name")
                    (staging / sense).mkdir(exist_ok=True)
                    (staging / sense / name).write_bytes(data)
            (staging / CARD).write_text(card.model_dump_json(indent=2) + "\n", encoding="utf-8")
            staging.rename(self.folder(card.device, version))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self._point(card.device, version)
        self._prune(card.device)
        return version

    def rollback(self, device: str, before: int | None = None) -> Card:
        """Put the version before `before` (default: the one in use) back in use; its card.
        StoreError, changing nothing, when there is none or its card is damaged."""
        before = self.current(device) if before is None else before
        older = [v for v in self.versions(device) if before is None or v < before]
        if not older:
            raise StoreError(f"{device}: no earlier learned version to roll back to")
        card = read_card(self.folder(device, older[-1]) / CARD)  # before pointing at it
        self._point(device, older[-1])
        return card

    def use(self, device: str, version: int | None) -> None:
        """Put a kept version in use, or none (the device has learned nothing until it learns
        again)."""
        if version is None:
            (self.device_folder(device) / CURRENT).unlink(missing_ok=True)
        elif version not in self.versions(device):
            raise StoreError(f"{device}: no learned version {version}")
        else:
            self._point(device, version)

    def _point(self, device: str, version: int) -> None:
        pointer = self.device_folder(device) / CURRENT
        temporary = pointer.with_name(f".{CURRENT}.tmp")
        temporary.write_text(f"v{version:04d}\n", encoding="ascii")
        temporary.replace(pointer)

    def _prune(self, device: str) -> None:
        current = self.current(device)
        for version in self.versions(device)[:-KEEP]:
            if version != current:
                shutil.rmtree(self.folder(device, version), ignore_errors=True)


def read_model(path: Path, model: type[Model], what: str, max_bytes: int, max_depth: int) -> Model:
    """A JSON file of the store as `model` (`what` names it in errors): bounded in size and
    nesting, validated; a StoreError naming the file and why, but FileNotFoundError passes
    (what a missing file means is the caller's to say)."""
    try:
        raw = read_at_most(path, max_bytes)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise StoreError(f"{path}: unreadable ({exc})") from exc
    except FileTooLargeError:
        raise StoreError(f"{path}: over {max_bytes} bytes") from None
    try:
        return model.model_validate(loads_bounded(raw, max_depth))
    except ValueError as exc:  # ValidationError is one
        raise StoreError(f"{path}: not {what} ({exc})") from exc


def read_card(path: Path) -> Card:
    """A card file, bounded in size and validated, its file names plain names."""
    try:
        card = read_model(path, Card, "a learned card", MAX_CARD_BYTES, MAX_CARD_DEPTH)
    except FileNotFoundError as exc:
        raise StoreError(f"{path}: unreadable ({exc})") from exc
    for sense, part in card.senses.items():
        if not re.match(_FILE_NAME, sense):  # a folder of the version: a plain name too
            raise StoreError(f"{path}: senses: {sense[:64]!r} is not a plain name")
        for name in part.files:
            if not re.match(_FILE_NAME, name):
                raise StoreError(f"{path}: senses.{sense}.files: {name!r} is not a file name")
    return card
