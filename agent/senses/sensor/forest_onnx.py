"""A fitted scikit-learn IsolationForest as a compact ONNX graph, for the learned sensor model.

skl2onnx writes each tree's path length as its own small subgraph: about 27 nodes per tree,
2,700 for the 100 trees a device learns, which ONNX Runtime then runs one by one for every
window (milliseconds per row), and converting takes seconds. The forest's decision function
needs less. Per tree, a sample's path length is the depth of the leaf it lands in plus
c(n), the average path length of an unbuilt subtree of the n training samples left there
(sklearn's `_average_path_length`); the forest's is their mean. So one TreeEnsembleRegressor
whose leaves hold depth + c(n), averaged over the trees, gives the mean path length h, and

    decision = -2 ** (-h / c(max_samples)) - offset_        label = 1 if decision >= 0 else -1

as sklearn's `decision_function` and `predict`. The graph has the shipped model's interface:
input `features` (float32, rows × width), outputs `label` (int64) and `scores` (float32,
rows × 1). Thresholds are float32, as skl2onnx writes them and as the features arrive.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

ML_OPSET = 3
OPSET = 17
EULER_GAMMA = 0.5772156649015329


def average_path_length(samples: int) -> float:
    """c(n): the average path length of an unsuccessful search in a binary search tree of n
    samples (Liu et al., Isolation Forest; sklearn's `_average_path_length`)."""
    if samples <= 1:
        return 0.0
    if samples == 2:
        return 1.0
    return 2.0 * (math.log(samples - 1.0) + EULER_GAMMA) - 2.0 * (samples - 1.0) / samples


def isolation_forest_onnx(forest: Any, width: int) -> bytes:
    """The fitted `forest` (sklearn.ensemble.IsolationForest on `width` features) as ONNX."""
    from onnx import TensorProto, helper, numpy_helper  # imported here: only learning needs it

    nodes: dict[str, list[Any]] = {key: [] for key in (
        "nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes", "nodes_values",
        "nodes_truenodeids", "nodes_falsenodeids",
    )}  # fmt: skip
    targets: dict[str, list[Any]] = {key: [] for key in (
        "target_treeids", "target_nodeids", "target_ids", "target_weights",
    )}  # fmt: skip
    for tree_id, (estimator, features) in enumerate(
        zip(forest.estimators_, forest.estimators_features_, strict=True)
    ):
        tree = estimator.tree_
        depth = np.zeros(tree.node_count, dtype=np.int64)
        for node in range(tree.node_count):  # children come after their parent
            left, right = tree.children_left[node], tree.children_right[node]
            leaf = left == -1
            nodes["nodes_treeids"].append(tree_id)
            nodes["nodes_nodeids"].append(node)
            nodes["nodes_featureids"].append(0 if leaf else int(features[tree.feature[node]]))
            nodes["nodes_modes"].append("LEAF" if leaf else "BRANCH_LEQ")
            nodes["nodes_values"].append(0.0 if leaf else float(tree.threshold[node]))
            nodes["nodes_truenodeids"].append(0 if leaf else int(left))
            nodes["nodes_falsenodeids"].append(0 if leaf else int(right))
            if leaf:
                path = depth[node] + average_path_length(int(tree.n_node_samples[node]))
                targets["target_treeids"].append(tree_id)
                targets["target_nodeids"].append(node)
                targets["target_ids"].append(0)
                targets["target_weights"].append(float(path))
            else:
                depth[left] = depth[right] = depth[node] + 1
    attributes: dict[str, Any] = {**nodes, **targets}
    scale = average_path_length(int(forest.max_samples_))
    constants: dict[str, np.ndarray] = {
        "scale": np.array([scale], np.float32),
        "two": np.array([2.0], np.float32),
        "offset": np.array([forest.offset_], np.float32),
        "zero": np.array([0.0], np.float32),
        "inlier": np.array([1], np.int64),
        "outlier": np.array([-1], np.int64),
        "rows": np.array([-1], np.int64),  # the labels' shape: one per row
    }
    graph = helper.make_graph(
        [
            helper.make_node(
                "TreeEnsembleRegressor",
                ["features"],
                ["path"],
                domain="ai.onnx.ml",
                n_targets=1,
                aggregate_function="AVERAGE",
                post_transform="NONE",
                **attributes,
            ),
            helper.make_node("Div", ["path", "scale"], ["relative"]),
            helper.make_node("Neg", ["relative"], ["exponent"]),
            helper.make_node("Pow", ["two", "exponent"], ["anomaly"]),  # sklearn's -score_samples
            helper.make_node("Neg", ["anomaly"], ["score"]),
            helper.make_node("Sub", ["score", "offset"], ["scores"]),
            helper.make_node("Less", ["scores", "zero"], ["outlying"]),
            helper.make_node("Where", ["outlying", "outlier", "inlier"], ["labels"]),
            helper.make_node("Reshape", ["labels", "rows"], ["label"]),
        ],
        "isolation_forest",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, width])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [None, 1]),
        ],
        initializer=[numpy_helper.from_array(value, name) for name, value in constants.items()],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
        producer_name="edge-inspection-agent",
    )
    return bytes(model.SerializeToString())
