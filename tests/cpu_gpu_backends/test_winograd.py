"""int8 3x3 stride-1 convolutions by Winograd F(2x2, 3x3) (blocked i16 in and out): bit for
bit opset.reference and the direct kernel, at the integer extremes too; which convolutions
take the form and which do not."""

from __future__ import annotations

import numpy as np
import pytest

from cpu_gpu_backends.ops import winograd as wino
from cpu_gpu_backends.ops.microkernel import default_tile, has_vnni
from cpu_gpu_backends.ops.quantized import op_plan
from opset import ActLayout, Conv2d, Epilogue, Requant, reference

from .test_blocked_layouts import pack_i16, unpack_i16

pytestmark = pytest.mark.skipif(has_vnni(), reason="int8 blocked layouts are the i16 pair "
                                "kernel's")
RNG = np.random.default_rng(11)


def _lay(c: int, h: int, halo: int) -> ActLayout:
    return ActLayout(1, c, h, h, 16, 1, (halo, halo))


def _inputs(op: Conv2d, extreme: bool = False) -> dict[str, np.ndarray]:
    c, oc, h = op.c, op.o, op.h
    if extreme:  # every product at its largest: 4 x the sum is within 3% of int32's range
        x = np.full((1, c, h, h), -128, np.int8)
        w = np.full((oc, c, 3, 3), -128, np.int8)
    else:
        x = RNG.integers(-128, 128, (1, c, h, h)).astype(np.int8)
        w = RNG.integers(-128, 128, (oc, c, 3, 3)).astype(np.int8)
    named = {"x": x, "w": w,
             "bias": RNG.integers(-5000, 5000, oc).astype(np.int32),
             "multiplier": RNG.integers(1, 1 << 12, oc).astype(np.int32),
             "shift": RNG.integers(15, 19, oc).astype(np.int32),
             "residual": RNG.integers(-128, 128, (1, oc, h, h)).astype(np.int8)}
    return {t.name: named[t.name] for t in op.inputs()}


def _run(cpu, plan, op: Conv2d, named: dict, il: ActLayout, ol: ActLayout,
         rl: ActLayout | None) -> np.ndarray:
    y = np.full(ol.shape, 77, np.int16)
    ins = {"x": pack_i16(named["x"], il, op.pad_value), "y": y}
    if rl is not None:
        ins["residual"] = pack_i16(named["residual"], rl, 5)
    consts = {k: v for k, v in named.items() if k not in ("x", "residual")}
    cpu.compile(plan).bind(**consts).prepare(**ins)(None)
    return unpack_i16(y, ol, 77)


@pytest.mark.parametrize("c,h,oc,hin,hout,per_channel,res", [
    (16, 6, 16, 1, 1, True, False),     # one channel block, 9 tiles: a full and a short group
    (32, 14, 48, 1, 1, True, True),     # 49 tiles, three channel tiles, residual
    (48, 8, 32, 2, 1, False, False),    # per-tensor requantization, a wider input halo
    (16, 4, 16, 1, 2, True, True),      # wider output (and residual) halo
    (32, 7, 32, 1, 1, True, True),      # odd size: the last tile row/column half stored
    (16, 5, 16, 2, 1, False, False),    # odd size, a wider input halo
])
def test_winograd_equals_the_reference_and_the_direct_kernel(cpu, c, h, oc, hin, hout,
                                                             per_channel, res):
    rq = Requant(per_channel=True, pre_shift=2) if per_channel else \
        Requant(multiplier=181, shift=17)
    ep = Epilogue(bias=True, requant=rq, relu=True, offset=-5, residual=res)
    op = Conv2d(1, c, h, h, oc, 3, 3, stride=(1, 1), pad=(1, 1), pad_value=-9, epilogue=ep)
    named = _inputs(op)
    want = reference.run(op, named)
    assert len(np.unique(want)) > 20
    il, ol = _lay(c, h, hin), _lay(oc, h, hout)
    rl = _lay(oc, h, hout) if res else None
    plan = wino.winograd_plan(op, il, ol, rl)
    assert plan.attrs.get("winograd")
    got = _run(cpu, plan, op, named, il, ol, rl)
    np.testing.assert_array_equal(got, want)
    direct = op_plan(op, in_layout=il, out_layout=ol, res_layout=rl, winograd=False)
    assert not direct.attrs.get("winograd")
    np.testing.assert_array_equal(_run(cpu, direct, op, named, il, ol, rl), got)
    # the halo is the padding: another input zero point changes the border pixels
    y = np.full(ol.shape, 77, np.int16)
    consts = {k: v for k, v in named.items() if k not in ("x", "residual")}
    ins = {"x": pack_i16(named["x"], il, 0), "y": y}
    if res:
        ins["residual"] = pack_i16(named["residual"], rl, 5)
    cpu.compile(plan).bind(**consts).prepare(**ins)(None)
    assert not np.array_equal(unpack_i16(y, ol, 77), want)


