"""The dashboard's HTTP side: pages, JSON API, evidence files and a live event stream (SSE)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from agent.apps.dashboard.auth import COOKIE, TokenGate
from agent.apps.dashboard.history import History
from agent.apps.dashboard.ingest import Ingest
from agent.apps.dashboard.live import Hub, Interest, LiveView
from agent.core.payload import iso
from agent.senses.registry import SENSES
from agent.senses.spec import sense_view
from agent.sinks.mqtt.inbound import LearnAction, LearnDuration, duration_only_to_relearn
from agent.sinks.mqtt.link import BrokerUnavailableError, MqttLink
from agent.sinks.mqtt.topics import Topics

STATIC = Path(__file__).parent / "static"
HEARTBEAT_S = 15.0
LIVE_BATCH_S = 0.2  # what a page waits at most for a change, so changes travel in batches
MAX_NAME = 256  # characters of a site or device name in a query
MAX_TREND_HOURS = 24.0  # the device page's longest range
LOGIN_PAGE = (Path(__file__).parent / "login.html").read_text()


class AckRequest(BaseModel):
    """What an operator submits to acknowledge an alarm."""

    model_config = ConfigDict(extra="forbid")

    by: str = Field(min_length=1, max_length=80)
    note: str = Field(default="", max_length=500)


class RelearnRequest(BaseModel):
    """What an operator submits to have a device learn its normal again (after maintenance),
    or go back to the version it learned before."""

    model_config = ConfigDict(extra="forbid")

    action: LearnAction = "relearn"
    by: str = Field(min_length=1, max_length=80)
    note: str = Field(default="", max_length=500)
    duration_s: LearnDuration | None = None

    @model_validator(mode="after")
    def _duration_only_to_relearn(self) -> RelearnRequest:
        duration_only_to_relearn(self.action, self.duration_s)
        return self


class Dashboard:
    """Everything the routes need, in one object."""

    def __init__(
        self, prefix: str, live: LiveView, history: History, hub: Hub, bridge: MqttLink,
        gate: TokenGate, ingest: Ingest,
    ) -> None:  # fmt: skip
        self.prefix = prefix
        self.live = live
        self.history = history
        self.hub = hub
        self.bridge = bridge
        self.gate = gate
        self.ingest = ingest

    async def index(self, request: Request) -> Response:
        """The single page; views are chosen by the URL's fragment."""
        return FileResponse(STATIC / "index.html")

    async def login_form(self, request: Request) -> Response:
        """The sign-in form (only reached when a token is configured)."""
        return HTMLResponse(LOGIN_PAGE.format(message="Enter the dashboard's access token."))

    async def login(self, request: Request) -> Response:
        """A correct token earns the session cookie; a wrong one is a 401."""
        form = parse_qs((await request.body()).decode(errors="replace"))
        if not self.gate.token_matches(form.get("token", [""])[0]):
            return HTMLResponse(LOGIN_PAGE.format(message="Wrong token."), status_code=401)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, self.gate.session_value(), httponly=True, samesite="strict")
        return response

    async def overview(self, request: Request) -> Response:
        """Every device's tile, site status and inspection round."""
        return JSONResponse(self.live.overview())

    async def senses(self, request: Request) -> Response:
        """The senses the agent knows, in registry order: names, titles, colours, evidence."""
        return JSONResponse({"senses": [sense_view(spec) for spec in SENSES.values()]})

    async def trend(self, request: Request) -> Response:
        """One device's trend points over the last `hours` (at most MAX_TREND_HOURS: a week of
        points at one a second would be 600,000, built on the event loop)."""
        hours = min(number_param(request, "hours", 1.0), MAX_TREND_HOURS)
        p = request.path_params
        points = await self.history.trend(p["site"], p["device"], time.time() - hours * 3600.0)
        return JSONResponse({"points": points})

    async def snapshot(self, request: Request) -> Response:
        """The latest retained camera or thermal snapshot of a device.

        Only looked up: a request must not add the device it names to the live view."""
        p = request.path_params
        live = self.live.devices.get((p["site"], p["device"]))
        found = live.snapshots.get(p["kind"]) if live is not None else None
        if found is None:
            return JSONResponse({"error": "no snapshot yet"}, status_code=404)
        media_type, data, _ = found
        return Response(data, media_type=media_type, headers={"Cache-Control": "no-store"})

    async def alarms(self, request: Request) -> Response:
        """Alarms first seen in the last `hours`, filtered by device, type and severity."""
        q = request.query_params
        since = time.time() - number_param(request, "hours", 24.0) * 3600.0
        found = await self.history.alarms(
            since, device=q.get("device"), type=q.get("type"), severity=q.get("severity")
        )
        return JSONResponse({"alarms": found})

    async def alarm(self, request: Request) -> Response:
        """One alarm with its latest payload, acknowledgements and evidence files."""
        found = await self.history.alarm(request.path_params["id"])
        if found is None:
            return JSONResponse({"error": "unknown alarm"}, status_code=404)
        return JSONResponse(found)

    async def evidence(self, request: Request) -> Response:
        """One evidence file's bytes, with its media type."""
        found = await self.history.evidence(request.path_params["id"], request.path_params["kind"])
        if found is None:
            return JSONResponse({"error": "no such evidence file"}, status_code=404)
        return Response(found[1], media_type=found[0])

    async def acknowledge(self, request: Request) -> Response:
        """Publish the operator's C3 ack; the dashboard records it when the broker echoes it."""
        alarm = await self.history.alarm(request.path_params["id"])
        if alarm is None:
            return JSONResponse({"error": "unknown alarm"}, status_code=404)
        try:
            ack = AckRequest.model_validate(await request.json())
        except (ValidationError, json.JSONDecodeError) as exc:
            return JSONResponse({"error": describe(exc)}, status_code=422)
        at = iso(time.time())
        message = {"id": alarm["id"], "by": ack.by, "at": at, "note": ack.note}
        try:
            await self.bridge.publish(
                Topics(self.prefix, alarm["site"]).ack(alarm["device"]),
                json.dumps(message).encode(),
            )
        except BrokerUnavailableError:
            return JSONResponse({"error": "broker unreachable; try again"}, status_code=503)
        return JSONResponse(message, status_code=202)

    async def relearn(self, request: Request) -> Response:
        """Publish an operator's request that a device learn its normal again (docs/learning.md:
        the agent starts at once; only hard limits alarm meanwhile), or roll back."""
        site, device = request.path_params["site"], request.path_params["device"]
        if (site, device) not in self.live.devices:
            return JSONResponse({"error": "unknown device"}, status_code=404)
        try:
            asked = RelearnRequest.model_validate(await request.json())
        except (ValidationError, json.JSONDecodeError) as exc:
            return JSONResponse({"error": describe(exc)}, status_code=422)
        message = asked.model_dump(exclude_none=True)
        try:
            await self.bridge.publish(
                Topics(self.prefix, site).learn(device), json.dumps(message).encode()
            )
        except BrokerUnavailableError:
            return JSONResponse({"error": "broker unreachable; try again"}, status_code=503)
        return JSONResponse(message, status_code=202)

    async def stats(self, request: Request) -> Response:
        """Alarms per device and per type per day, over the last `days`."""
        days = number_param(request, "days", 7.0)
        return JSONResponse(await self.history.stats(time.time() - days * 86400.0))

    async def rejected(self, request: Request) -> Response:
        """Inbound messages refused since the dashboard started, by topic kind and reason (the
        labels of the agent's edge_agent_rejected_messages_total), and the history calls that
        met the database away: otherwise only its log would tell an operator that messages are
        being dropped or left out of the history."""
        counts = sorted(self.ingest.rejected.items())
        return JSONResponse({
            "rejected": [
                {"topic_kind": kind, "reason": reason, "count": count}
                for (kind, reason), count in counts
            ],
            "history_failures": self.ingest.history_failures,
        })  # fmt: skip

    async def events(self, request: Request) -> Response:
        """The live event stream (Server-Sent Events) of one open page: the overview's, or with
        `?site=S&device=D` a device page's (its trend points and snapshots too)."""
        site, device = (request.query_params.get(k) for k in ("site", "device"))
        if site is None and device is None:
            interest = Interest()
        elif site is None or device is None:
            return JSONResponse({"error": "site and device: both or neither"}, status_code=422)
        elif max(len(site), len(device)) > MAX_NAME:
            return JSONResponse({"error": f"site, device: over {MAX_NAME} characters"},
                                status_code=422)  # fmt: skip
        else:
            interest = Interest((site, device))
        return StreamingResponse(self._stream(interest), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})  # fmt: skip

    async def _stream(self, interest: Interest) -> AsyncIterator[str]:
        """Events in batches, at most one per LIVE_BATCH_S: a busy fleet's tiles are coalesced
        (the latest of each device) instead of queued behind one another."""
        async with self.hub.listen(interest) as listener:
            yield "retry: 2000\n\n"
            while self.hub.attached(listener):
                events = await listener.take(HEARTBEAT_S)
                if not events:
                    yield ": heartbeat\n\n"
                    continue
                yield "".join(f"data: {json.dumps(event)}\n\n" for event in events)
                await asyncio.sleep(LIVE_BATCH_S)


