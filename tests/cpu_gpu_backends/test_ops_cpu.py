"""Every CPU operator against its numpy reference over random shapes (hypothesis).

Floats: ``assert_allclose``; integers: exact.  Shapes include odd sizes, strides, paddings,
dilations and remainders of every register tile.  Each example JIT-compiles shape-specialised
kernels, so example counts are modest (the IR-hash cache makes repeats free).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import cpu_gpu_backends as cg
from cpu_gpu_backends import jit_cpu
from cpu_gpu_backends.kernel_ir import print_kernel
from cpu_gpu_backends.ops import conv2d as conv_ops
from cpu_gpu_backends.ops import depthwise as dw_ops
from cpu_gpu_backends.ops import elementwise as ew_ops
from cpu_gpu_backends.ops import gemm as gemm_ops
from cpu_gpu_backends.ops import layout as layout_ops
from cpu_gpu_backends.ops import pooling as pool_ops
from cpu_gpu_backends.ops import quantize as q_ops
from cpu_gpu_backends.ops import quantized as quantized_ops
from cpu_gpu_backends.ops import softmax as softmax_ops
from cpu_gpu_backends.ops.microkernel import TileShape
from opset import ActLayout, Epilogue, Requant
from opset import reference as ref


def ref_dense(a, b, bias=None, transpose_b=False, activation=None):
    """The raw dense kernel: ``act(a @ b + bias)``, int8 accumulating exactly to int32."""
    return ref.linear(ref.dense_acc(a, b.T if transpose_b else b), bias, activation)


def ref_conv2d(x, w, bias=None, stride=(1, 1), padding=0, dilation=(1, 1), groups=1,
               activation=None):
    """The raw conv2d kernel: ``act(conv2d(x, w) + bias)`` (zero padding)."""
    return ref.linear(ref.conv2d_acc(x, w, stride, padding, 0, dilation, groups), bias,
                      activation)

FEW = settings(max_examples=15, deadline=None, derandomize=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def rand(rng, shape, dtype):
    if dtype in ("i8", np.int8):
        return rng.integers(-128, 128, shape, dtype=np.int8)
    if dtype in ("i32", np.int32):
        return rng.integers(-(1 << 20), 1 << 20, shape, dtype=np.int32)
    return rng.standard_normal(shape, dtype=np.float32)


def check(out, expect, dtype):
    if dtype == "i8" or np.asarray(out).dtype.kind == "i":
        np.testing.assert_array_equal(out, expect)
    else:
        np.testing.assert_allclose(out, expect, rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------- dense
@FEW
@given(m=st.integers(1, 40), k=st.integers(1, 70), n=st.integers(1, 70),
       dtype=st.sampled_from(["f32", "i8"]), bias=st.booleans(), tb=st.booleans(),
       act=st.sampled_from([None, "relu"]), seed=st.integers(0, 99))
def test_dense(cpu, m, k, n, dtype, bias, tb, act, seed):
    rng = np.random.default_rng(seed)
    a = rand(rng, (m, k), dtype)
    b = rand(rng, (n, k) if tb else (k, n), dtype)
    args = [a, b]
    bv = None
    if bias:
        bv = rand(rng, (n,), "i32" if dtype == "i8" else "f32")
        args.append(bv)
    op = cpu.compile(gemm_ops.dense_plan(m, k, n, dtype, bias, tb, act))
    check(op(*args), ref_dense(a, b, bv, tb, act), dtype)


def test_dense_large_both_threads_and_bind(cpu):
    rng = np.random.default_rng(1)
    a, b = rand(rng, (67, 300), "f32"), rand(rng, (300, 129), "f32")
    op = cpu.compile(gemm_ops.dense_plan(67, 300, 129))
    for threads in (1, 2):
        check(op(a, b, threads=threads), ref_dense(a, b), "f32")
    bound = op.bind(b=b)
    assert bound.input_names == ("a",)
    check(bound(a), ref_dense(a, b), "f32")


def test_matmul_int8_extremes_exact():
    a = np.full((5, 257), -128, np.int8)
    b = np.full((257, 33), -128, np.int8)
    out = cg.matmul(a.shape, b.shape, dtype="i8")(a, b)
    np.testing.assert_array_equal(out, ref_dense(a, b))


@pytest.mark.parametrize("quads", [False, True])
def test_int8_pair_and_quad_kernels(cpu, quads):
    """Both int8 micro-kernels, whichever the host picks by default: i16 pairs (vpmaddwd)
    and u8 quads with the +128 correction (vpdpbusd with VNNI, plain IR without)."""
    vl = jit_cpu.host_info().f32_lanes
    rng = np.random.default_rng(7)
    for m, k, n in ((13, 1, 5), (30, 67, 41), (12, 8, 32), (17, 40, 33)):
        tile = TileShape(6, 2, vl, True, quads)
        a, b, bv = rand(rng, (m, k), "i8"), rand(rng, (k, n), "i8"), rand(rng, (n,), "i32")
        for bias in (None, bv):
            op = cpu.compile(gemm_ops.dense_plan(m, k, n, "i8", bias is not None, tile=tile))
            check(op(a, b, *([] if bias is None else [bias])), ref_dense(a, b, bias), "i8")
    for (n, c, h, w, oc, k, s, p) in ((1, 3, 11, 9, 20, 3, 2, 1), (2, 21, 6, 7, 37, 1, 2, 0),
                                      (1, 16, 5, 5, 16, 3, 1, 2), (1, 32, 3, 37, 20, 1, 2, 0)):
        tile = TileShape(5, 2 if oc > vl else 1, vl, True, quads)
        x, wt = rand(rng, (n, c, h, w), "i8"), rand(rng, (oc, c, k, k), "i8")
        bv = rand(rng, (oc,), "i32")
        for bias in (None, bv):
            op = cpu.compile(conv_ops.conv2d_plan(x.shape, wt.shape, "i8", s, p, 1,
                                                  bias is not None, "relu", tile))
            expect = ref_conv2d(x, wt, bias, (s, s), p, (1, 1), activation="relu")
            args = [x, wt] + ([] if bias is None else [bias])
            check(op(*args), expect, "i8")
            check(op.bind(w=wt, **({} if bias is None else {"bias": bias}))(x), expect, "i8")


@pytest.mark.parametrize("dtype", ["f32", "i8"])
def test_avx2_shaped_tiles_without_vnni(cpu, dtype):
    """The generic path an AVX2 host takes (8-lane vectors, i16 pairs, 6 x 16 tiles), forced
    on any host: strided packing, 8 x 8 register transposes, straight NCHW stores and
    the GEMM's one-tile blocks stay exact."""
    rng = np.random.default_rng(11)
    int8 = dtype == "i8"
    for (n, c, h, w, oc, k, s, p) in ((1, 32, 5, 37, 16, 1, 2, 0), (2, 16, 6, 21, 32, 3, 1, 1),
                                      (1, 3, 11, 15, 20, 3, 2, 1)):
        tile = TileShape(6, 2 if oc > 8 else 1, 8, int8, False)
        x, wt = rand(rng, (n, c, h, w), dtype), rand(rng, (oc, c, k, k), dtype)
        op = cpu.compile(conv_ops.conv2d_plan(x.shape, wt.shape, dtype, s, p, 1, False,
                                              "relu", tile))
        check(op(x, wt), ref_conv2d(x, wt, None, (s, s), p, (1, 1), activation="relu"), dtype)
    a, b = rand(rng, (23, 45), dtype), rand(rng, (45, 19), dtype)
    op = cpu.compile(gemm_ops.dense_plan(23, 45, 19, dtype, tile=TileShape(6, 2, 8, int8)))
    check(op(a, b), ref_dense(a, b, None), dtype)


