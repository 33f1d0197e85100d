"""Blocked layouts kept between the host program's CPU kernels (runtime.host_layouts).

The plan is asserted on directly (which tensors stay blocked, their halos, which kernels
still pack), outputs are checked against onnxruntime and the numpy host kernels, and a
mutation (a blocked tensor read as NCHW: an unpack dropped) must break the outputs."""

from __future__ import annotations

from functools import partial

import numpy as np
import onnx
import pytest
from onnx import helper

import cpu_gpu_backends as cb
from compiler.frontend import import_onnx
from compiler.graph.lower import lower, lower_float
from compiler.graph.pipeline import run_passes, run_quantization
from compiler.graph.quantize import evaluate_quantized
from cpu_gpu_backends.ops.microkernel import has_vnni
from runtime.cpu_device import CpuDevice
from runtime.devices import open_device
from runtime.executor import Executor
from runtime.host_layouts import BlockedUse, Node, plan_layouts
from tests.compiler.graph.onnx_util import he_weight, init, make_model, run_ort, small_bias, tensor
from vta_hw.config import preset

CFG = preset("default")


def blocked_cnn(side_outputs: bool = False, seed: int = 0) -> onnx.ModelProto:
    """conv-relu (3 -> 16, the packed model input) -> conv-relu (16 -> 24: padded channels)
    -> 1x1 conv + residual Add + ReLU (the first conv's output) -> max pool -> depthwise
    conv-clip(0,6) -> 1x1 stride-2 conv -> global average pool -> flatten -> Gemm.  Input
    ``x`` 1x3x14x14.  ``side_outputs``: r1 is a model output too, and the depthwise
    output is also read by a Sigmoid (numpy, no blocked form) whose result is one."""
    rng = np.random.default_rng(seed)
    w = partial(he_weight, rng)
    b = partial(small_bias, rng)
    inits = [init("w1", w(16, 3, 3, 3)), init("b1", b(16)), init("w2", w(24, 16, 3, 3)),
             init("b2", b(24)), init("w3", w(16, 24, 1, 1)), init("b3", b(16)),
             init("wd", w(16, 1, 3, 3) * 3), init("bd", b(16)),
             init("lo", np.float32(0.0)), init("hi", np.float32(6.0)),
             init("w4", w(32, 16, 1, 1)), init("b4", b(32)),
             init("fc_w", w(10, 32)), init("fc_b", b(10))]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Conv", ["r2", "w3", "b3"], ["c3"], name="conv3"),
        helper.make_node("Add", ["c3", "r1"], ["s"], name="add"),
        helper.make_node("Relu", ["s"], ["r3"], name="relu3"),
        helper.make_node("MaxPool", ["r3"], ["p"], name="maxpool", kernel_shape=[3, 3],
                         strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["p", "wd", "bd"], ["cd"], name="dw", pads=[1, 1, 1, 1],
                         group=16),
        helper.make_node("Clip", ["cd", "lo", "hi"], ["d"], name="relu6"),
        helper.make_node("Conv", ["d", "w4", "b4"], ["c4"], name="conv4", strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["c4"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["logits"], name="fc", transB=1),
    ]
    outputs = [tensor("logits", [1, 10])]
    if side_outputs:
        nodes.append(helper.make_node("Sigmoid", ["d"], ["sd"], name="sigmoid"))
        outputs += [tensor("r1", [1, 16, 14, 14]), tensor("sd", [1, 16, 7, 7])]
    return make_model(nodes, [tensor("x", [1, 3, 14, 14])], outputs, inits)


def _load(model: onnx.ModelProto) -> Executor:
    m = lower_float(run_passes(import_onnx(model)), CFG, targets=("cpu",)).module
    return Executor(m, open_device("sim", CFG), host=CpuDevice(threads=1))


def _packs(prog) -> list[str]:
    """The compiled steps whose kernels still pack their input (``pack_x``)."""
    return [c.name for i, c in prog.calls.items() if c.call is not None and any(
        st.kernel.endswith("_pack_x") for st in prog.lowered[i].op.plan.steps)]


def _check_outputs(model, ex, x) -> None:
    want = run_ort(model, {"x": x})
    got = ex.run({"x": x}).outputs
    names = [o.name for o in model.graph.output]
    for name, w in zip(names, want, strict=True):
        assert w.std() > 0
        np.testing.assert_allclose(got[name], w, rtol=1e-4, atol=1e-5 * np.abs(w).max())


X = np.random.default_rng(1).standard_normal((1, 3, 14, 14)).astype(np.float32)


