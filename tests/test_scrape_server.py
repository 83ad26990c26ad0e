"""/metrics holds no thread for a connection that sends nothing, and serves a few at once."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Counter

from agent.observe import scrape_server
from agent.observe.scrape_server import MAX_SCRAPERS, serve_metrics


def test_idle_connections_are_bounded_and_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scrape_server.QuietHandler, "timeout", 0.5)
    registry = CollectorRegistry()
    Counter("scrapes_test", "a counter to serve", registry=registry).inc()
    server, _ = serve_metrics("127.0.0.1", 0, registry)
    url = f"http://127.0.0.1:{server.server_port}/metrics"
    threads = threading.active_count()
    idle = [socket.create_connection(("127.0.0.1", server.server_port)) for _ in range(40)]
    try:
        time.sleep(0.2)
        assert threading.active_count() <= threads + MAX_SCRAPERS  # not one per connection
        time.sleep(1.0)  # past the timeout: the idle ones are dropped, their threads end
        assert threading.active_count() <= threads + 1
        with urllib.request.urlopen(url, timeout=5) as answer:  # scrapes work again
            assert b"scrapes_test_total 1.0" in answer.read()
    finally:
        for connection in idle:
            connection.close()
        server.shutdown()
        server.server_close()
