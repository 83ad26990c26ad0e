"""Config of the rollout of signed bundles to this agent (`edge-agent fleet`, docs/fleet.md)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from agent.config.base import Seconds, StrictModel

PUBLIC_KEY = r"^ed25519:[A-Za-z0-9+/]{43}=$"  # 32 bytes, base64


class FleetConfig(StrictModel):
    """Which signed bundles this agent takes, and how it watches one it switched to."""

    # the public keys (edge-agent fleet keygen) whose bundles the agent applies; none: it
    # takes no bundle at all
    trusted_keys: list[Annotated[str, Field(pattern=PUBLIC_KEY)]] = Field(
        default_factory=list, max_length=16
    )
    max_bundle_mb: float = Field(default=512.0, gt=0.0, le=16384.0, allow_inf_nan=False)
    # after a switch, a targeted device whose model or sources fail within this long rolls
    # the bundle back
    rollback_window_s: Seconds = 300.0
    fetch_timeout_s: Seconds = 120.0  # for every file of a bundle to arrive
