"""The config an agent runs: its config file, with the config fragments of the bundles in use
laid over it.

A fragment may set `devices` (each entry names a device of the file by `id` and changes what
it sets, e.g. a model path or a threshold) and `inspection`; nothing else (the broker, the
site, the storage and the fleet keys stay the file's). `${BUNDLE}` in a fragment's strings is
the bundle's own `files/` folder, so `model: ${BUNDLE}/models/sound.onnx` names the model the
bundle brought. Fragments are laid in the order of their bundles' names; mappings merge key
by key, anything else replaces.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agent.config.device import AgentConfig
from agent.config.loader import ConfigError, parse_config, parse_yaml, read_config_file
from agent.fleet.store import BundleStore, FleetStateError

FRAGMENT_KEYS = ("devices", "inspection")
BUNDLE_REF = "${BUNDLE}"

log = logging.getLogger(__name__)


def load_effective_config(path: Path, running: Mapping[str, str] | None = None) -> AgentConfig:
    """The config file with the fragments of the bundles in use (`running`, else what the
    agent's fleet store says runs); ConfigError naming the file or the bundle."""
    data = parse_yaml(read_config_file(path), str(path))
    base_dir = path.parent.resolve()
    base = parse_config(copy.deepcopy(data), str(path), base_dir=base_dir)
    store = BundleStore(base.storage.resolved() / "fleet")
    if running is None:
        try:
            running = store.running()
        except FleetStateError as exc:  # the agent must still start: on its config file alone
            log.error("bundles in use unknown, running the config file alone",
                      extra={"fields": {"error": str(exc)}})  # fmt: skip
            running = {}
    if not running:
        return base
    for name in sorted(running):
        fragment_path = store.fragment(name, running[name])
        if fragment_path is None:
            continue
        source = f"bundle {name} {running[name]}"
        fragment = parse_yaml(read_config_file(fragment_path), source)
        files = store.files_dir(name, running[name]).resolve()
        data = laid_over(data, with_bundle_dir(fragment, str(files)), source)
    names = ", ".join(f"{n} {v}" for n, v in sorted(running.items()))
    return parse_config(data, f"{path} with {names}", base_dir=base_dir)


def laid_over(data: Any, fragment: Any, source: str) -> Any:
    """The config data with one fragment laid over it; ConfigError when it may not be."""
    if not isinstance(data, dict):
        raise ConfigError(source, ["the config file is not a mapping"])
    if fragment is None:
        return data
    if not isinstance(fragment, dict):
        raise ConfigError(source, ["(top level): a fragment is a mapping of settings"])
    if others := sorted(set(fragment) - set(FRAGMENT_KEYS)):
        raise ConfigError(source, [f"{k}: a bundle may set only {', '.join(FRAGMENT_KEYS)}"
                                   for k in others])  # fmt: skip
    merged = dict(data)
    if "inspection" in fragment:
        merged["inspection"] = deep_merge(data.get("inspection") or {}, fragment["inspection"])
    if "devices" in fragment:
        merged["devices"] = devices_laid_over(data.get("devices"), fragment["devices"], source)
    return merged


def devices_laid_over(devices: Any, changes: Any, source: str) -> list[Any]:
    """The file's devices, each changed by the fragment's entry with its id."""
    if not isinstance(devices, list) or not isinstance(changes, list):
        raise ConfigError(source, ["devices: a list of devices, each with its id"])
    by_id = {d.get("id"): i for i, d in enumerate(devices) if isinstance(d, dict)}
    result = list(devices)
    for n, change in enumerate(changes):
        if not isinstance(change, dict) or change.get("id") not in by_id:
            named = change.get("id") if isinstance(change, dict) else None
            raise ConfigError(source, [
                f"devices[{n}]: names no device of the config file ({named!r}); a bundle "
                "changes devices, it does not add them"
            ])  # fmt: skip
        index = by_id[change["id"]]
        result[index] = deep_merge(result[index], change)
    return result


def deep_merge(base: Any, change: Any) -> Any:
    """Mappings merged key by key; anything else: the change."""
    if isinstance(base, dict) and isinstance(change, dict):
        merged = dict(base)
        for key, value in change.items():
            merged[key] = deep_merge(base.get(key), value)
        return merged
    return copy.deepcopy(change)


def with_bundle_dir(value: Any, files_dir: str) -> Any:
    """`${BUNDLE}` in every string replaced by the bundle's files folder."""
    if isinstance(value, str):
        return value.replace(BUNDLE_REF, files_dir)
    if isinstance(value, dict):
        return {k: with_bundle_dir(v, files_dir) for k, v in value.items()}
    if isinstance(value, list):
        return [with_bundle_dir(v, files_dir) for v in value]
    return value