def test_winograd_is_exact_at_the_integer_extremes(cpu):
    """512 channels of -128 x -128 (ResNet-18's widest): the wrapping int32 transform sums
    come back to 4 x the convolution, which the shift divides exactly."""
    ep = Epilogue(bias=False, requant=Requant(multiplier=1, shift=20), relu=False)
    op = Conv2d(1, 512, 4, 4, 16, 3, 3, stride=(1, 1), pad=(1, 1), pad_value=-128,
                epilogue=ep)
    named = _inputs(op, extreme=True)
    want = reference.run(op, named)
    assert want.max() == 72  # 512 * 9 * 16384 >> 20: not saturated, so a wrong sum shows
    il, ol = _lay(512, 4, 1), _lay(16, 4, 1)
    plan = wino.winograd_plan(op, il, ol)
    np.testing.assert_array_equal(_run(cpu, plan, op, named, il, ol, None), want)


@pytest.mark.parametrize("change,why", [
    (dict(c=24), "channels not whole blocks"),
    (dict(h=1, w=1), "a 1x1 output"),
    (dict(stride=(2, 2)), "stride 2"),
    (dict(kh=1, kw=1, pad=(0, 0)), "1x1"),
    (dict(pad=(0, 0)), "no padding"),
])
def test_other_convolutions_stay_direct(change, why):
    base = dict(n=1, c=32, h=8, w=8, o=32, kh=3, kw=3, stride=(1, 1), pad=(1, 1),
                epilogue=Epilogue(bias=True, requant=Requant(multiplier=3, shift=9)))
    op = Conv2d(**{**base, **change})
    il = _lay(op.c, op.h, 1)
    ol = ActLayout(1, op.o, op.ho, op.wo, 16, 1, (1, 1))
    assert not wino.eligible(op, il, ol, default_tile(True)), why
    assert not op_plan(op, in_layout=il, out_layout=ol).attrs.get("winograd"), why
    with pytest.raises(ValueError, match="Winograd form needs"):
        wino.winograd_plan(op, il, ol)


def test_nchw_operands_stay_direct():
    """The form reads and writes blocked i16 only: an NCHW input or output is direct."""
    op = Conv2d(1, 32, 8, 8, 32, 3, 3, stride=(1, 1), pad=(1, 1),
                epilogue=Epilogue(bias=True, requant=Requant(multiplier=3, shift=9)))
    lay = _lay(32, 8, 1)
    for il, ol in ((None, lay), (lay, None), (None, None)):
        assert not wino.eligible(op, il, ol, default_tile(True))
        assert not op_plan(op, in_layout=il, out_layout=ol).attrs.get("winograd")


