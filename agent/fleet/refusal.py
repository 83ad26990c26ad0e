"""Why a bundle is refused: one reason per check, the label its metric and health report carry."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """The check a bundle failed, in the order they run."""

    MALFORMED = "malformed"  # not a signed envelope, or its manifest breaks the schema
    UNKNOWN_KEY = "unknown_key"  # signed by no key this agent trusts
    BAD_SIGNATURE = "bad_signature"  # a trusted key's signature that does not verify
    NOT_FOR_THIS_AGENT = "not_for_this_agent"  # no target matches this site and its devices
    NOT_NEWER = "not_newer"  # the same or an older version than the one running
    TOO_LARGE = "too_large"  # past the size or file-count limits
    MISSING_FILE = "missing_file"  # a listed file absent, not a plain file, or of another size
    WRONG_HASH = "wrong_hash"  # a listed file whose sha256 differs from the manifest's
    ROLLED_BACK = "rolled_back"  # this version was rolled back here: never taken again
    INVALID_CONFIG = "invalid_config"  # its config fragment does not apply to this agent
    INVALID_LEARNED = "invalid_learned"  # a learned baseline it brings cannot be put in use


class BundleRefused(Exception):  # noqa: N818 - a verdict on a bundle, not an error
    """A bundle that must not be applied: the reason (a metric label) and a line for people."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
