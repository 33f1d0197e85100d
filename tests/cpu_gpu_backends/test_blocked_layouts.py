"""The f32 kernels' blocked forms (what a host program keeps between ops) against the same
kernels on NCHW: conv2d (blocked input read in place, blocked output written from the
register tile, blocked residual), depthwise, max pool and global average pool.  Outputs
go into zeroed arrays, as the host program allocates them: the halo and the padded
channels must stay zero (the next reader's padding)."""

from __future__ import annotations

import numpy as np
import pytest

import cpu_gpu_backends as cg
from cpu_gpu_backends.ops.microkernel import has_vnni
from opset import ActLayout

RNG = np.random.default_rng(7)


def pack(x: np.ndarray, lay: ActLayout) -> np.ndarray:
    """NCHW f32 -> ``lay`` (zero halo, zero padded channels)."""
    n, c, h, w = x.shape
    full = np.zeros((n, lay.c_blocks * lay.block, lay.hp, lay.wp), np.float32)
    full[:, :c, lay.halo[0]:lay.halo[0] + h, lay.halo[1]:lay.halo[1] + w] = x
    out = full.reshape(n, lay.c_blocks, lay.block, lay.hp, lay.wp).transpose(0, 1, 3, 4, 2)
    return np.ascontiguousarray(out).reshape(lay.shape)


def unpack_checked(y: np.ndarray, lay: ActLayout) -> np.ndarray:
    """``lay`` -> NCHW, asserting that the halo and padded channels are still zero."""
    a = y.reshape(lay.n, lay.c_blocks, lay.hp, lay.wp, lay.block).transpose(0, 1, 4, 2, 3)
    a = a.reshape(lay.n, -1, lay.hp, lay.wp)
    hh, hw = lay.halo
    inner = np.zeros(a.shape, bool)
    inner[:, :lay.c, hh:hh + lay.h, hw:hw + lay.w] = True
    assert not a[~inner].any(), "a kernel wrote the halo or a padded channel"
    return a[:, :lay.c, hh:hh + lay.h, hw:hw + lay.w]


def _lay(shape, halo):
    n, c, h, w = shape
    return None if halo is None else ActLayout(n, c, h, w, 16, 1, (halo, halo))


@pytest.mark.parametrize("c,h,oc,k,s,p,act,res,hin,hout", [
    (16, 14, 32, 3, 1, 1, "relu", False, 1, 1),   # blocked to blocked
    (32, 14, 24, 1, 2, 0, None, False, 1, 2),     # 1x1 stride 2, wider halo; 24 channels
    (16, 7, 64, 3, 1, 1, "relu", True, 2, 0),     # residual, 7-wide rows (4x3 tile)
    (3, 20, 40, 3, 2, 1, "relu6", False, None, 1),  # NCHW model input -> blocked
    (48, 9, 16, 3, 2, 1, None, True, 1, 1),       # residual without activation
    (32, 10, 16, 3, 1, 1, "relu", False, 1, None),  # blocked -> NCHW
])
def test_conv2d_blocked_forms_match_nchw(cpu, c, h, oc, k, s, p, act, res, hin, hout):
    x = RNG.standard_normal((1, c, h, h)).astype(np.float32)
    w = RNG.standard_normal((oc, c, k, k)).astype(np.float32)
    b = RNG.standard_normal(oc).astype(np.float32)
    oh = (h + 2 * p - k) // s + 1
    r = RNG.standard_normal((1, oc, oh, oh)).astype(np.float32)
    kw = dict(stride=s, padding=p, bias=True, activation=act, residual=res, backend=cpu)
    want = cg.conv2d(x.shape, w.shape, **kw)(x, w, b, *([r] if res else []))
    il, ol = _lay(x.shape, hin), _lay(want.shape, hout)
    rl = _lay(want.shape, 1) if res and ol else None
    op = cg.conv2d(x.shape, w.shape, in_layout=il, out_layout=ol, res_layout=rl, **kw)
    steps = [st.kernel for st in op.plan.steps]
    assert any(k.endswith("_pack_x") for k in steps) == (il is None)
    y = np.zeros(ol.shape if ol else want.shape, np.float32)
    ins = {"x": pack(x, il) if il else x, **({"residual": pack(r, rl) if rl else r}
                                             if res else {})}
    op.bind(w=w, bias=b).prepare(**ins, y=y)(None)
    got = unpack_checked(y, ol) if ol else y
    # the same products summed in the same order; the bias is added last when blocked
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * np.abs(want).max())


