"""Helpers for the graph-level tests: onnxruntime as the oracle, light model-zoo models
with seeded random weights."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

LIGHT = Path(os.path.dirname(onnx.__file__)) / "backend" / "test" / "data" / "light"


def run_ort(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """onnxruntime as the ONNX semantics' reference: no graph rewrites, and exact u8 x s8
    products (``session.x64quantprecision``: by default onnxruntime 1.32 on AVX2 without
    VNNI sums them in saturating 16-bit pairs, which the ONNX spec does not)."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.x64quantprecision", "1")
    sess = ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def quantize_static_file(model: onnx.ModelProto, calib: list[dict[str, np.ndarray]],
                         folder: Path, **kw) -> Path:
    """``model`` saved to ``folder/f.onnx`` and quantized by onnxruntime's
    ``quantize_static`` (keyword arguments passed on) calibrated on ``calib`` (one feed dict
    per sample) into ``folder/q.onnx``, whose path is returned."""
    from onnxruntime.quantization import CalibrationDataReader, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(calib)

        def get_next(self):
            return next(self.it, None)

    src, dst = Path(folder) / "f.onnx", Path(folder) / "q.onnx"
    onnx.save(model, src)
    quantize_static(str(src), str(dst), Reader(), **kw)
    return dst


def randomize_weights(model: onnx.ModelProto, seed: int = 0) -> onnx.ModelProto:
    """The model with every ConstantOfShape (the light models' uniform 0.02 weights) replaced
    by a seeded random initializer of the same shape, scaled so activations stay O(1):
    rank>=2 weights ~ N(0, 1/fan_in); 1-D parameters in [0.5, 1.5] (positive: a variance
    must be)."""
    rng = np.random.default_rng(seed)
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    known = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    for n in g.node:
        if n.op_type == "Constant":
            known[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    keep = []
    for n in g.node:
        if n.op_type != "ConstantOfShape":
            keep.append(n)
            continue
        shape = tuple(int(d) for d in known[n.input[0]])
        if len(shape) >= 2:
            fan_in = int(np.prod(shape[1:]))
            value = rng.standard_normal(shape) * np.sqrt(1.0 / fan_in)
        else:
            value = rng.uniform(0.5, 1.5, shape)
        g.initializer.append(numpy_helper.from_array(value.astype(np.float32), n.output[0]))
    del g.node[:]
    g.node.extend(keep)
    return m


def make_model(nodes, inputs, outputs, initializers=(), opset: int = 13,
               ir_version: int | None = None) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "t", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version or min(model.ir_version, _max_ir(opset))
    return model


def _max_ir(opset: int) -> int:
    # the IR version that introduced each opset (onnxruntime rejects newer IR than it knows)
    table = {7: 3, 8: 3, 9: 4, 10: 5, 11: 6, 12: 7, 13: 7, 14: 7, 15: 8, 16: 8, 17: 8,
             18: 8, 19: 9, 20: 9, 21: 10}
    return table.get(opset, 10)


def tensor(name: str, shape, elem=onnx.TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def init(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array), name)


def he_weight(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """A float32 weight of ``shape`` (output channels first), He-initialized
    (``N(0, 2 / fan_in)``): activations keep their scale through the test models' layers."""
    fan_in = int(np.prod(shape[1:]))
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


def small_bias(rng: np.random.Generator, n: int) -> np.ndarray:
    """A float32 bias of ``n`` values, ``N(0, 0.1^2)``."""
    return (rng.standard_normal(n) * 0.1).astype(np.float32)


def shrink_input(model: onnx.ModelProto, size: int, full: int = 224) -> onnx.ModelProto:
    """The same architecture on a ``size`` x ``size`` input instead of ``full`` x ``full``
    (a faster variant for simulation tests): the input's spatial dimensions set, every
    constant Reshape shape of rank >= 4 scaled on its two last (spatial) axes, and a final
    fixed-window AveragePool (7x7, stride 1: the global pool of a 224 export) made a
    GlobalAveragePool.  ``full / size`` must divide every spatial size it scales."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    consts = {i.name for i in g.initializer}
    for i in g.input:
        if i.name not in consts:
            dims = i.type.tensor_type.shape.dim
            dims[2].dim_value = dims[3].dim_value = size
    inits = {i.name: i for i in g.initializer}
    for n in g.node:
        if n.op_type == "Reshape" and n.input[1] in inits:
            shape = numpy_helper.to_array(inits[n.input[1]]).copy()
            if shape.size >= 4:
                assert all(d * size % full == 0 for d in shape[-2:]), shape
                shape[-2:] = shape[-2:] * size // full
                inits[n.input[1]].CopyFrom(numpy_helper.from_array(shape, n.input[1]))
        if n.op_type == "AveragePool":
            attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
            if list(attrs.get("kernel_shape", ())) == [7, 7] and \
                    list(attrs.get("strides", (1, 1))) == [1, 1]:
                n.op_type = "GlobalAveragePool"
                del n.attribute[:]
    return m
