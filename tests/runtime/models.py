"""Small quantized models for the module and executor tests, and their numpy reference.

``cnn(chained=...)``: conv+bias+requant+ReLU on the accelerator -> 2x2 max pool on the
CPU -> conv on the accelerator -> global average pool and dense on the CPU; with
``chained`` a second accelerator conv follows the first (one chained program); ``fc``: the
device of the dense layer (on the accelerator its input and output cross the boundary in
the dense layout).  Weights
are random int8; the requantization shifts keep activations in range so nothing is
trivially saturated.
"""

from __future__ import annotations

import numpy as np

from compiler.module_builder import Node, Quant, build_module
from opset import (
    AluStep,
    Conv2d,
    Dense,
    Elementwise,
    Epilogue,
    GlobalAvgPool,
    Pool2d,
    Requant,
    reference,
)
from runtime.module import Module
from vta_hw.config import HwConfig


def cnn(chained: bool = False, seed: int = 0, size: int = 8, fc: str = "cpu"
        ) -> tuple[list[Node], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)

    def r8(*s):
        return rng.integers(-128, 128, s, dtype=np.int8)

    h = size
    consts = {"w1": r8(8, 3, 3, 3), "b1": rng.integers(-500, 500, 8).astype(np.int32),
              "w2": r8(16, 8, 3, 3), "wd": r8(10, 16),
              "bd": rng.integers(-100, 100, 10).astype(np.int32)}
    c1 = Conv2d(1, 3, h, h, 8, 3, 3, 1, 1, Epilogue(bias=True, requant=Requant(1, 7),
                                                     relu=True), name="conv1")
    nodes = [Node(c1, "accelerator", {"x": "image", "w": "w1", "bias": "b1"}, "t1")]
    prev = "t1"
    if chained:
        consts["w1b"] = r8(8, 8, 3, 3)
        c1b = Conv2d(1, 8, h, h, 8, 3, 3, 1, 1, Epilogue(requant=Requant(3, 8, 1), relu=True),
                     name="conv1b")
        nodes.append(Node(c1b, "accelerator", {"x": "t1", "w": "w1b"}, "t1b"))
        prev = "t1b"
    nodes += [
        Node(Pool2d(1, 8, h, h, "max", 2, 2, 2, name="pool"), "cpu", {"x": prev}, "t2"),
        Node(Conv2d(1, 8, h // 2, h // 2, 16, 3, 3, 1, 1, Epilogue(requant=Requant(1, 8)),
                    name="conv2"), "accelerator", {"x": "t2", "w": "w2"}, "t3"),
        Node(GlobalAvgPool(1, 16, h // 2, h // 2, name="gap"), "cpu", {"x": "t3"}, "t4"),
        Node(Dense(1, 16, 10, Epilogue(bias=True, requant=Requant(1, 6)), name="fc"), fc,
             {"x": "t4", "w": "wd", "bias": "bd"}, "logits"),
    ]
    return nodes, consts


def build_cnn(cfg: HwConfig, chained: bool = False, seed: int = 0, size: int = 8,
              fc: str = "cpu") -> Module:
    nodes, consts = cnn(chained, seed, size, fc)
    return build_module(nodes, cfg, constants=consts, outputs=["logits"],
                        quant={"image": Quant(0.02, 0), "logits": Quant(0.1, 0)})


def reference_run(nodes: list[Node], consts: dict[str, np.ndarray], inputs: dict
                  ) -> dict[str, np.ndarray]:
    """Every tensor of one sample, computed op by op with :func:`opset.reference.run`."""
    env = {**consts, **inputs}
    for n in nodes:
        specs = {s.name: s for s in n.op.inputs()}
        env[n.output] = reference.run(n.op, {o: env[t].reshape(specs[o].shape)
                                             for o, t in n.inputs.items()})
    return env


def images(samples: int, size: int = 8, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, (samples, 1, 3, size, size),
                                                dtype=np.int8)


def branchy(seed: int = 3) -> tuple[list[Node], dict[str, np.ndarray]]:
    """A model whose accelerator program reads operands other than ``x`` from the host: a
    conv's residual (an earlier accelerator output) and an element-wise add of the model
    input; the chained program also ends in an average pool, and an intermediate tensor
    (``t3``) is a model output besides ``y``."""
    rng = np.random.default_rng(seed)

    def r8(*s):
        return rng.integers(-128, 128, s, dtype=np.int8)

    consts = {"w1": r8(8, 8, 3, 3), "w2": r8(8, 8, 1, 1)}
    nodes = [
        Node(Conv2d(1, 8, 6, 6, 8, 3, 3, 1, 1, Epilogue(requant=Requant(1, 8)), name="c1"),
             "accelerator", {"x": "x", "w": "w1"}, "t1"),
        Node(Pool2d(1, 8, 6, 6, "max", 3, 3, 1, 1, name="p"), "cpu", {"x": "t1"}, "t2"),
        Node(Conv2d(1, 8, 6, 6, 8, 1, 1, epilogue=Epilogue(requant=Requant(1, 7),
                                                            residual=True, relu=True),
                    name="c2"), "accelerator", {"x": "t2", "w": "w2", "residual": "t1"}, "t3"),
        Node(Elementwise((1, 8, 6, 6), (AluStep("add", None), AluStep("rshr", 1)), name="add"),
             "accelerator", {"a": "t3", "b": "x"}, "t4"),
        Node(Pool2d(1, 8, 6, 6, "avg", 2, 2, 2, name="ap"), "accelerator", {"x": "t4"}, "y"),
    ]
    return nodes, consts


def deep_chain(seed: int = 4) -> tuple[list[Node], dict[str, np.ndarray]]:
    """Four 3x3 convs chained on the accelerator (c0..c3: x -> a0 -> a1 -> a2 -> a3, each
    intermediate read by the next op only), a max pool on the CPU and a fifth conv (c4) in
    a second program: the memory plan's and the layout boundaries' model."""
    rng = np.random.default_rng(seed)

    def r8(*s):
        return rng.integers(-128, 128, s, dtype=np.int8)

    consts = {"w0": r8(8, 3, 3, 3), **{f"w{i}": r8(8, 8, 3, 3) for i in (1, 2, 3)},
              "w4": r8(8, 8, 3, 3)}
    nodes = [Node(Conv2d(1, 3, 8, 8, 8, 3, 3, 1, 1, Epilogue(requant=Requant(1, 7),
                                                              relu=True), name="c0"),
                  "accelerator", {"x": "x", "w": "w0"}, "a0")]
    for i in (1, 2, 3):
        nodes.append(Node(Conv2d(1, 8, 8, 8, 8, 3, 3, 1, 1,
                                 Epilogue(requant=Requant(1, 9), relu=True), name=f"c{i}"),
                          "accelerator", {"x": f"a{i - 1}", "w": f"w{i}"}, f"a{i}"))
    nodes += [Node(Pool2d(1, 8, 8, 8, "max", 2, 2, 2, name="pool"), "cpu", {"x": "a3"}, "p"),
              Node(Conv2d(1, 8, 4, 4, 8, 3, 3, 1, 1, Epilogue(requant=Requant(1, 9)),
                          name="c4"), "accelerator", {"x": "p", "w": "w4"}, "y")]
    return nodes, consts
