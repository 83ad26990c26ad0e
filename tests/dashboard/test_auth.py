"""Access control: no open dashboard off loopback, 401 for a wrong token, no token leaks."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from agent.apps.dashboard.auth import COOKIE, is_loopback
from tests.dashboard.support import dashboard_process
from tests.support.mqtt import free_port, port_open

TOKEN = "s3cret-token-for-tests"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def request(
    url: str, headers: dict[str, str] | None = None, data: bytes | None = None
) -> tuple[int, dict[str, str], str]:
    """(status, headers, body) without following redirects; HTTP errors are answers too."""
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, data, headers or {}), timeout=10) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def test_loopback_addresses() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert not is_loopback("dashboard.example")


@pytest.mark.parametrize("bind", ["0.0.0.0", "192.0.2.10"])
def test_refuses_to_start_off_loopback_without_a_token(bind: str) -> None:
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-m", "agent", "dashboard", "--bind", bind, "--port", str(port)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "dashboard.token: required" in done.stderr
    assert bind in done.stderr
    assert not port_open("127.0.0.1", port)


async def test_wrong_token_is_401_and_the_token_never_shows(
    broker: tuple[str, int], topic_prefix: str, tmp_path: Path
) -> None:
    async with dashboard_process(tmp_path, broker[1], topic_prefix, token=TOKEN) as dash:

        def get(path: str, **headers: str) -> tuple[int, dict[str, str], str]:
            return request(dash.url + path, headers)

        def login(token: str) -> tuple[int, dict[str, str], str]:
            return request(dash.url + "/login", data=f"token={token}".encode())

        assert (await asyncio.to_thread(get, "/api/overview"))[0] == 401
        wrong = await asyncio.to_thread(get, "/api/overview", Authorization="Bearer nope-nope")
        assert wrong[0] == 401
        status, _, page = await asyncio.to_thread(get, "/")
        assert status == 401 and 'name="token"' in page  # the login form, nothing else
        right = await asyncio.to_thread(get, "/api/overview", Authorization=f"Bearer {TOKEN}")
        assert right[0] == 200
        assert (await asyncio.to_thread(login, "wrong-token"))[0] == 401
        status, headers, _ = await asyncio.to_thread(login, TOKEN)
        assert status == 303
        cookie = headers["set-cookie"].split(";")[0]
        assert cookie.startswith(f"{COOKIE}=") and TOKEN not in cookie
        assert "HttpOnly" in headers["set-cookie"]
        status, _, page = await asyncio.to_thread(get, "/", Cookie=cookie)
        assert status == 200 and "Edge inspection" in page and TOKEN not in page
        forged = await asyncio.to_thread(get, "/api/overview", Cookie=f"{COOKIE}=forged")
        assert forged[0] == 401
        accented = await asyncio.to_thread(get, "/api/overview", Cookie=f"{COOKIE}=\u00e9")
        assert accented[0] == 401  # refused, not a server error
        assert (await asyncio.to_thread(get, "/static/style.css"))[0] == 200
    assert TOKEN not in dash.output()