def test_repeated_calls_convert_pointers_once_but_return_fresh_outputs(cpu):
    """A bound op converts its weight/scratch pointers once; each call still reads its own
    inputs and returns a new output (or fills ``out=``), never the previous call's."""
    rng = np.random.default_rng(3)
    b = rand(rng, (40, 24), "i8")
    op = cpu.compile(gemm_ops.dense_plan(9, 40, 24, "i8")).bind(b=b)
    a1, a2 = rand(rng, (9, 40), "i8"), rand(rng, (9, 40), "i8")
    y1, y2 = op(a1), op(a2)
    assert y1 is not y2
    check(y1, ref_dense(a1, b, None), "i8")
    check(y2, ref_dense(a2, b, None), "i8")
    out = np.zeros((9, 24), np.int32)
    assert op(a1, out=out) is out
    check(out, ref_dense(a1, b, None), "i8")


# ----------------------------------------------------------------------------- conv2d
conv_case = st.fixed_dictionaries({
    "n": st.integers(1, 2), "c": st.integers(1, 20), "oc": st.integers(1, 40),
    "h": st.integers(1, 12), "w": st.integers(1, 17), "kh": st.integers(1, 4),
    "kw": st.integers(1, 4), "sh": st.integers(1, 3), "sw": st.integers(1, 3),
    "dh": st.integers(1, 2), "dw": st.integers(1, 2),
    "pad": st.tuples(*[st.integers(0, 2)] * 4),
})


