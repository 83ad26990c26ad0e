"""A fresh database on the machine's PostgreSQL server for each test that needs one.

The server is the one on 127.0.0.1:5432 (EDGE_TEST_POSTGRES: another URL of its `postgres`
database); a test is skipped, saying why, where none answers.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest

ADMIN_URL = os.environ.get("EDGE_TEST_POSTGRES", "postgresql://127.0.0.1:5432/postgres")


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """The URL of a new empty database, dropped afterwards; a skip when no server answers."""
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        pytest.skip(f"no PostgreSQL server at {ADMIN_URL}: {str(exc).strip()[:200]}")
    name = f"edge_test_{uuid.uuid4().hex[:12]}"
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
        yield ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
