"""Partitioning module-builder nodes: tensors become producer edges, model inputs graph
inputs, constants stay out of the transfers, and the devices are written back so that
build_module compiles the accelerator runs."""

import numpy as np
import pytest

from compiler.module_builder import Node, build_module
from compiler.partition.api import partition
from compiler.partition.costs import cpu_model
from compiler.partition.errors import PartitionError
from compiler.partition.modules import assign, op_nodes
from opset import AluStep, Conv2d, Elementwise, Epilogue, Requant
from vta_hw.config import DEFAULT

EP = Epilogue(requant=Requant(1, 8))


def model():
    conv = Conv2d(1, 32, 28, 28, 32, 3, 3, pad=1, epilogue=EP, name="conv")
    relu = Elementwise((1, 32, 28, 28), (AluStep("max", 0),), name="relu")
    nodes = [Node(conv, "cpu", {"x": "image", "w": "w0"}, "t0", "conv"),
             Node(relu, "cpu", {"a": "t0"}, "t1", "relu")]
    w = np.random.default_rng(0).integers(-3, 4, (32, 32, 3, 3)).astype(np.int8)
    return nodes, {"w0": w}


def test_module_nodes_partition_and_build():
    nodes, consts = model()
    ops, ins, outs = op_nodes(nodes, consts, ["t1"])
    assert ins == {"image": (1, 32, 28, 28)} and outs == ["relu"]
    assert [(o.name, o.inputs) for o in ops] == [("conv", ("image",)), ("relu", ("conv",))]
    # kernels 50x slower than this host's, its boundary costs (packing, a program's launch)
    # as measured: slowing those too would price the accelerator's host side up with
    # the CPU's, and the choice would follow this host's ratio of the two
    cpu = cpu_model().scaled(50.0, kinds=("conv2d", "elementwise"))
    p = partition(ops, ins, outs, DEFAULT, cpu=cpu)
    placed = assign(nodes, p)
    assert [n.device for n in placed] == ["accelerator", "accelerator"]
    build_module(placed, DEFAULT, constants=consts, outputs=["t1"])
    pinned = assign(nodes, partition(ops, ins, outs, DEFAULT, cpu=cpu, pins={"relu": "cpu"}))
    assert [n.device for n in pinned] == ["accelerator", "cpu"]


def test_an_unwritten_output_is_an_error():
    nodes, consts = model()
    with pytest.raises(PartitionError, match=r"model outputs \['nope'\]"):
        op_nodes(nodes, consts, ["nope"])