def _fits(p):
    return (p["h"] + p["pad"][0] + p["pad"][2] >= p["dh"] * (p["kh"] - 1) + 1
            and p["w"] + p["pad"][1] + p["pad"][3] >= p["dw"] * (p["kw"] - 1) + 1)


@FEW
@given(p=conv_case.filter(_fits), dtype=st.sampled_from(["f32", "i8"]), bias=st.booleans(),
       act=st.sampled_from([None, "relu"]), seed=st.integers(0, 99))
def test_conv2d(cpu, p, dtype, bias, act, seed):
    rng = np.random.default_rng(seed)
    x = rand(rng, (p["n"], p["c"], p["h"], p["w"]), dtype)
    w = rand(rng, (p["oc"], p["c"], p["kh"], p["kw"]), dtype)
    bv = rand(rng, (p["oc"],), "i32" if dtype == "i8" else "f32") if bias else None
    stride, dil = (p["sh"], p["sw"]), (p["dh"], p["dw"])
    op = cpu.compile(conv_ops.conv2d_plan(x.shape, w.shape, dtype, stride, p["pad"], dil, bias,
                                          act))
    args = [x, w] + ([bv] if bias else [])
    check(op(*args), ref_conv2d(x, w, bv, stride, p["pad"], dil, activation=act), dtype)


