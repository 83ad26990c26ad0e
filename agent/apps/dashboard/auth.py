"""Access to the dashboard: open on loopback, a token everywhere else.

The browser sends the token once through the login form; it then holds a session cookie
derived from the token (HMAC), never the token itself. Scripts may send
`Authorization: Bearer <token>`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

from pydantic import SecretStr
from starlette.requests import HTTPConnection

COOKIE = "edge_dashboard_session"
OPEN_PATHS = ("/login", "/static/")


class DashboardAuthError(Exception):
    """The dashboard must not start with this access configuration."""


def is_loopback(bind: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: only this machine can connect."""
    if bind == "localhost":
        return True
    try:
        return ipaddress.ip_address(bind).is_loopback
    except ValueError:
        return False  # a host name may resolve anywhere


def require_token_off_loopback(bind: str, token: SecretStr | None) -> None:
    """Refuse an open dashboard reachable from the network."""
    if token is None and not is_loopback(bind):
        raise DashboardAuthError(
            f"dashboard.token: required when binding to {bind} (not loopback); set it in the "
            "config's dashboard section (e.g. token: ${EDGE_DASHBOARD_TOKEN}) or bind 127.0.0.1"
        )


class TokenGate:
    """Checks a request's bearer token or session cookie in constant time."""

    def __init__(self, token: SecretStr | None) -> None:
        self._token = token.get_secret_value().encode() if token else None
        self._session = (
            hmac.new(self._token, b"edge-dashboard-session", hashlib.sha256).hexdigest()
            if self._token
            else None
        )

    @property
    def enabled(self) -> bool:
        """False when no token is configured (loopback only)."""
        return self._token is not None

    def token_matches(self, candidate: str) -> bool:
        """The login form's check."""
        return self._token is not None and hmac.compare_digest(candidate.encode(), self._token)

    def session_value(self) -> str:
        """The cookie value a correct login earns."""
        return self._session or ""

    def allows(self, conn: HTTPConnection) -> bool:
        """Open paths, a valid bearer token, or a valid session cookie."""
        if self._token is None or conn.url.path.startswith(OPEN_PATHS):
            return True
        scheme, _, credential = conn.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self.token_matches(credential):
            return True
        cookie = conn.cookies.get(COOKIE, "")  # bytes: a str with non-ASCII would raise
        return bool(self._session) and hmac.compare_digest(
            cookie.encode(), str(self._session).encode()
        )
