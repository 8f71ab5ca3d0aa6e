#!/usr/bin/python3
"""A model of about 1 ms per call on one core, for the benchmark harness overhead figure.

    /usr/bin/python3 bench/make_latency_model.py --out bench/data/latency

writes DIR/mlp.onnx: input "x" float [N, 512] -> LAYERS x (MatMul 512x512, Relu) -> "y" [N, 512].
Weights are seeded, so the file is the same on every run.
"""
import argparse
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

WIDTH = 512
LAYERS = 6


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    nodes, weights, previous = [], [], "x"
    for i in range(LAYERS):
        w = numpy_helper.from_array((rng.standard_normal((WIDTH, WIDTH)) / WIDTH ** 0.5).astype(np.float32), f"w{i}")
        weights.append(w)
        nodes.append(helper.make_node("MatMul", [previous, w.name], [f"m{i}"]))
        out = "y" if i == LAYERS - 1 else f"h{i}"
        nodes.append(helper.make_node("Relu", [f"m{i}"], [out]))
        previous = out
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", WIDTH])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", WIDTH])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="mlgate-bench")
    model.ir_version = 7
    onnx.checker.check_model(model)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(Path(args.out) / "mlp.onnx"))


if __name__ == "__main__":
    main()
