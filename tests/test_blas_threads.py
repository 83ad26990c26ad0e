"""The agent runs numpy's BLAS on one thread unless the environment asks for more."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

BLAS_THREADS = """
import json
import agent
import numpy
from threadpoolctl import threadpool_info
print(json.dumps([p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]))
"""


def blas_threads(env: dict[str, str]) -> list[int]:
    """The thread count of every BLAS numpy loaded, in a fresh process importing the agent."""
    clean = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    command = [sys.executable, "-c", BLAS_THREADS]
    result = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60,
                            env={**clean, **env})  # fmt: skip
    return list(json.loads(result.stdout))


def test_blas_runs_on_one_thread_unless_asked_otherwise() -> None:
    found = blas_threads({})
    if not found:
        pytest.skip("numpy was built without a BLAS threadpoolctl knows")
    assert found == [1] * len(found)
    if (os.cpu_count() or 1) > 1:
        assert blas_threads({"OPENBLAS_NUM_THREADS": "2"}) == [2] * len(found)