def test_a_conv_chain_keeps_blocks_and_packs_only_the_model_input():
    model = blocked_cnn()
    ex = _load(model)
    try:
        prog = ex.host_program
        # every activation between the first conv and the global average pool is blocked
        assert set(prog.layouts) == {"r1", "r2", "r3", "p", "d", "c4"}
        # a halo as wide as the widest reader's padding (r1: conv2 pads 1, residual 0)
        halos = {t: lay.halo for t, lay in prog.layouts.items()}
        assert halos == {"r1": (1, 1), "r2": (0, 0), "r3": (0, 0), "p": (1, 1),
                         "d": (0, 0), "c4": (0, 0)}
        assert all(lay.block == 16 and lay.batch == 1 for lay in prog.layouts.values())
        assert prog.layouts["r2"].c_blocks == 2  # 24 channels: one padded block
        # one pack, at the model input; no transpose between the kernels
        assert _packs(prog) == ["conv1"]
        by = {c.name: c for c in prog.calls.values()}
        assert by["conv3"].kind == "Conv+Add+Relu"
        for name in ("conv1", "conv2", "conv3", "maxpool", "dw", "conv4"):
            assert by[name].out.shape == prog.layouts[by[name].output].shape
        assert by["gap"].out.shape == (1, 32, 1, 1)  # NCHW for the flatten / Gemm
        _check_outputs(model, ex, X)
    finally:
        ex.close()


def test_outputs_and_numpy_readers_stay_nchw_and_their_readers_pack():
    """r1 is a model output: NCHW.  conv2 then packs it itself, and conv3 (its residual
    r1 is NCHW, so its output is too: tied) and the max pool after it stay NCHW.  d is
    read by a numpy Sigmoid: NCHW, so conv4 packs it."""
    model = blocked_cnn(side_outputs=True)
    ex = _load(model)
    try:
        prog = ex.host_program
        assert set(prog.layouts) == {"r2", "c4"}
        assert _packs(prog) == ["conv1", "conv2", "dw", "conv4"]
        _check_outputs(model, ex, X)
    finally:
        ex.close()


def test_dropping_an_unpack_breaks_the_outputs(monkeypatch):
    """Mutation check: the global average pool reading its blocked input as NCHW (same
    size: c4 has no halo) must not pass the output check."""
    nchw_gap = cb.global_avg_pool2d
    monkeypatch.setattr(cb, "blocked_global_avg_pool2d",
                        lambda lay, backend=None: nchw_gap((lay.n, lay.c, lay.h, lay.w),
                                                           backend=backend))
    model = blocked_cnn()
    ex = _load(model)
    try:
        assert "c4" in ex.host_program.layouts
        with pytest.raises(AssertionError):
            _check_outputs(model, ex, X)
    finally:
        ex.close()


def test_plan_layouts_constraints():
    """The planner alone: halos, a reader without a blocked form, a tied residual."""
    shapes = {t: (1, 16, 8, 8) for t in "abcdef"}
    conv = BlockedUse({"x": (1, 1)}, writes=True)
    res = BlockedUse({"x": (0, 0), "residual": (0, 0)}, writes=True,
                     tied=frozenset({"residual"}))
    nodes = {0: Node({"x": "in"}, "a", conv), 1: Node({"x": "a"}, "b", conv),
             2: Node({"x": "b", "residual": "a"}, "c", res), 3: Node({"x": "c"}, "d", conv),
             5: Node({"x": "d", "residual": "e"}, "f", res)}
    readers = {"a": [1, 2], "b": [2], "c": [3], "d": [5]}
    plan = plan_layouts(nodes, readers, shapes, ["f"], 16)
    assert set(plan) == {"a", "b", "c", "d"}  # f: a model output
    assert {t: lay.halo for t, lay in plan.items()} == {
        "a": (1, 1), "b": (0, 0), "c": (1, 1), "d": (0, 0)}
    # c also read by step 4, which has no blocked form: c goes NCHW, and with it a (the
    # residual tied to c's layout); b and d are unaffected
    readers["c"] = [3, 4]
    assert set(plan_layouts(nodes, readers, shapes, ["f"], 16)) == {"b", "d"}