@pytest.mark.parametrize("c,h,s,hin,hout", [
    (32, 14, 1, 1, 1), (32, 15, 2, 2, 0), (48, 7, 1, None, 1), (32, 7, 1, 1, None)])
def test_depthwise_blocked_forms_match_nchw(cpu, c, h, s, hin, hout):
    x = RNG.standard_normal((1, c, h, h)).astype(np.float32)
    w = RNG.standard_normal((c, 1, 3, 3)).astype(np.float32)
    b = RNG.standard_normal(c).astype(np.float32)
    kw = dict(stride=s, padding=1, bias=True, activation="relu6", backend=cpu)
    want = cg.depthwise_conv2d(x.shape, w.shape, **kw)(x, w, b)
    il, ol = _lay(x.shape, hin), _lay(want.shape, hout)
    op = cg.depthwise_conv2d(x.shape, w.shape, in_layout=il, out_layout=ol, **kw)
    y = np.zeros(ol.shape if ol else want.shape, np.float32)
    op.bind(w=w, bias=b).prepare(x=pack(x, il) if il else x, y=y)(None)
    np.testing.assert_allclose(unpack_checked(y, ol) if ol else y, want, rtol=1e-6,
                               atol=1e-6)


def test_max_and_global_average_pool_blocked(cpu):
    x = RNG.standard_normal((1, 40, 15, 15)).astype(np.float32)  # 40: a padded block
    il, ol = _lay(x.shape, 1), ActLayout(1, 40, 8, 8, 16, 1, (2, 2))
    y = np.zeros(ol.shape, np.float32)
    cg.blocked_max_pool2d(il, 3, 2, 1, ol, backend=cpu).prepare(x=pack(x, il), y=y)(None)
    want = cg.max_pool2d(x.shape, 3, 2, 1, backend=cpu)(x)
    np.testing.assert_array_equal(unpack_checked(y, ol), want)
    x = x[:, :32]
    il = _lay(x.shape, 1)
    got = cg.blocked_global_avg_pool2d(il, backend=cpu)(pack(x, il))
    np.testing.assert_allclose(got, x.mean(axis=(2, 3), keepdims=True), rtol=1e-5,
                               atol=1e-6)


def pack_i16(x: np.ndarray, lay: ActLayout, fill: int) -> np.ndarray:
    """NCHW int8 -> ``lay`` as i16 (what the int8 pair kernel reads): halo ``fill``."""
    n, c, h, w = x.shape
    full = np.full((n, lay.c_blocks * lay.block, lay.hp, lay.wp), fill, np.int16)
    full[:, :c, lay.halo[0]:lay.halo[0] + h, lay.halo[1]:lay.halo[1] + w] = x
    out = full.reshape(n, lay.c_blocks, lay.block, lay.hp, lay.wp).transpose(0, 1, 3, 4, 2)
    return np.ascontiguousarray(out).reshape(lay.shape)


def unpack_i16(y: np.ndarray, lay: ActLayout, fill: int) -> np.ndarray:
    """``lay`` (i16) -> NCHW int8, asserting the halo still holds ``fill`` and every value
    is an int8."""
    a = y.reshape(lay.n, lay.c_blocks, lay.hp, lay.wp, lay.block).transpose(0, 1, 4, 2, 3)
    a = a.reshape(lay.n, -1, lay.hp, lay.wp)
    hh, hw = lay.halo
    inner = np.zeros(a.shape, bool)
    inner[:, :lay.c, hh:hh + lay.h, hw:hw + lay.w] = True
    assert (a[~inner] == fill).all(), "a kernel wrote the halo or a padded channel"
    got = a[:, :lay.c, hh:hh + lay.h, hw:hw + lay.w]
    assert got.min() >= -128 and got.max() <= 127
    return got.astype(np.int8)


