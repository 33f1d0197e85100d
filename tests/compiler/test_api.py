"""Public entry points: numpy in, accelerator result out; placement, linking and chaining."""

from __future__ import annotations

import numpy as np
import pytest

import vta.api as api
from compiler import (
    Conv2d,
    Epilogue,
    LayoutError,
    LayoutOptions,
    OpError,
    Pool2d,
    Requant,
    compile_op,
)
from compiler.api import chain, check_chainable
from opset import reference as ref
from vta.api import run_compiled
from vta_hw import isa
from vta_hw.bundle import BundleBuilder
from vta_hw.config import DEFAULT, TINY, WIDE
from vta_sim import simulate

RNG = np.random.default_rng(11)


def i8(*shape):
    return RNG.integers(-128, 128, shape, dtype=np.int8)


def test_conv2d_numpy_api():
    x, w = i8(1, 3, 16, 16), i8(8, 3, 3, 3)
    bias = RNG.integers(-1000, 1000, 8).astype(np.int32)
    r = api.conv2d(x, w, bias, stride=2, padding=1, shift=7, relu=True)
    op = r.compiled.op
    np.testing.assert_array_equal(r.output, ref.conv2d(x, w, op, bias=bias))
    assert r.cycles > 0 and r.stats.macs > 0 and r.output.shape == (1, 8, 8, 8)
    mult, sh = np.arange(1, 9, dtype=np.int32), np.full(8, 5, np.int32)
    r = api.conv2d(x, w, shift=sh, multiplier=mult, cfg=TINY)
    assert r.compiled.op.epilogue.per_channel
    np.testing.assert_array_equal(r.output, ref.conv2d(x, w, r.compiled.op, multiplier=mult,
                                                       shift=sh))


def test_other_numpy_entry_points():
    a, b = i8(2, 5, 3, 3), i8(2, 5, 3, 3)
    np.testing.assert_array_equal(api.add(a, b).output,
                                  np.clip(a.astype(int) + b, -128, 127))
    np.testing.assert_array_equal(api.maximum(a, b).output, np.maximum(a, b))
    np.testing.assert_array_equal(api.minimum(a, b).output, np.minimum(a, b))
    np.testing.assert_array_equal(api.relu(a).output, np.maximum(a, 0))
    np.testing.assert_array_equal(api.clip(a, -3, 9).output, np.clip(a, -3, 9))
    np.testing.assert_array_equal(api.mul(a, b).output,
                                  np.clip(a.astype(int) * b, -128, 127))
    np.testing.assert_array_equal(api.shift_right(a, 2).output,
                                  ref.rshr(a, 2).astype(np.int8))
    v = i8(7, 20)  # 2-D operands are viewed as (N, C, 1, 1)
    np.testing.assert_array_equal(api.relu(v).output, np.maximum(v, 0))
    x = i8(1, 16, 8, 8)
    r = api.max_pool2d(x, 2)
    np.testing.assert_array_equal(r.output, x.reshape(1, 16, 4, 2, 4, 2).max(axis=(3, 5)))
    r = api.avg_pool2d(x, 3, 1, 1, cfg=WIDE)
    np.testing.assert_array_equal(r.output, ref.pool2d(x, r.compiled.op))
    r = api.global_avg_pool2d(x)
    np.testing.assert_array_equal(r.output, ref.global_avg_pool(x, r.compiled.op))
    xd, wd = i8(5, 33), i8(9, 33)
    r = api.dense(xd, wd, shift=6)
    np.testing.assert_array_equal(r.output, ref.dense(xd, wd, r.compiled.op))
    xdw, wdw = i8(1, 20, 7, 7), i8(20, 1, 3, 3)
    r = api.depthwise_conv2d(xdw, wdw, padding=1, shift=5, relu=True)
    np.testing.assert_array_equal(r.output, ref.depthwise_conv2d(xdw, wdw, r.compiled.op))
    # asymmetric int8: the input zero point pads, the output zero point is the offset
    r = api.depthwise_conv2d(xdw, wdw, padding=1, shift=5, pad_value=-128, offset=-128)
    assert r.compiled.op.epilogue.offset == -128 and len(np.unique(r.output)) > 100
    np.testing.assert_array_equal(r.output, ref.depthwise_conv2d(xdw, wdw, r.compiled.op))