@pytest.mark.parametrize("c,h,oc,bias,act,res,hin", [
    (16, 6, 16, True, "relu", False, 1),     # 9 tiles: a full and a short group
    (32, 14, 48, True, None, True, 1),       # residual, no activation, three channel tiles
    (48, 8, 32, False, "relu6", True, 2),    # no bias, ReLU6, a wider input halo
    (32, 7, 16, True, "relu", True, 1),      # odd size (ResNet's last stage)
])
def test_f32_winograd_matches_the_direct_kernel(cpu, c, h, oc, bias, act, res, hin):
    """fp32 3x3 stride-1 blocked convolutions take the Winograd form; within the blocked
    forms' tolerance of the direct NCHW kernel; halo and padded channels untouched."""
    import cpu_gpu_backends as cg
    from cpu_gpu_backends.ops.conv2d import conv2d_plan

    from .test_blocked_layouts import pack, unpack_checked

    x = RNG.standard_normal((1, c, h, h)).astype(np.float32)
    w = RNG.standard_normal((oc, c, 3, 3)).astype(np.float32)
    b = RNG.standard_normal(oc).astype(np.float32)
    r = RNG.standard_normal((1, oc, h, h)).astype(np.float32)
    kw = dict(stride=1, padding=1, bias=bias, activation=act, residual=res, backend=cpu)
    ins_ref = (x, w, *([b] if bias else []), *([r] if res else []))
    want = cg.conv2d(x.shape, w.shape, **kw)(*ins_ref)
    # the error is the sum's: measured against the pre-activation scale (ReLU6 clips it)
    scale = np.abs(cg.conv2d(x.shape, w.shape, **{**kw, "activation": None})(*ins_ref)).max()
    il, ol = _lay(c, h, hin), _lay(oc, h, 1)
    rl = _lay(oc, h, 1) if res else None
    plan = wino.winograd_f32_plan(c, h, h, oc, bias, act, res, il, ol, rl)
    assert plan.attrs.get("winograd")
    direct = conv2d_plan(x.shape, w.shape, "f32", 1, 1, 1, bias, act, residual=res,
                         in_layout=il, out_layout=ol, res_layout=rl, winograd=False)
    assert not direct.attrs.get("winograd")
    consts = {"w": w, **({"bias": b} if bias else {})}
    for p in (plan, direct):
        y = np.zeros(ol.shape, np.float32)
        ins = {"x": pack(x, il), **({"residual": pack(r, rl)} if res else {})}
        cpu.compile(p).bind(**consts).prepare(**ins, y=y)(None)
        np.testing.assert_allclose(unpack_checked(y, ol), want, rtol=1e-5, atol=1e-6 * scale)


def test_f32_other_convolutions_stay_direct():
    from cpu_gpu_backends.ops.conv2d import conv2d_plan

    lay = _lay(32, 8, 1)
    for shape, kw in ((((1, 32, 8, 8), (32, 32, 3, 3)), dict(in_layout=None)),
                      (((1, 32, 8, 8), (32, 32, 3, 3)), dict(out_layout=None)),
                      (((1, 32, 8, 8), (32, 32, 1, 1)), dict(padding=0)),
                      (((1, 24, 8, 8), (32, 24, 3, 3)), dict(in_layout=_lay(24, 8, 1)))):
        args = {"in_layout": lay, "out_layout": lay, "padding": 1, **kw}
        plan = conv2d_plan(*shape, "f32", 1, bias=True, activation="relu", **args)
        assert not plan.attrs.get("winograd"), (shape, kw)
    with pytest.raises(ValueError, match="fp32 Winograd form needs"):
        wino.winograd_f32_plan(24, 8, 8, 32, True, None, False, _lay(24, 8, 1),
                               _lay(32, 8, 1), None)


@pytest.mark.parametrize("h,chosen", [(14, True), (11, True), (7, False), (8, False)])
def test_the_compilers_choose_it_from_min_tiles(h, chosen):
    """op_plan (int8) and conv2d_plan (fp32) take the form from MIN_TILES 2x2 output tiles
    up (ResNet-18's 14x14 layers: 49 tiles) and keep 7x7 (16 tiles, whose transformed
    weights measured slower from memory) direct."""
    from cpu_gpu_backends.ops.conv2d import conv2d_plan

    assert wino.worth_it(h, h) == chosen
    lay = _lay(32, h, 1)
    op = Conv2d(1, 32, h, h, 32, 3, 3, stride=(1, 1), pad=(1, 1),
                epilogue=Epilogue(bias=True, requant=Requant(multiplier=3, shift=9)))
    assert bool(op_plan(op, in_layout=lay, out_layout=lay).attrs.get("winograd")) == chosen
    plan = conv2d_plan((1, 32, h, h), (32, 32, 3, 3), "f32", 1, 1, 1, True, "relu",
                       in_layout=lay, out_layout=lay)
    assert bool(plan.attrs.get("winograd")) == chosen