@pytest.mark.parametrize("dtype", ["f32", "i8"])
@pytest.mark.parametrize("shape", [
    (1, 3, 30, 30, 64, 7, 2, 3),     # ResNet stem (7x7/2), odd channel count
    (1, 64, 14, 14, 64, 3, 1, 1),    # full 14-pixel rows + bias-free
    (1, 32, 7, 7, 128, 3, 1, 1),     # 7-wide rows with four output vectors
    (1, 48, 9, 9, 96, 1, 2, 0),      # 1x1 stride 2 (only sampled pixels are packed)
    (2, 5, 9, 8, 20, 1, 3, 1),       # 1x1 stride 3 with padding
    (1, 32, 5, 37, 40, 3, 1, 1),     # input packed 16 pixels x 16 channels at a time + rest
    (1, 32, 6, 37, 40, 1, 2, 1),     # 1x1/2 padded: a 16-pixel strided block, then 2 pixels
    (1, 16, 3, 70, 16, 1, 2, 0),     # two 16-pixel strided (shuffle-gathered) blocks + 3
    (1, 16, 3, 34, 16, 1, 2, 0),     # one strided block + a single (scalar) pixel
    (1, 16, 2, 40, 32, 1, 3, 0),     # stride 3: gathered from a 46-pixel span
    (1, 16, 4, 40, 32, 3, 2, 1),     # 3x3/2: whole padded rows packed, 2 blocks + 10
    (2, 7, 5, 19, 32, 3, 1, 1),      # batch 2, whole channel tiles: stored straight to NCHW
    (1, 16, 3, 36, 16, 1, 2, 0),     # a 2-pixel strided tail: two 2-lane loads, one shuffle
    (1, 16, 2, 18, 16, 1, 1, 0),     # a 2-pixel tail of a stride-1 row
])
def test_conv2d_resnet_like(cpu, shape, dtype):
    n, c, h, w, oc, k, s, p = shape
    rng = np.random.default_rng(0)
    x = rand(rng, (n, c, h, w), dtype)
    wt = rand(rng, (oc, c, k, k), dtype)
    bv = rand(rng, (oc,), "i32" if dtype == "i8" else "f32")
    op = cpu.compile(conv_ops.conv2d_plan(x.shape, wt.shape, dtype, s, p, 1, True, "relu"))
    expect = ref_conv2d(x, wt, bv, (s, s), p, (1, 1), activation="relu")
    check(op(x, wt, bv), expect, dtype)
    check(op.bind(w=wt, bias=bv)(x), expect, dtype)


