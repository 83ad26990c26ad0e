"""skl2onnx's export of an Isolation Forest, with the opsets every shipped forest uses.

The reference export: the shipped sensor model, the tests' forests and the benchmark of the
agent's own exporter all go through it, so they differ in the forest, never in the settings.
Needs skl2onnx (the dev or train extra).
"""

from __future__ import annotations

import onnx
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.ensemble import IsolationForest

OPSETS = {"": 17, "ai.onnx.ml": 3}


def skl2onnx_forest(forest: IsolationForest) -> onnx.ModelProto:
    """Input `features` [N, width]; outputs `label` and `scores` (the decision function)."""
    return convert_sklearn(
        forest,
        initial_types=[("features", FloatTensorType([None, forest.n_features_in_]))],
        target_opset=OPSETS,
    )
