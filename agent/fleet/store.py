"""The bundles an agent holds, and which of them run: `<storage>/fleet/`.

    bundles/<name>/<version>/   a verified bundle (bundle.json, files/), kept for rollback
    staging/<name>-<version>/   a bundle being fetched: never read as config
    state.json                  per name, the versions switched to in order (the last runs),
                                the versions rolled back (never taken again), and the learned
                                versions a bundle put in use (to undo on its rollback)

`state.json` is replaced atomically (written beside, synced, renamed), so a power cut leaves
the old state or the new one.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from agent.boundedfile import FileTooLargeError, read_at_most
from agent.fleet.bundle import ENVELOPE_FILE, FILES_DIR
from agent.jsontext import loads_bounded

log = logging.getLogger(__name__)

STATE_FILE = "state.json"
MAX_STATE_BYTES = 1024 * 1024
CONFIG_FRAGMENT = "config.yaml"
KEEP = 5  # versions of a bundle kept on disk: the one in use and those it can roll back to


class FleetStateError(Exception):
    """The store's state file cannot be read (not damaged: unreadable, e.g. its permissions)."""


@dataclass
class FleetState:
    """Versions switched to (per name, in order) and versions rolled back."""

    history: dict[str, list[str]] = field(default_factory=dict)
    rolled_back: dict[str, list[str]] = field(default_factory=dict)
    # "<name> <version>" -> device -> [learned version before, learned version it brought]
    learned: dict[str, dict[str, list[int | None]]] = field(default_factory=dict)

    def running(self) -> dict[str, str]:
        """Bundle name -> the version in use."""
        return {name: versions[-1] for name, versions in self.history.items() if versions}


class BundleStore:
    """The fleet folder of one agent."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def state(self) -> FleetState:
        """What runs and what was rolled back; empty before the first bundle."""
        path = self.folder / STATE_FILE
        try:
            raw = read_at_most(path, MAX_STATE_BYTES)
        except FileNotFoundError:
            return FleetState()
        except OSError as exc:
            raise FleetStateError(f"{path}: {exc.strerror or exc}") from exc
        except FileTooLargeError as exc:
            return self._moved_aside(path, exc)
        try:
            data = loads_bounded(raw, 5)
            return FleetState(
                history={str(k): [str(v) for v in vs] for k, vs in data["history"].items()},
                rolled_back={str(k): [str(v) for v in vs] for k, vs in data["rolled_back"].items()},
                learned={
                    str(k): {str(d): [_version(v) for v in pair] for d, pair in by_device.items()}
                    for k, by_device in data.get("learned", {}).items()
                },
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return self._moved_aside(path, exc)

    @staticmethod
    def _moved_aside(path: Path, exc: Exception) -> FleetState:
        """A damaged state file (a card that lied about a write), kept aside for a look; the
        agent goes on as if no bundle had been switched to, and the next switch writes it anew."""
        aside = path.with_name(
            f"{STATE_FILE}.damaged-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
        )
        path.replace(aside)
        fields = {"path": str(path), "moved_to": str(aside), "error": str(exc)}
        log.error("fleet state damaged, moved aside: no bundle is in use",
                  extra={"fields": fields})  # fmt: skip
        return FleetState()

    def running(self) -> dict[str, str]:
        """Bundle name -> the version in use."""
        return self.state().running()

    def bundle_dir(self, name: str, version: str) -> Path:
        """Where a verified bundle is kept."""
        return self.folder / "bundles" / name / version

    def files_dir(self, name: str, version: str) -> Path:
        """A kept bundle's files (what `${BUNDLE}` in its config fragment names)."""
        return self.bundle_dir(name, version) / FILES_DIR

    def fragment(self, name: str, version: str) -> Path | None:
        """A kept bundle's config fragment, if it has one."""
        path = self.files_dir(name, version) / CONFIG_FRAGMENT
        return path if path.is_file() else None

    def envelope(self, name: str, version: str) -> bytes:
        """A kept bundle's envelope (verified when it was kept; verify again to use it)."""
        path = self.bundle_dir(name, version) / ENVELOPE_FILE
        try:
            return path.read_bytes()
        except OSError as exc:
            raise FleetStateError(f"{path}: {exc.strerror or exc}") from exc

    def staging(self, name: str, version: str) -> Path:
        """An empty folder to fetch a bundle into (a previous attempt's leftovers removed)."""
        path = self.folder / "staging" / f"{name}-{version}"
        shutil.rmtree(path, ignore_errors=True)
        (path / FILES_DIR).mkdir(parents=True)
        return path

    def install(self, staged: Path, name: str, version: str) -> Path:
        """Move a verified staged bundle to where it is kept."""
        if not (staged / ENVELOPE_FILE).is_file():
            raise ValueError(f"{staged}: no {ENVELOPE_FILE}")
        target = self.bundle_dir(name, version)
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        staged.replace(target)
        return target

    def discard(self, name: str, version: str) -> None:
        """Remove what a refused bundle left: its staging folder, and its kept copy unless
        that version is in use or was used (rollback needs it)."""
        shutil.rmtree(self.folder / "staging" / f"{name}-{version}", ignore_errors=True)
        if version not in self.state().history.get(name, []):
            shutil.rmtree(self.bundle_dir(name, version), ignore_errors=True)

    def prune(self, name: str) -> None:
        """Keep the KEEP latest versions of `name` switched to (rollback's reach); remove the
        other kept copies."""
        keep = set(self.state().history.get(name, [])[-KEEP:])
        folder = self.folder / "bundles" / name
        for kept in folder.iterdir() if folder.is_dir() else []:
            if kept.name not in keep:
                shutil.rmtree(kept, ignore_errors=True)

    def activate(self, name: str, version: str) -> None:
        """Switch `name` to `version` (recorded before the agent reloads)."""
        state = self.state()
        state.history.setdefault(name, []).append(version)
        self._save(state)

    def rollback(self, name: str) -> str | None:
        """Back to the version of `name` before the one in use (None: no bundle of that name);
        the version left is never taken again. ValueError when none of `name` runs."""
        state = self.state()
        versions = state.history.get(name) or []
        if not versions:
            raise ValueError(f"no bundle {name} is in use")
        state.rolled_back.setdefault(name, []).append(versions.pop())
        self._save(state)
        return versions[-1] if versions else None

    def record_learned(
        self, name: str, version: str, device: str, before: int | None, brought: int
    ) -> None:
        """A bundle put a learned version of a device in use (in place of `before`)."""
        state = self.state()
        state.learned.setdefault(f"{name} {version}", {})[device] = [before, brought]
        self._save(state)

    def learned_of(self, name: str, version: str) -> dict[str, tuple[int | None, int | None]]:
        """Device -> (learned version before, learned version the bundle brought)."""
        recorded = self.state().learned.get(f"{name} {version}", {})
        return {device: (pair[0], pair[1]) for device, pair in recorded.items()}

    def was_rolled_back(self, name: str, version: str) -> bool:
        """Whether this version of `name` was rolled back here."""
        return version in self.state().rolled_back.get(name, [])

    def _save(self, state: FleetState) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / STATE_FILE
        temporary = path.with_suffix(".tmp")
        data = json.dumps(
            {"history": state.history, "rolled_back": state.rolled_back, "learned": state.learned},
            indent=1,
        )
        with temporary.open("w") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        temporary.replace(path)


def _version(value: object) -> int | None:
    """A learned version number as state.json holds it."""
    return None if value is None else int(str(value))