def test_a_replica_keeps_the_plan_on_its_own_zeroed_buffers():
    """A second sample in flight (HostProgram.replica): the same layouts and kernels, its
    own blocked buffers (halos zero), the same outputs."""
    model = blocked_cnn()
    ex = _load(model)
    try:
        prog = ex.host_program
        rep = prog.replica()
        assert rep.layouts is prog.layouts and rep.loaded_bytes == 0
        assert not np.shares_memory(rep.buffers["r1"], prog.buffers["r1"])
        outs = []
        for p in (prog, rep):
            env = {**ex.module.constants, "x": X}
            for i in range(len(ex.module.steps)):
                if i in p.calls:
                    p.calls[i].run(env)
            outs.append(np.array(env["logits"]))
        np.testing.assert_array_equal(outs[0], outs[1])
        np.testing.assert_allclose(outs[0], run_ort(model, {"x": X})[0], rtol=1e-4,
                                   atol=1e-5 * np.abs(outs[0]).max())
    finally:
        ex.close()


def int8_chain(seed: int = 0) -> onnx.ModelProto:
    """A ResNet stem and block: conv-relu 3 -> 16 (padded) -> max pool 3x3/2 -> conv-relu
    16 -> 16 (padded) -> conv 16 -> 16 (padded) + Add(the pool's output) + ReLU ->
    global average pool -> flatten -> Gemm; input 1x3x12x12.  Quantized, the Add is the
    second conv's residual, behind a rescale of the pool's output."""
    rng = np.random.default_rng(seed)
    w = partial(he_weight, rng)
    b = partial(small_bias, rng)
    inits = [init("w1", w(16, 3, 3, 3)), init("b1", b(16)), init("w2", w(16, 16, 3, 3)),
             init("b2", b(16)), init("w3", w(16, 16, 3, 3)), init("b3", b(16)),
             init("fc_w", w(10, 16)), init("fc_b", b(10))]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p"], name="maxpool", kernel_shape=[3, 3],
                         strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["p", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Conv", ["r2", "w3", "b3"], ["c3"], name="conv3", pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c3", "p"], ["s"], name="add"),
        helper.make_node("Relu", ["s"], ["r3"], name="relu3"),
        helper.make_node("GlobalAveragePool", ["r3"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["logits"], name="fc", transB=1),
    ]
    return make_model(nodes, [tensor("x", [1, 3, 12, 12])], [tensor("logits", [1, 10])],
                      inits)


def _int8_run(monkeypatch=None, fill=None):
    if fill is not None:  # the mutant: halos filled with a wrong zero point
        import runtime.host_program as hp
        monkeypatch.setattr(hp, "halo_fill", lambda *_: fill)
    rng = np.random.default_rng(4)
    xs = [rng.standard_normal((1, 3, 12, 12)).astype(np.float32) for _ in range(3)]
    qg = run_quantization(import_onnx(int8_chain()), [{"x": x} for x in xs[:2]])
    m = lower(qg, CFG, targets=("cpu",)).module
    ex = Executor(m, open_device("sim", CFG), host=CpuDevice(threads=1))
    try:
        got = ex.run({"x": xs[2]}).outputs["logits"]
        return ex.host_program, got, evaluate_quantized(qg, {"x": xs[2]})["logits"]
    finally:
        ex.close()


@pytest.mark.skipif(has_vnni(), reason="int8 blocked layouts are the i16 pair kernel's")
def test_int8_block_keeps_i16_blocks_bit_exact():
    """An int8 stem and residual block on the CPU: every tensor from the first
    convolution to the global average pool is blocked i16 (the pool's output, its rescale
    and the residual included; halos: the next convolution's padding, holding the input
    zero point), only the first convolution packs, and the output is bit for bit the
    integer reference."""
    prog, got, want = _int8_run()
    by = {c.name: c for c in prog.calls.values()}
    kinds = {c.name: c.op_kind for c in prog.calls.values()}
    rescale = next(n for n, k in kinds.items() if k == "elementwise")
    blocked = {by[n].output for n in ("conv1", "maxpool", "conv2", "conv3", rescale)}
    assert set(prog.layouts) == blocked
    assert all(prog.buffers[t].dtype == np.int16 for t in blocked)
    halos = {n: prog.layouts[by[n].output].halo for n in ("conv1", "maxpool", "conv2")}
    assert halos == {"conv1": (0, 0), "maxpool": (1, 1), "conv2": (1, 1)}
    assert _packs(prog) == ["conv1"]
    np.testing.assert_array_equal(got, want)
    assert np.ptp(want) > 0


@pytest.mark.skipif(has_vnni(), reason="int8 blocked layouts are the i16 pair kernel's")
def test_a_wrong_halo_value_breaks_int8_outputs(monkeypatch):
    """Mutation check: the halo is the padding the next convolution reads, so filling it
    with anything but the zero point must change the outputs."""
    _, got, want = _int8_run(monkeypatch, fill=37)
    assert not np.array_equal(got, want)