@pytest.mark.skipif(has_vnni(), reason="int8 blocked layouts are the i16 pair kernel's")
@pytest.mark.parametrize("c,h,oc,k,s,p,hin,hout,per_channel,res", [
    (16, 14, 32, 3, 1, 1, 1, 1, True, False),    # blocked to blocked, 14 wide
    (32, 9, 16, 3, 2, 1, 2, 1, False, False),    # stride 2, wider halo than the padding
    (64, 7, 64, 3, 1, 1, 1, None, True, False),  # blocked in, NCHW out (raw + epilogue)
    (16, 20, 48, 1, 2, 0, 0, 1, True, False),    # 1x1 stride 2 read in place
    (3, 18, 16, 3, 1, 1, None, 1, True, False),  # NCHW in (packed), blocked out
    (32, 7, 32, 3, 1, 1, 1, 1, True, True),      # blocked residual, 7 wide (flat tiles)
    (16, 16, 16, 3, 1, 1, 1, 2, False, True),    # blocked residual, wider output halo
    (16, 12, 32, 3, 1, 1, 1, None, True, True),  # NCHW int8 residual and output
])
def test_int8_conv_blocked_forms_equal_the_reference(cpu, c, h, oc, k, s, p, hin, hout,
                                                     per_channel, res):
    """int8 Conv2d with blocked i16 input (halo = the input zero point), output and
    residual equals opset.reference bit for bit; the output halo keeps the value it was
    allocated with."""
    from cpu_gpu_backends.ops.quantized import op_plan
    from opset import Conv2d, Epilogue, Requant, reference

    rq = Requant(per_channel=True, pre_shift=2) if per_channel else \
        Requant(multiplier=181, shift=17)
    ep = Epilogue(bias=True, requant=rq, relu=True, offset=-5, residual=res)
    op = Conv2d(1, c, h, h, oc, k, k, stride=(s, s), pad=(p, p), pad_value=-9, epilogue=ep)
    named = {"x": RNG.integers(-128, 128, (1, c, h, h)).astype(np.int8),
             "w": RNG.integers(-128, 128, (oc, c, k, k)).astype(np.int8),
             "bias": RNG.integers(-5000, 5000, oc).astype(np.int32),
             "multiplier": RNG.integers(1, 1 << 12, oc).astype(np.int32),
             "shift": RNG.integers(15, 19, oc).astype(np.int32),
             "residual": RNG.integers(-128, 128, (1, oc, (h + 2 * p - k) // s + 1,
                                                 (h + 2 * p - k) // s + 1)).astype(np.int8)}
    named = {t.name: named[t.name] for t in op.inputs()}
    want = reference.run(op, named)
    assert len(np.unique(want)) > 20
    il, ol = _lay(named["x"].shape, hin), _lay(want.shape, hout)
    rl = _lay(want.shape, hout - 1) if res and ol else None
    plan = op_plan(op, in_layout=il, out_layout=ol, res_layout=rl)
    assert any(st.kernel.endswith("_pack_x") for st in plan.steps) == (il is None)
    y = np.full(ol.shape, 77, np.int16) if ol else np.zeros(want.shape, np.int8)
    x = pack_i16(named["x"], il, op.pad_value) if il else named["x"]
    consts = {k: v for k, v in named.items() if k not in ("x", "residual")}
    if res:
        consts["residual"] = pack_i16(named["residual"], rl, 5) if rl else named["residual"]
    cpu.compile(plan).bind(**consts).prepare(x=x, y=y)(None)
    np.testing.assert_array_equal(unpack_i16(y, ol, 77) if ol else y, want)
    if il is not None and p:  # the halo is the padding: another fill value changes it
        cpu.compile(plan).bind(**consts).prepare(x=pack_i16(named["x"], il, 0), y=y)(None)
        assert not np.array_equal(unpack_i16(y, ol, 77) if ol else y, want)


@pytest.mark.skipif(has_vnni(), reason="int8 blocked layouts are the i16 pair kernel's")
def test_int8_rescale_and_max_pool_blocked_equal_the_reference(cpu):
    """The int8 steps between a ResNet's convolutions on blocked i16 operands: an
    Elementwise (a residual rescale, and a two-input add), a 3x3 stride-2 max pool and the
    global average pool (NCHW out), halos of different widths, bit for bit
    opset.reference; halos left untouched and never read."""
    from opset import AluStep, Elementwise, GlobalAvgPool, Pool2d, reference

    x = RNG.integers(-128, 128, (1, 32, 9, 9)).astype(np.int8)
    b = RNG.integers(-128, 128, (1, 32, 9, 9)).astype(np.int8)
    rescale = Elementwise((1, 32, 9, 9), (AluStep("mul", 181), AluStep("rshr", 7),
                                          AluStep("add", -3)), name="rescale")
    add = Elementwise((1, 32, 9, 9), (AluStep("add"), AluStep("max", 0)), name="add")
    for op, ins in ((rescale, {"a": x}), (add, {"a": x, "b": b})):
        want = reference.run(op, ins)
        assert len(np.unique(want)) > 20
        lays = [_lay(x.shape, h) for h in (1, 0)[:len(ins)]]
        ol = _lay(x.shape, 2)
        y = np.full(ol.shape, 9, np.int16)
        k = cg.blocked_quantized_elementwise(op, lays, ol, backend=cpu)
        k.prepare(**{n: pack_i16(v, lay, -1) for (n, v), lay in zip(ins.items(), lays,
                                                                     strict=True)},
                  y=y)(None)
        np.testing.assert_array_equal(unpack_i16(y, ol, 9), want)
    gap = GlobalAvgPool(1, 32, 9, 9, name="gap")
    il = _lay(x.shape, 1)
    got = cg.blocked_quantized_global_avg_pool(gap, il, backend=cpu)(pack_i16(x, il, 50))
    np.testing.assert_array_equal(got, reference.run(gap, {"x": x}))
    pool = Pool2d(1, 32, 9, 9, "max", 3, 3, (2, 2), (1, 1), name="pool")
    want = reference.run(pool, {"x": x})
    il, ol = _lay(x.shape, 1), _lay(want.shape, 1)
    y = np.full(ol.shape, 4, np.int16)
    cg.blocked_max_pool2d(il, 3, 2, 1, ol, dtype="i16", backend=cpu).prepare(
        x=pack_i16(x, il, 127), y=y)(None)  # a halo larger than any pixel: never read
    np.testing.assert_array_equal(unpack_i16(y, ol, 4), want)


def test_blocked_layouts_are_checked(cpu):
    x, w = (1, 16, 8, 8), (16, 16, 3, 3)
    with pytest.raises(ValueError, match="halo"):
        cg.conv2d(x, w, padding=1, in_layout=ActLayout(1, 16, 8, 8, 16, 1), backend=cpu)
    with pytest.raises(ValueError, match="out_layout"):
        cg.conv2d(x, w, padding=1, out_layout=ActLayout(1, 16, 7, 7, 16, 1), backend=cpu)
    with pytest.raises(ValueError, match="residual"):
        cg.conv2d(x, w, padding=1, residual=True, out_layout=ActLayout(1, 16, 8, 8, 16, 1),
                  backend=cpu)
    from cpu_gpu_backends.ops.quantized import op_plan
    from opset import Conv2d, Epilogue
    if not has_vnni():  # 24 output channels: a 16-wide tile would read past the rows
        op24 = Conv2d(1, 16, 8, 8, 24, 3, 3, pad=(1, 1), epilogue=Epilogue(bias=True))
        with pytest.raises(ValueError, match="multiple of the register tile"):
            op_plan(op24, out_layout=ActLayout(1, 24, 8, 8, 16, 1, (1, 1)))
    with pytest.raises(ValueError, match="f32, or int8 with an epilogue"):
        cg.conv2d(x, w, dtype="i8", padding=1, out_layout=ActLayout(1, 16, 8, 8, 16, 1),
                  backend=cpu)