def test_errors_are_clear():
    with pytest.raises(OpError, match="x must be an int8 array"):
        api.conv2d(np.zeros((1, 3, 4, 4), np.float32), i8(4, 3, 3, 3))
    with pytest.raises(OpError, match="weights have 4 input channels, x has 3"):
        api.conv2d(i8(1, 3, 4, 4), i8(4, 4, 3, 3))
    with pytest.raises(OpError, match="larger than the padded input"):
        Conv2d(1, 3, 2, 2, 4, 5, 5)
    with pytest.raises(OpError, match="b was not given"):
        api.elementwise(i8(2, 2), [("add", None)])
    with pytest.raises(OpError, match="no broadcasting"):
        api.add(i8(2, 2), i8(2, 3))
    with pytest.raises(OpError, match="unknown ALU op 'div'"):
        api.elementwise(i8(2, 2), [("div", 3)])
    with pytest.raises(OpError, match="padding"):
        Pool2d(1, 4, 4, 4, "max", 2, 2, 1, 2)
    c = compile_op(Conv2d(1, 3, 4, 4, 4, 3, 3, epilogue=Epilogue(bias=True)), DEFAULT)
    with pytest.raises(LayoutError, match=r"missing input\(s\) \['bias'\]"):
        c.bundle({"x": i8(1, 3, 4, 4), "w": i8(4, 3, 3, 3)})


@pytest.mark.parametrize("call, message", [
    (lambda: api.dense(i8(4), i8(4, 4)), r"dense: x must have 2 dimensions \(N,I\), got "
                                              r"shape \(4,\)"),
    (lambda: api.dense(i8(1, 4), i8(4)), r"dense: w must have 2 dimensions \(O,I\)"),
    (lambda: api.conv2d(i8(3, 4, 4), i8(4, 3, 3, 3)), r"conv2d: x must have 4 dimensions"),
    (lambda: api.conv2d(i8(1, 3, 4, 4), i8(4, 3, 3)), r"conv2d: w must have 4 dim"),
    (lambda: api.depthwise_conv2d(i8(1, 3, 4, 4), i8(3, 3, 3)), r"depthwise_conv2d: w"),
    (lambda: api.max_pool2d(i8(4, 4), 2), r"max_pool2d: x must have 4 dimensions"),
    (lambda: api.global_avg_pool2d(i8(1, 4, 4)), r"global_avg_pool2d: x must have 4"),
])
def test_operand_ranks_are_checked(call, message):
    """A wrong-rank operand is an OpError naming the operand and layout, not an IndexError."""
    with pytest.raises(OpError, match=message):
        call()


def test_place_and_link_in_a_shared_image():
    """Two independent ops placed under prefixes in one builder, linked at their addresses."""
    op = Conv2d(1, 8, 6, 6, 8, 3, 3, 1, 1, Epilogue(requant=Requant(shift=8)))
    c = compile_op(op, TINY)
    x, w = i8(1, 8, 6, 6), i8(8, 8, 3, 3)
    bb = BundleBuilder(TINY)
    bb.alloc("padding_before", 1000)
    addrs = c.place(bb, c.pack({"x": x, "w": w}), prefix="L0.")
    insns = c.link(addrs)
    assert insns[0].dram_base == addrs["uops"] // 4
    bb.set_program(insns)
    b = bb.build()
    r = simulate(b)
    np.testing.assert_array_equal(c.unpack_output(r.read(b, "L0.y")), ref.conv2d(x, w, op))