@pytest.mark.parametrize("c,h,oc,budget,blocked,res", [
    (48, 7, 32, 0, False, False),      # 3 chunks of one block; whole channel tiles: direct
    (48, 5, 24, 0, False, True),       # 24 channels: through the row buffer; residual
    (48, 7, 32, 30000, True, True),    # 2 + 1 blocks (a short last chunk), blocked in/out
])
def test_conv2d_flat_reduction_chunks_equal_one_chunk(cpu, monkeypatch, c, h, oc, budget,
                                                      blocked, res):
    """A flat fp32 convolution whose reduction runs in chunks of input channel blocks
    (partial sums kept between chunks) gives the same bits as one chunk, in each output
    form, and matches the reference."""
    rng = np.random.default_rng(5)
    x, wt = rand(rng, (1, c, h, h), "f32"), rand(rng, (oc, c, 3, 3), "f32")
    bv, r = rand(rng, (oc,), "f32"), rand(rng, (1, oc, h, h), "f32")
    lay = (lambda ch: ActLayout(1, ch, h, h, 16, 1, (1, 1))) if blocked else (lambda ch: None)
    kw = dict(in_layout=lay(c), out_layout=lay(oc), res_layout=lay(oc) if res else None)

    def run(chunked: bool) -> np.ndarray:
        if budget:
            monkeypatch.setattr(conv_ops, "REDUCTION_CHUNK_BYTES", budget)
        if not chunked:
            monkeypatch.setattr(conv_ops, "reduction_chunk", lambda *a: 0)
        plan = conv_ops.conv2d_plan(x.shape, wt.shape, "f32", 1, 1, 1, True, "relu",
                                    residual=res, **kw)
        monkeypatch.undo()
        main = next(k for k in plan.kernels if k.name.endswith("_main"))
        assert ("part = alloc" in print_kernel(main)) == chunked
        y = np.zeros(plan.buffer("y").shape, np.float32)
        ins = {"x": blk(x) if blocked else x}
        if res:
            ins["residual"] = blk(r) if blocked else r
        cpu.compile(plan).bind(w=wt, bias=bv).prepare(**ins, y=y)(None)
        return unblk(y) if blocked else y

    def blk(a: np.ndarray) -> np.ndarray:
        n, ch = a.shape[:2]
        full = np.zeros((n, -(-ch // 16) * 16, h + 2, h + 2), np.float32)
        full[:, :ch, 1:-1, 1:-1] = a
        return np.ascontiguousarray(full.reshape(n, -1, 16, h + 2, h + 2)
                                    .transpose(0, 1, 3, 4, 2)).reshape(lay(ch).shape)

    def unblk(y: np.ndarray) -> np.ndarray:
        a = y.reshape(1, -1, h + 2, h + 2, 16).transpose(0, 1, 4, 2, 3).reshape(
            1, -1, h + 2, h + 2)
        return a[:, :oc, 1:-1, 1:-1]

    got = run(True)
    np.testing.assert_array_equal(got, run(False))
    want = ref_conv2d(x, wt, bv, (1, 1), 1, (1, 1))
    want = np.maximum(want + r, 0) if res else np.maximum(want, 0)
    check(got, want, "f32")


def test_int8_stem_packs_kx_unfolded_into_channels(cpu):
    """3 int8 channels fill int8 pairs badly: the 7x7 stem packs (kx, channel) as 21
    channels in one block of 11 pairs (a 7x1 convolution over them), bit-exact."""
    rng = np.random.default_rng(4)
    x, wt = rand(rng, (1, 3, 23, 23), "i8"), rand(rng, (16, 3, 7, 7), "i8")
    bv = rand(rng, (16,), "i32")
    plan = conv_ops.conv2d_plan(x.shape, wt.shape, "i8", 2, 3, 1, True, None)
    assert plan.attrs["cb"] == 22
    assert plan.buffer("wp").size == 16 * 7 * 22  # one block, KH taps, no KW
    check(cpu.compile(plan)(x, wt, bv), ref_conv2d(x, wt, bv, (2, 2), 3, (1, 1)), "i8")


@FEW
@given(n=st.integers(1, 2), c=st.integers(1, 9), mult=st.integers(1, 2), h=st.integers(2, 11),
       w=st.integers(2, 13), k=st.integers(1, 3), s=st.integers(1, 2), pad=st.integers(0, 1),
       dtype=st.sampled_from(["f32", "i8"]), bias=st.booleans(), seed=st.integers(0, 99))
def test_depthwise_conv2d(cpu, n, c, mult, h, w, k, s, pad, dtype, bias, seed):
    rng = np.random.default_rng(seed)
    x = rand(rng, (n, c, h, w), dtype)
    wt = rand(rng, (c * mult, 1, k, k), dtype)
    bv = rand(rng, (c * mult,), "i32" if dtype == "i8" else "f32") if bias else None
    op = cpu.compile(dw_ops.depthwise_conv2d_plan(x.shape, wt.shape, dtype, s, pad, 1, bias,
                                                  "relu"))
    expect = ref_conv2d(x, wt, bv, (s, s), pad, (1, 1), groups=c, activation="relu")
    check(op(*([x, wt] + ([bv] if bias else []))), expect, dtype)


def test_conv2d_groups_dispatch():
    rng = np.random.default_rng(3)
    x, w = rand(rng, (1, 4, 6, 6), "f32"), rand(rng, (4, 1, 3, 3), "f32")
    out = cg.conv2d(x.shape, w.shape, groups=4, padding=1)(x, w)
    check(out, ref_conv2d(x, w, None, (1, 1), 1, groups=4), "f32")


# ----------------------------------------------------------------------------- pooling
@FEW
@given(n=st.integers(1, 2), c=st.integers(1, 5), h=st.integers(2, 13), w=st.integers(2, 13),
       k=st.integers(1, 3), s=st.integers(1, 3), pad=st.integers(0, 1),
       kind=st.sampled_from(["max", "avg", "max_i8"]), cip=st.booleans(),
       seed=st.integers(0, 99))
def test_pool2d(cpu, n, c, h, w, k, s, pad, kind, cip, seed):
    assume(pad < k and h + 2 * pad >= k and w + 2 * pad >= k)
    rng = np.random.default_rng(seed)
    dtype = "i8" if kind == "max_i8" else "f32"
    kind = kind[:3]
    x = rand(rng, (n, c, h, w), dtype)
    op = cpu.compile(pool_ops.pool2d_plan(x.shape, kind, k, s, pad, cip, dtype))
    check(op(x), ref.float_pool2d(x, kind, (k, k), (s, s), pad, cip), dtype)


@pytest.mark.parametrize("shape", [
    (1, 4, 56, 56, 3, 3, (2, 2), (1, 1)),   # ResNet's max pool
    (2, 3, 7, 9, 2, 3, (1, 2), (1, 2)),     # edge taps that skip whole column ranges
    (1, 2, 5, 4, 3, 1, (3, 1), (0, 0)),     # no padding, stride past the window
    (1, 1, 1, 1, 1, 1, (1, 1), (0, 0)),
])
def test_int8_max_pool_matches_the_reference(cpu, shape):
    """The row-buffer max pool (tap column ranges resolved while generating code)."""
    from opset import Pool2d

    n, c, h, w, kh, kw, s, p = shape
    op = Pool2d(n=n, c=c, h=h, w=w, pool="max", kh=kh, kw=kw, stride=s, pad=p)
    x = np.random.default_rng(2).integers(-128, 128, (n, c, h, w)).astype(np.int8)
    got = cpu.compile(quantized_ops.op_plan(op))(x)
    np.testing.assert_array_equal(got, ref.run(op, {"x": x}))


def test_global_avg_pool(cpu):
    x = rand(np.random.default_rng(0), (2, 7, 5, 3), "f32")
    check(cpu.compile(pool_ops.global_avg_pool_plan(x.shape))(x), ref.float_global_avg_pool(x),
          "f32")


# ----------------------------------------------------------------------------- softmax
@FEW
@given(shape=st.lists(st.integers(1, 9), min_size=1, max_size=3), seed=st.integers(0, 99),
       scale=st.sampled_from([1.0, 30.0]))
def test_softmax(cpu, shape, seed, scale):
    x = rand(np.random.default_rng(seed), tuple(shape), "f32") * np.float32(scale)
    np.testing.assert_allclose(cpu.compile(softmax_ops.softmax_plan(x.shape))(x),
                               ref.softmax(x), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- element-wise
def _bcast_shapes():
    return st.lists(st.integers(1, 6), min_size=1, max_size=4).flatmap(
        lambda s: st.tuples(st.just(tuple(s)), st.lists(st.booleans(), min_size=len(s),
                                                        max_size=len(s))))


@FEW
@given(sb=_bcast_shapes(), op=st.sampled_from(sorted(ew_ops.BINARY_OPS)),
       dtype=st.sampled_from(["f32", "i32", "i8"]), seed=st.integers(0, 99))
def test_binary_broadcast(cpu, sb, op, dtype, seed):
    shape, keep = sb
    assume(not (op in ("shl", "shr") and dtype == "f32"))
    assume(not (op == "div" and dtype != "f32"))
    shape_b = tuple(d if k else 1 for d, k in zip(shape, keep, strict=True))
    rng = np.random.default_rng(seed)
    a, b = rand(rng, shape, dtype), rand(rng, shape_b, dtype)
    if op in ("shl", "shr"):
        b = rng.integers(0, 7, shape_b).astype(a.dtype)
    npop = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
            "max": np.maximum, "min": np.minimum, "shl": np.left_shift,
            "shr": np.right_shift}[op]
    with np.errstate(over="ignore"):
        expect = npop(a, b).astype(a.dtype)
    out = cpu.compile(ew_ops.binary_plan(op, shape, shape_b, dtype))(a, b)
    check(out, expect, dtype)


@pytest.mark.parametrize("op", sorted(ew_ops.UNARY_OPS))
def test_unary(cpu, op):
    rng = np.random.default_rng(0)
    x = rand(rng, (3, 5, 7), "f32") * np.float32(4)
    if op == "sqrt":
        x = np.abs(x)
    expect = {"relu": lambda v: np.maximum(v, 0), "neg": np.negative, "abs": np.abs,
              "exp": np.exp, "sigmoid": lambda v: 1 / (1 + np.exp(-v.astype(np.float64))),
              "sqrt": np.sqrt, "round": np.rint}[op](x)
    np.testing.assert_allclose(cpu.compile(ew_ops.unary_plan(op, x.shape))(x), expect,
                               rtol=2e-6, atol=1e-6)


def test_fused_chain_is_one_kernel(cpu):
    """conv-epilogue style chain: clip(relu(x * s + b), 0, 6) in a single kernel."""
    rng = np.random.default_rng(5)
    x = rand(rng, (2, 8, 5, 5), "f32")
    s, b = rand(rng, (1, 8, 1, 1), "f32"), rand(rng, (8, 1, 1), "f32")
    plan = ew_ops.elementwise_plan(lambda a, sc, bi: ew_ops.clip(ew_ops.relu(a * sc + bi),
                                                                  0.0, 6.0),
                                   [x.shape, s.shape, b.shape], ["f32"] * 3, "chain")
    assert len(plan.kernels) == 1 and len(plan.steps) == 1
    check(cpu.compile(plan)(x, s, b), np.clip(np.maximum(x * s + b, 0), 0, 6), "f32")


def test_long_vector_is_split_across_threads(cpu):
    x = rand(np.random.default_rng(0), (10_001,), "f32")
    op = cpu.compile(ew_ops.clip_plan(x.shape, -0.5, 0.5))
    assert op.kernels[op.plan.steps[0].kernel].parallel_extent > 1
    check(op(x), np.clip(x, -0.5, 0.5), "f32")


# ----------------------------------------------------------------------------- quantization
@FEW
@given(shape=st.lists(st.integers(1, 7), min_size=1, max_size=4), per_axis=st.booleans(),
       seed=st.integers(0, 99))
def test_quantize_dequantize(cpu, shape, per_axis, seed):
    rng = np.random.default_rng(seed)
    shape = tuple(shape)
    axis = (len(shape) - 1) if per_axis else None
    ps = q_ops.param_shape("t", shape, axis)
    x = rand(rng, shape, "f32") * np.float32(50)
    scale = rng.uniform(0.05, 2, ps).astype(np.float32)
    zp = rng.integers(-20, 20, ps).astype(np.int8)
    # exact .5 ties must round to even, like onnx
    x.reshape(-1)[0] = np.float32(2.5) * scale.reshape(-1)[0]
    q = cpu.compile(q_ops.quantize_plan(shape, axis))(x, scale, zp)
    np.testing.assert_array_equal(q, ref.quantize_linear(x, scale, zp))
    d = cpu.compile(q_ops.dequantize_plan(shape, axis))(q, scale, zp)
    np.testing.assert_allclose(d, ref.dequantize_linear(q, scale, zp), rtol=1e-6)


@FEW
@given(shape=st.lists(st.integers(1, 7), min_size=2, max_size=4), bias=st.booleans(),
       kind=st.sampled_from(["shift", "mult", "channel"]), residual=st.booleans(),
       relu=st.booleans(), offset=st.sampled_from([0, -128, 37, -32768]),
       seed=st.integers(0, 99))
def test_requantize_is_the_hardware_epilogue(cpu, shape, bias, kind, residual, relu, offset,
                                             seed):
    """The standalone requantize kernel computes opset.Epilogue exactly like the reference,
    int32 wrapping included (accumulators and multipliers near the int32 edges), output
    offset (zero point) included."""
    rng = np.random.default_rng(seed)
    shape = tuple(shape)
    rq = {"shift": Requant(shift=int(rng.integers(0, 32))),
          "mult": Requant(int(rng.integers(-32768, 32768)), int(rng.integers(0, 32)),
                          int(rng.integers(0, 32))),
          "channel": Requant(per_channel=True, pre_shift=int(rng.integers(0, 8)))}[kind]
    ep = Epilogue(bias=bias, requant=rq, residual=residual, relu=relu, offset=offset)
    x = rng.integers(-(1 << 31), (1 << 31) - 1, shape, dtype=np.int64).astype(np.int32)
    named = {"acc": x, "bias": rng.integers(-(1 << 31), (1 << 31) - 1, shape[1],
                                            dtype=np.int64).astype(np.int32),
             "multiplier": rng.integers(-32768, 32768, shape[1]).astype(np.int32),
             "shift": rng.integers(0, 32, shape[1]).astype(np.int32),
             "residual": rand(rng, shape, "i8")}
    plan = quantized_ops.requantize_plan(shape, ep, 1)
    out = cpu.compile(plan)(*[named[b.name] for b in plan.inputs])
    np.testing.assert_array_equal(out, ref.epilogue(
        x, ep, named["bias"], named["multiplier"], named["shift"], named["residual"]))


@pytest.mark.parametrize("fuse", [True, False])
def test_output_offset_on_the_cpu_and_a_dropped_one_is_caught(cpu, fuse):
    """A conv with an input zero point (pad value) and an output zero point (epilogue
    offset), in both CPU forms of the epilogue, equals the reference bit for bit; the same
    kernel built without the offset (the mutant) does not."""
    from dataclasses import replace

    from opset import Conv2d
    ep = Epilogue(bias=True, requant=Requant(multiplier=181, shift=13), residual=True,
                  clip=(-90, 127), offset=-90)
    op = Conv2d(1, 12, 18, 18, 16, 3, 3, pad=1, pad_value=-7, epilogue=ep)
    rng = np.random.default_rng(3)
    named = {"x": rand(rng, (1, 12, 18, 18), "i8"), "w": rand(rng, (16, 12, 3, 3), "i8"),
             "bias": rng.integers(-5000, 5000, 16).astype(np.int32),
             "residual": rand(rng, (1, 16, 18, 18), "i8")}
    want = ref.run(op, named)
    assert len(np.unique(want)) > 50 and np.any(want == -90) and np.any(want == 127)

    def on_cpu(o):
        plan = quantized_ops.op_plan(o, fuse_min_width=0 if fuse else 1 << 30)
        return cpu.compile(plan)(*[named[t.name] for t in o.inputs()])

    np.testing.assert_array_equal(on_cpu(op), want)
    mutant = replace(op, epilogue=replace(ep, offset=0))
    assert not np.array_equal(on_cpu(mutant), want)


# ----------------------------------------------------------------------------- layout
@FEW
@given(n=st.integers(1, 3), c=st.integers(1, 20), h=st.integers(1, 6), w=st.integers(1, 6),
       block=st.sampled_from([1, 4, 8, 16]), batch=st.sampled_from([1, 2]),
       halo=st.tuples(st.integers(0, 2), st.integers(0, 2)), pad_value=st.integers(-128, 127),
       dtype=st.sampled_from(["i8", "f32", "i32"]))
def test_blocked_layout_is_opsets(cpu, n, c, h, w, block, batch, halo, pad_value, dtype):
    """The CPU layout transforms produce exactly ActLayout.pack's array (halo = pad value,
    padded channels and batch lanes zero) and invert it."""
    lay = ActLayout(n, c, h, w, block, batch, halo)
    x8 = rand(np.random.default_rng(0), (n, c, h, w), "i8")
    want = lay.pack(x8, pad_value)
    x = x8.astype(np.dtype({"i8": np.int8, "f32": np.float32, "i32": np.int32}[dtype]))
    blocked = cpu.compile(layout_ops.nchw_to_blocked_plan(lay, dtype, pad_value))(x)
    np.testing.assert_array_equal(blocked, want.astype(blocked.dtype))
    back = cpu.compile(layout_ops.blocked_to_nchw_plan(lay, dtype))(blocked)
    np.testing.assert_array_equal(back, x)