def number_param(request: Request, name: str, default: float) -> float:
    """A positive number from the query string, else the default."""
    try:
        value = float(request.query_params.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


def describe(exc: Exception) -> str:
    """One line naming the field and what is wrong with it."""
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return f"body: not JSON ({exc})"


class RequireToken:
    """ASGI middleware: 401 for any request the gate does not allow."""

    def __init__(self, app: ASGIApp, gate: TokenGate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.gate.allows(Request(scope)):
            if scope["path"].startswith("/api/"):
                response: Response = JSONResponse({"error": "unauthorized"}, status_code=401)
            else:
                message = "Enter the dashboard's access token."
                response = HTMLResponse(LOGIN_PAGE.format(message=message), status_code=401)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def build_app(dashboard: Dashboard) -> ASGIApp:
    """The Starlette app behind the token gate."""
    d = dashboard
    routes = [
        Route("/", d.index),
        Route("/login", d.login_form, methods=["GET"]),
        Route("/login", d.login, methods=["POST"]),
        Route("/api/overview", d.overview),
        Route("/api/senses", d.senses),
        Route("/api/devices/{site}/{device}/trend", d.trend),
        Route("/api/devices/{site}/{device}/snapshot/{kind}", d.snapshot),
        Route("/api/devices/{site}/{device}/learn", d.relearn, methods=["POST"]),
        Route("/api/alarms", d.alarms),
        Route("/api/alarms/{id}", d.alarm),
        Route("/api/alarms/{id}/evidence/{kind}", d.evidence),
        Route("/api/alarms/{id}/ack", d.acknowledge, methods=["POST"]),
        Route("/api/stats", d.stats),
        Route("/api/ingest", d.rejected),
        Route("/api/events", d.events),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return RequireToken(Starlette(routes=routes), d.gate)