def test_chain_runs_ops_in_one_stream():
    cfg = TINY
    op1 = Conv2d(1, 8, 9, 9, 12, 3, 3, 1, 1, Epilogue(requant=Requant(shift=9), relu=True))
    op2 = Conv2d(1, 12, 9, 9, 8, 3, 3, 2, 1, Epilogue(requant=Requant(shift=9)))
    op3 = Pool2d(1, 8, 5, 5, "max", 3, 3, 1, 1)
    c1 = compile_op(op1, cfg, options=LayoutOptions(output_halo=(1, 1)))
    c2 = compile_op(op2, cfg)
    c3 = compile_op(op3, cfg, options=LayoutOptions(input_halo=(0, 0)))
    ch = chain([c1, c2, c3], [{"y": "t1"}, {"x": "t1", "y": "t2"}, {"x": "t2"}])
    assert ch.inputs == ["0.x", "0.w", "0.uops", "1.w", "1.uops", "2.uops"]
    assert sum(isinstance(n.insn, isa.Finish) for n in ch.instrs) == 1
    assert any(isinstance(n.insn, isa.Nop) for n in ch.instrs)  # store -> load via compute
    x, w1, w2 = i8(1, 8, 9, 9), i8(12, 8, 3, 3), i8(8, 12, 3, 3)
    b = ch.bundle([{"x": x, "w": w1}, {"w": w2}, {}])
    r = simulate(b)
    y1 = ref.conv2d(x, w1, op1)
    y2 = ref.conv2d(y1, w2, op2)
    np.testing.assert_array_equal(ch.read(r, b, 2), ref.pool2d(y2, op3))


def test_chain_rejects_mismatched_layouts():
    op1 = Conv2d(1, 8, 6, 6, 16, 3, 3, 1, 1)
    c1 = compile_op(op1, WIDE)  # output blocked by block_out = 16
    c2 = compile_op(Conv2d(1, 16, 6, 6, 8, 3, 3, 1, 1), WIDE)  # input by block_in = 8
    with pytest.raises(LayoutError, match="a layout transform is needed"):
        chain([c1, c2], [{"y": "t"}, {"x": "t"}])
    with pytest.raises(LayoutError, match="a layout transform is needed"):
        check_chainable([c1, c2], [{"y": "t"}, {"x": "t"}])  # the same check, no stream
    check_chainable([c1, c1], [{"y": "a"}, {"y": "b"}])


def test_compile_results_are_kept_under_resolved_options():
    """Options that resolve alike (im2col None -> False for a 16-channel conv, input_halo
    None -> the op's padding) give the same program, described with the caller's options;
    options that differ give another one."""
    op = Conv2d(1, 16, 8, 8, 16, 3, 3, 1, 1, Epilogue(requant=Requant(shift=7)))
    a = compile_op(op, TINY, options=LayoutOptions())
    b = compile_op(op, TINY, options=LayoutOptions(im2col=False, input_halo=(1, 1)))
    assert b.program.nodes == a.program.nodes and b.schedule == a.schedule
    assert b.options == LayoutOptions(im2col=False, input_halo=(1, 1)) == b.program.options
    assert a.options == LayoutOptions()
    c = compile_op(op, TINY, options=LayoutOptions(input_halo=(0, 0)))
    assert c.program.tensor("x").layout != a.program.tensor("x").layout


def test_compiled_op_describes_itself():
    c = compile_op(Conv2d(1, 3, 32, 32, 16, 3, 3, 1, 1), DEFAULT)
    assert [t.name for t in c.tensors] == ["x", "w", "y", "uops"]
    assert c.output.role == "output" and c.uop_count > 0 and c.estimated_cycles > 0
    text = c.asm()
    assert text.startswith("# Conv2d(") and "\nFINISH" in text
    r = run_compiled(c, {"x": i8(1, 3, 32, 32), "w": i8(16, 3, 3, 3)})
    assert abs(r.cycles - c.estimated_cycles) < 200


def test_chain_keeps_latency_hiding():
    """One NOP syncs the producer's stores with the consumer's loads; the consumer's loads
    still run ahead of its compute, so chaining costs no more than running ops apart."""
    op1 = Conv2d(1, 32, 14, 14, 32, 3, 3, 1, 1, Epilogue(requant=Requant(shift=9), relu=True))
    op2 = Conv2d(1, 32, 14, 14, 32, 3, 3, 1, 1, Epilogue(requant=Requant(shift=9)))
    c1 = compile_op(op1, DEFAULT, options=LayoutOptions(output_halo=(1, 1)))
    c2 = compile_op(op2, DEFAULT)
    ch = chain([c1, c2], [{"y": "t"}, {"x": "t"}])
    assert sum(isinstance(n.insn, isa.Nop) for n in ch.instrs) == 1
    x, w1, w2 = i8(1, 32, 14, 14), i8(32, 32, 3, 3), i8(32, 32, 3, 3)
    b = ch.bundle([{"x": x, "w": w1}, {"w": w2}])
    r = simulate(b)
    y1 = ref.conv2d(x, w1, op1)
    np.testing.assert_array_equal(ch.read(r, b, 1), ref.conv2d(y1, w2, op2))
    apart = (run_compiled(c1, {"x": x, "w": w1}).cycles
             + run_compiled(c2, {"x": y1, "w": w2}).cycles)
    assert r.cycles <= 1.01 * apart


