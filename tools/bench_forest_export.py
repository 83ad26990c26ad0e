"""The learned sensor forest exported two ways, side by side: skl2onnx and the agent's own.

    python -m tools.bench_forest_export

One IsolationForest (100 trees, as a device learns) on 1,000 windows of 8 registers; each
export's conversion time, size, node count and ONNX Runtime time per single-row run (the
agent scores one window per sample), and the largest difference between their decision
scores. Needs skl2onnx (the dev or train extra).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import onnx
import onnxruntime as ort
from sklearn.ensemble import IsolationForest

from agent.senses.sensor.forest_onnx import isolation_forest_onnx
from agent.senses.sensor.learn import SEED, TREES
from tools.skl_forest import skl2onnx_forest

WIDTH = 8
ROWS = 300


def session(model: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # as the agent
    return ort.InferenceSession(model, sess_options=options)


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # no options
    rng = np.random.default_rng(0)
    forest = IsolationForest(n_estimators=TREES, random_state=SEED, n_jobs=1)
    forest.fit(rng.normal(size=(1000, WIDTH)).astype(np.float32))
    rows = rng.normal(scale=2.0, size=(ROWS, WIDTH)).astype(np.float32)
    exports: dict[str, Callable[[], bytes]] = {
        "skl2onnx": lambda: skl2onnx_forest(forest).SerializeToString(),
        "forest_onnx": lambda: isolation_forest_onnx(forest, WIDTH),
    }
    scores: dict[str, np.ndarray] = {}
    for name, export in exports.items():
        started = time.perf_counter()
        model = export()
        converted = time.perf_counter() - started
        runner = session(model)
        started = time.perf_counter()
        for row in rows:
            runner.run(None, {"features": row[None, :]})
        per_row = (time.perf_counter() - started) / ROWS
        scores[name] = np.ravel(runner.run(None, {"features": rows})[1])
        nodes = len(onnx.load_from_string(model).graph.node)
        print(f"{name}: convert {converted:.3f} s, {len(model) // 1024} KiB, {nodes} nodes, "
              f"{per_row * 1e3:.3f} ms per row")  # fmt: skip
    reference = forest.decision_function(rows)
    for name, values in scores.items():
        print(f"{name}: largest difference from sklearn {np.abs(values - reference).max():.2e}")


if __name__ == "__main__":
    main()
