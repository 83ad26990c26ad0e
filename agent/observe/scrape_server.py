"""The HTTP server /metrics is scraped from: prometheus_client's, with its connections bounded.

Its own server gives every connection a thread for as long as the connection stays open, so
idle connections (anyone who can reach the port) would hold threads and file handles until the
process runs out of them, the outbox's database and the cameras included. Here a connection
that sends nothing for SCRAPE_TIMEOUT_S is dropped, and past MAX_SCRAPERS at once a new one is
closed at once (a Prometheus server scrapes one request at a time).
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

log = logging.getLogger(__name__)

MAX_SCRAPERS = 8
SCRAPE_TIMEOUT_S = 10.0


class QuietHandler(WSGIRequestHandler):
    """No log line per request; a socket that waits past SCRAPE_TIMEOUT_S is given up."""

    timeout = SCRAPE_TIMEOUT_S

    def log_message(self, format: str, *args: Any) -> None:
        pass


class BoundedServer(ThreadingWSGIServer):
    """At most MAX_SCRAPERS connections served at once; a further one is closed unread."""

    request_queue_size = 64  # connections the kernel holds until they are taken or closed

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._slots = threading.BoundedSemaphore(MAX_SCRAPERS)
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection that timed out or went away is no news (socketserver would print its
        traceback to stderr); anything else is logged."""
        error = sys.exc_info()[1]
        if isinstance(error, (TimeoutError, ConnectionError)):
            return
        log.warning("metrics request failed", exc_info=True)


def serve_metrics(
    bind: str, port: int, registry: CollectorRegistry
) -> tuple[BoundedServer, threading.Thread]:
    """Serve `registry` on bind:port from a daemon thread; OSError when it cannot bind."""
    family = socket.getaddrinfo(bind, port, type=socket.SOCK_STREAM)[0][0]
    server_class = type("MetricsServer", (BoundedServer,), {"address_family": family})
    server: BoundedServer = make_server(
        bind, port, make_wsgi_app(registry), server_class, QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True)
    thread.start()
    return server, thread