@pytest.mark.parametrize("consumer", ["max_pool", "conv_zero_point"])
def test_chain_fills_a_halo_the_consumer_pads_with_a_non_zero_value(consumer):
    """The producer's stores write only the interior of a tensor whose halo is in DRAM: the
    consumer reads the halo as its padding, so the chained image must hold the consumer's pad
    value there (-128 for max pooling, the zero point for a conv), not zeros.  Positive
    inputs and negative weights make every first-layer output negative, so a zero halo
    would be the maximum of every border window."""
    cfg = TINY
    x = RNG.integers(1, 128, (1, 4, 7, 7), dtype=np.int8)
    w = RNG.integers(-128, 0, (4, 4, 3, 3), dtype=np.int8)
    op1 = Conv2d(1, 4, 7, 7, 4, 3, 3, 1, 1, Epilogue(requant=Requant(shift=10)))
    if consumer == "max_pool":
        op2, w2 = Pool2d(1, 4, 7, 7, "max", 3, 3, 2, 1), None
    else:
        op2, w2 = Conv2d(1, 4, 7, 7, 4, 3, 3, 2, 1, Epilogue(requant=Requant(shift=10)),
                         pad_value=-77), i8(4, 4, 3, 3)
    c1 = compile_op(op1, cfg, options=LayoutOptions(output_halo=(1, 1)))
    c2 = compile_op(op2, cfg)  # input halo = its padding, read from DRAM
    ch = chain([c1, c2], [{"y": "t"}, {"x": "t"}])
    b = ch.bundle([{"x": x, "w": w}, {} if w2 is None else {"w": w2}])
    y1 = ref.conv2d(x, w, op1)
    want = ref.pool2d(y1, op2) if w2 is None else ref.conv2d(y1, w2, op2)
    np.testing.assert_array_equal(ch.read(simulate(b), b, 1), want)


def test_chain_rejects_consumers_that_pad_one_tensor_differently():
    op1 = Conv2d(1, 4, 7, 7, 4, 3, 3, 1, 1)
    c1 = compile_op(op1, TINY, options=LayoutOptions(output_halo=(1, 1)))
    c2 = compile_op(Pool2d(1, 4, 7, 7, "max", 3, 3, 1, 1), TINY)
    c3 = compile_op(Pool2d(1, 4, 7, 7, "avg", 3, 3, 1, 1), TINY)
    with pytest.raises(LayoutError, match="pads the halo of tensor 't' with"):
        chain([c1, c2, c3], [{"y": "t"}, {"x": "t"}, {"x": "t"}])


def test_chain_rejects_an_im2col_consumer_of_a_plain_activation():
    """A 1-channel 3x3 conv on a 16-wide block reads its input as im2col patches (9 channels
    per pixel, one block, ho x wo pixels): the same blocked geometry as the producer's plain
    1-channel output, but other bytes.  Chaining them silently computed garbage (95 of 99
    outputs wrong); it needs a layout transform."""
    c1 = compile_op(Conv2d(1, 5, 9, 11, 1, 3, 3, 1, 1), DEFAULT)
    c2 = compile_op(Conv2d(1, 1, 9, 11, 1, 3, 3, 1, 1), DEFAULT,
                    options=LayoutOptions(input_halo=(0, 0)))
    assert type(c2.program.tensor("x").layout).__name__ == "Im2colLayout"
    with pytest.raises(LayoutError, match=r"as ActLayout\(1, 1, 9, 11, 1, 16\) \(out\), "
                       r"operator 1 as Im2colLayout\(1, 1, 9, 11, 1, 16\) \(inp\); a layout "
                       "transform is needed"):
        chain([c1, c2], [{"y": "t"}, {"x": "t"}])
