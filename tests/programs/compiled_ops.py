"""Compiled operators as test programs: what the compiler emits, for any configuration.

Each case compiles one operator (or a chain of two) with ``compiler.compile_op`` for a given
:class:`~vta_hw.config.HwConfig`, builds its bundle from random but seeded int8 inputs and
computes the expected output with the numpy reference (:mod:`opset.reference`).
RTL co-simulation (``tests/vta_hw/test_compiled_ops.py``) runs these bundles on the simulator
and on Verilator; other checks (e.g. a race checker) can reuse the same programs.

The shapes are real rather than convenient: odd spatial sizes, channel counts that are not
multiples of the GEMM block (partial tiles), stride 2, padding 1, a 3-channel first layer
padded to the block, DMA-inserted padding with a non-zero pad value, per-channel
requantization and a residual.  Every expected output is checked to be non-trivial (not all
zero, not all one value), so a case that computes nothing cannot pass silently.

``CASES`` maps a name to ``cfg -> CompiledCase`` (the regular, CI-sized corpus);
``LARGE_CASES`` holds ResNet-18-sized layers for the ``slow`` runs.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from compiler import (
    AluSchedule,
    AluStep,
    Conv2d,
    Dense,
    DepthwiseConv2d,
    Elementwise,
    Epilogue,
    GemmSchedule,
    LayoutOptions,
    Pool2d,
    Requant,
    compile_op,
)
from compiler.api import ChainedProgram, CompiledOp, chain
from opset import reference as ref
from vta_hw.bundle import Bundle
from vta_hw.config import HwConfig


@dataclass(frozen=True)
class CompiledCase:
    """One compiled program with its bundle and the numpy reference of its output.

    program: the :class:`CompiledOp` or :class:`ChainedProgram` (its decoded instructions,
    tensors and schedule are there for checks that look at the stream).
    bundle: the stand-alone DRAM image and instruction stream, inputs already packed.
    inputs: the logical int8/int32 arrays the bundle was built from (per op for a chain).
    expected: the numpy reference of the final output, in its logical (NCHW / NC) shape.
    output_symbol: the bundle symbol holding the final output.
    """

    name: str
    program: CompiledOp | ChainedProgram
    bundle: Bundle = field(repr=False)
    inputs: tuple[dict[str, np.ndarray], ...] = field(repr=False)
    expected: np.ndarray = field(repr=False)
    output_symbol: str = "y"

    @property
    def last_op(self) -> CompiledOp:
        p = self.program
        return p.ops[-1] if isinstance(p, ChainedProgram) else p

    def output(self, dram: bytes) -> np.ndarray:
        """The final output (logical layout) read from a final DRAM image of the bundle."""
        return self.last_op.unpack_output(self.bundle.read(self.output_symbol, dram))


# ---------------------------------------------------------------------------- helpers
def _rng(cfg: HwConfig, name: str) -> np.random.Generator:
    """Seeded by case and configuration, so each preset gets its own data."""
    return np.random.default_rng(zlib.crc32(f"{name}/{cfg.config_hash()}".encode()))


def _i8(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.integers(-128, 128, shape, dtype=np.int8)


def _shift_for(acc: np.ndarray, target: float = 48.0) -> int:
    """The right shift that brings the accumulators' spread to about ``target`` (so the
    int8 outputs vary instead of saturating or rounding to zero)."""
    spread = float(np.std(np.asarray(acc, dtype=np.float64))) or 1.0
    return int(np.clip(np.round(np.log2(spread / target)), 0, 31))


def _nontrivial(name: str, y: np.ndarray) -> np.ndarray:
    """Refuse a case whose reference output is constant: it could not notice wrong data."""
    flat = np.asarray(y).ravel()
    if not flat.any():
        raise AssertionError(f"compiled case {name}: the expected output is all zero")
    if (flat == flat[0]).all():
        raise AssertionError(f"compiled case {name}: the expected output is all {flat[0]}")
    return y


def _single(name: str, c: CompiledOp, inputs: dict[str, np.ndarray],
            expected: np.ndarray) -> CompiledCase:
    bundle = c.bundle(inputs)
    return CompiledCase(name, c, bundle, (inputs,), _nontrivial(name, expected))


def _chained(name: str, ch: ChainedProgram, inputs: list[dict[str, np.ndarray]],
             expected: np.ndarray) -> CompiledCase:
    bundle = ch.bundle(inputs)
    out = ch.global_name(len(ch.ops) - 1, "y")
    return CompiledCase(name, ch, bundle, tuple(inputs), _nontrivial(name, expected), out)


def _channels(cfg: HwConfig) -> tuple[int, int]:
    """Input and output channel counts that end in a partial block: 2 blocks + 3 and
    1 block + 5 (odd, so the last block is partly padding on every preset)."""
    return 2 * cfg.block_in + 3, cfg.block_out + 5


# ---------------------------------------------------------------------------- GEMM operators
EpilogueFn = Callable[[int], Epilogue]
"""An epilogue given the requantization shift that spreads this case's accumulators over
the int8 range (chosen from the data, see :func:`_shift_for`)."""


def _conv(name: str, cfg: HwConfig, *, c: int, h: int, w: int, o: int, k: int, stride: int,
          pad: int, epilogue: EpilogueFn, pad_value: int = 0,
          options: LayoutOptions | None = None,
          schedule: GemmSchedule | None = None) -> CompiledCase:
    """A conv2d case with random weights, bias, per-channel factors and residual as the
    epilogue asks."""
    rng = _rng(cfg, name)
    x, wt = _i8(rng, 1, c, h, w), _i8(rng, o, c, k, k)
    acc = ref.conv2d_acc(x, wt, (stride, stride), (pad, pad), pad_value)
    ep = epilogue(_shift_for(acc))
    inputs: dict[str, np.ndarray] = {"x": x, "w": wt}
    spread = int(np.std(acc)) + 1
    if ep.bias:
        inputs["bias"] = rng.integers(-2 * spread, 2 * spread, o).astype(np.int32)
    if ep.per_channel:
        inputs["multiplier"] = rng.integers(1, 200, o).astype(np.int32)
        base = _shift_for(acc * 100)
        inputs["shift"] = (base + rng.integers(-1, 2, o)).clip(0, 31).astype(np.int32)
    op = Conv2d(1, c, h, w, o, k, k, stride, pad, ep, pad_value)
    if ep.residual:
        inputs["residual"] = _i8(rng, *op.output().shape)
    compiled = compile_op(op, cfg, schedule, options)
    want = ref.conv2d(x, wt, op, bias=inputs.get("bias"), multiplier=inputs.get("multiplier"),
                      shift=inputs.get("shift"), residual=inputs.get("residual"))
    return _single(name, compiled, inputs, want)


def conv3x3_s2_p1(cfg: HwConfig) -> CompiledCase:
    """Strided, padded 3x3 conv: bias, requantization (multiplier, shift), ReLU."""
    c, o = _channels(cfg)
    return _conv("conv3x3_s2_p1", cfg, c=c, h=11, w=9, o=o, k=3, stride=2, pad=1,
                 epilogue=lambda s: Epilogue(bias=True, requant=Requant(3, s + 2), relu=True))


def conv3x3_dma_pad(cfg: HwConfig) -> CompiledCase:
    """Padding inserted by the loads (no halo in DRAM) with a non-zero pad value (an input
    zero point); stride 1, output through the GEMM out mirror (shift + ReLU, no ALU pass)."""
    c, o = _channels(cfg)
    return _conv("conv3x3_dma_pad", cfg, c=c, h=7, w=9, o=o, k=3, stride=1, pad=1,
                 epilogue=lambda s: Epilogue(requant=Requant(shift=s), relu=True),
                 pad_value=-37, options=LayoutOptions(input_halo=(0, 0)))


def conv3x3_first_layer(cfg: HwConfig) -> CompiledCase:
    """A network's first layer: 3 input channels padded with zeros to the GEMM block
    (im2col off), odd image, padding 1."""
    return _conv("conv3x3_first_layer", cfg, c=3, h=13, w=11, o=cfg.block_out + 3, k=3,
                 stride=1, pad=1, options=LayoutOptions(im2col=False),
                 epilogue=lambda s: Epilogue(bias=True, requant=Requant(shift=s),
                                             clip=(-100, 100)))


def conv7x7_first_layer_im2col(cfg: HwConfig) -> CompiledCase:
    """The 3-channel stem as im2col patches (49 * 3 = 147 reduction lanes): stride 2,
    padding 3, as ResNet's first layer."""
    return _conv("conv7x7_first_layer_im2col", cfg, c=3, h=13, w=13, o=cfg.block_out + 1, k=7,
                 stride=2, pad=3, options=LayoutOptions(im2col=True),
                 epilogue=lambda s: Epilogue(requant=Requant(shift=s), relu=True))


def conv3x3_partial_tiles(cfg: HwConfig) -> CompiledCase:
    """A fixed schedule whose last tile is partial in every dimension: 3 output-channel
    blocks in tiles of 2, 3 input-channel blocks in reduction steps of 2, one kernel row
    per step, 9x11 outputs in 4x4 tiles, three virtual threads, image-outer order, no
    hoisting (every tile reloads its weights and input)."""
    c, o = 2 * cfg.block_in + 3, 2 * cfg.block_out + 5
    sched = GemmSchedule(tile_co=2, tile_ci=2, tile_h=4, tile_w=4, tile_kh=1,
                         virtual_threads=3, order="spatial_outer", hoist_weights=False,
                         hoist_input=False)
    return _conv("conv3x3_partial_tiles", cfg, c=c, h=9, w=11, o=o, k=3, stride=1, pad=1,
                 epilogue=lambda s: Epilogue(bias=True, requant=Requant(shift=s)),
                 schedule=sched)


def conv1x1_per_channel_residual(cfg: HwConfig) -> CompiledCase:
    """Pointwise conv with per-channel requantization (multiplier and shift per output
    channel, ALU tensor operations), a residual add and a clip."""
    c = 2 * cfg.block_in + 1
    return _conv("conv1x1_per_channel_residual", cfg, c=c, h=5, w=7, o=cfg.block_out + 3, k=1,
                 stride=1, pad=0,
                 epilogue=lambda s: Epilogue(requant=Requant(per_channel=True), residual=True,
                                             clip=(-90, 110)))


def depthwise3x3_s2_per_channel(cfg: HwConfig) -> CompiledCase:
    """Depthwise 3x3, stride 2, padding 1: bias, per-channel requantization, ReLU."""
    name = "depthwise3x3_s2_per_channel"
    rng = _rng(cfg, name)
    c = cfg.block_out + 3
    x, wt = _i8(rng, 1, c, 9, 11), _i8(rng, c, 1, 3, 3)
    acc = np.concatenate([ref.conv2d_acc(x[:, i:i + 1], wt[i:i + 1], (2, 2), (1, 1))
                          for i in range(c)], axis=1)
    shift = _shift_for(acc * 60)
    inputs = {"x": x, "w": wt,
              "bias": rng.integers(-int(np.std(acc)), int(np.std(acc)) + 1, c).astype(np.int32),
              "multiplier": rng.integers(1, 120, c).astype(np.int32),
              "shift": (shift + rng.integers(-1, 2, c)).clip(0, 31).astype(np.int32)}
    op = DepthwiseConv2d(1, c, 9, 11, 3, 3, 2, 1,
                         Epilogue(bias=True, requant=Requant(per_channel=True), relu=True))
    compiled = compile_op(op, cfg)
    want = ref.depthwise_conv2d(x, wt, op, bias=inputs["bias"],
                                multiplier=inputs["multiplier"], shift=inputs["shift"])
    return _single(name, compiled, inputs, want)


def dense_partial_blocks(cfg: HwConfig) -> CompiledCase:
    """Dense layer, batch 3, inputs and outputs ending in partial blocks, bias + shift."""
    name = "dense_partial_blocks"
    rng = _rng(cfg, name)
    n, i, o = 3, 2 * cfg.block_in + 5, cfg.block_out + 3
    x, wt = _i8(rng, n, i), _i8(rng, o, i)
    acc = x.astype(np.int64) @ wt.astype(np.int64).T
    bias = rng.integers(-2000, 2000, o).astype(np.int32)
    op = Dense(n, i, o, Epilogue(bias=True, requant=Requant(shift=_shift_for(acc))))
    inputs = {"x": x, "w": wt, "bias": bias}
    want = ref.dense(x, wt, op, bias=bias)
    return _single(name, compile_op(op, cfg), inputs, want)


# ---------------------------------------------------------------------------- ALU operators
def _pool(name: str, cfg: HwConfig, pool: str, h: int, w: int, k: int, stride: int,
          pad: int, c: int | None = None, schedule: AluSchedule | None = None,
          options: LayoutOptions | None = None) -> CompiledCase:
    rng = _rng(cfg, name)
    c = c or cfg.block_out + 3
    x = _i8(rng, 1, c, h, w)
    op = Pool2d(1, c, h, w, pool, k, k, stride, pad)
    return _single(name, compile_op(op, cfg, schedule, options), {"x": x}, ref.pool2d(x, op))


def max_pool3x3_s2_p1(cfg: HwConfig) -> CompiledCase:
    return _pool("max_pool3x3_s2_p1", cfg, "max", 9, 7, 3, 2, 1)


def avg_pool3x3_s1_p1(cfg: HwConfig) -> CompiledCase:
    """Average of 9 (multiplier and shift, not a power of two), padding counted as 0."""
    return _pool("avg_pool3x3_s1_p1", cfg, "avg", 7, 5, 3, 1, 1)


def avg_pool2x2_s2_odd(cfg: HwConfig) -> CompiledCase:
    """2x2 average (a pure shift) over an odd image: the last row and column drop out."""
    return _pool("avg_pool2x2_s2_odd", cfg, "avg", 9, 7, 2, 2, 0)


def max_pool3x3_partial_tiles(cfg: HwConfig) -> CompiledCase:
    """A fixed ALU schedule with partial tiles in channels, rows and columns (3 channel
    blocks by 2, 7x6 outputs by 2x4); the loads insert the -128 padding (no halo in DRAM)."""
    return _pool("max_pool3x3_partial_tiles", cfg, "max", 13, 11, 3, 2, 1,
                 c=2 * cfg.block_out + 1, schedule=AluSchedule(tile_c=2, tile_h=2, tile_w=4),
                 options=LayoutOptions(input_halo=(0, 0)))


def elementwise_binary(cfg: HwConfig) -> CompiledCase:
    """A tensor operand and immediates: y = clip(rshr((a + b) * 3, 2), -60, 90), then
    max with b again (a second tensor step)."""
    name = "elementwise_binary"
    rng = _rng(cfg, name)
    shape = (1, cfg.block_out + 3, 5, 7)
    a, b = _i8(rng, *shape), _i8(rng, *shape)
    steps = (AluStep("add"), AluStep("mul", 3), AluStep("rshr", 2), AluStep("max", -60),
             AluStep("min", 90), AluStep("max"))
    op = Elementwise(shape, steps)
    return _single(name, compile_op(op, cfg), {"a": a, "b": b}, ref.elementwise(a, steps, b))


# ---------------------------------------------------------------------------- chained
def chain_conv_conv(cfg: HwConfig) -> CompiledCase:
    """Two convolutions in one stream: a 3x3 conv whose output (with a 1-pixel halo in DRAM)
    is the input of a strided 3x3 conv; the second op's loads wait for the first's stores."""
    name = "chain_conv_conv"
    rng = _rng(cfg, name)
    c, o = _channels(cfg)
    m = cfg.block_out + 1  # the intermediate's channels (a partial block)
    x, w1, w2 = _i8(rng, 1, c, 9, 7), _i8(rng, m, c, 3, 3), _i8(rng, o, m, 3, 3)
    s1 = _shift_for(ref.conv2d_acc(x, w1, (1, 1), (1, 1)))
    op1 = Conv2d(1, c, 9, 7, m, 3, 3, 1, 1, Epilogue(requant=Requant(shift=s1), relu=True))
    y1 = ref.conv2d(x, w1, op1)
    s2 = _shift_for(ref.conv2d_acc(y1, w2, (2, 2), (1, 1)))
    op2 = Conv2d(1, m, 9, 7, o, 3, 3, 2, 1, Epilogue(requant=Requant(shift=s2)))
    c1 = compile_op(op1, cfg, options=LayoutOptions(output_halo=(1, 1)))
    c2 = compile_op(op2, cfg)
    ch = chain([c1, c2], [{"y": "t"}, {"x": "t"}])
    return _chained(name, ch, [{"x": x, "w": w1}, {"w": w2}], ref.conv2d(y1, w2, op2))


def chain_conv_maxpool(cfg: HwConfig) -> CompiledCase:
    """A ResNet stem in miniature: conv (no ReLU, so pooling sees negative values) then a
    3x3 stride-2 max pool.  The conv stores into the interior of a tensor with a 1-pixel
    halo in DRAM, which the pool reads as its padding: the chained image starts with -128
    there (a zero halo would win every border window whose values are all negative)."""
    name = "chain_conv_maxpool"
    rng = _rng(cfg, name)
    c, o = cfg.block_in + 1, cfg.block_out + 3
    x, wt = _i8(rng, 1, c, 11, 9), _i8(rng, o, c, 3, 3)
    s = _shift_for(ref.conv2d_acc(x, wt, (1, 1), (1, 1)))
    op1 = Conv2d(1, c, 11, 9, o, 3, 3, 1, 1, Epilogue(requant=Requant(shift=s)))
    op2 = Pool2d(1, o, 11, 9, "max", 3, 3, 2, 1)
    c1 = compile_op(op1, cfg, options=LayoutOptions(output_halo=(1, 1)))
    c2 = compile_op(op2, cfg)
    ch = chain([c1, c2], [{"y": "t"}, {"x": "t"}])
    y1 = ref.conv2d(x, wt, op1)
    return _chained(name, ch, [{"x": x, "w": wt}, {}], ref.pool2d(y1, op2))


CaseFn = Callable[[HwConfig], CompiledCase]

CASES: dict[str, CaseFn] = {f.__name__: f for f in (
    conv3x3_s2_p1, conv3x3_dma_pad, conv3x3_first_layer, conv7x7_first_layer_im2col,
    conv3x3_partial_tiles, conv1x1_per_channel_residual, depthwise3x3_s2_per_channel,
    dense_partial_blocks, max_pool3x3_s2_p1, max_pool3x3_partial_tiles, avg_pool3x3_s1_p1,
    avg_pool2x2_s2_odd, elementwise_binary, chain_conv_conv, chain_conv_maxpool)}

_REQUIRES: dict[str, tuple[Callable[[HwConfig], bool], str]] = {
    # a conv's output is blocked by block_out, a conv's input by block_in
    "chain_conv_conv": (lambda cfg: cfg.block_in == cfg.block_out,
                        "conv -> conv without a layout transform needs block_in == block_out"),
}


def applicable(name: str, cfg: HwConfig) -> str | None:
    """None if case ``name`` can be built for ``cfg``, else the reason it cannot."""
    test, why = _REQUIRES.get(name, (lambda cfg: True, ""))
    return None if test(cfg) else why


def cases_for(cfg: HwConfig, large: bool = False) -> dict[str, CaseFn]:
    """The cases (``LARGE_CASES`` if ``large``) that can be built for ``cfg``."""
    pool = LARGE_CASES if large else CASES
    return {n: f for n, f in pool.items() if applicable(n, cfg) is None}


# ---------------------------------------------------------------------------- large (slow)
def resnet18_conv3x3_56(cfg: HwConfig) -> CompiledCase:
    """ResNet-18's layer1 3x3 conv: 56x56, 64 channels in and out on a 16-wide block (4
    blocks of each: 16 channels on ``tiny``), bias, requantization, ReLU."""
    return _conv("resnet18_conv3x3_56", cfg, c=4 * cfg.block_in, h=56, w=56,
                 o=4 * cfg.block_out, k=3, stride=1, pad=1,
                 epilogue=lambda s: Epilogue(bias=True, requant=Requant(shift=s), relu=True))


def resnet18_downsample_3x3_s2(cfg: HwConfig) -> CompiledCase:
    """ResNet-18's layer2 entry: 3x3 stride 2 from 56x56 to 28x28, channels doubling
    (64 -> 128 on a 16-wide block), per-channel requantization and a residual."""
    return _conv("resnet18_downsample_3x3_s2", cfg, c=4 * cfg.block_in, h=56, w=56,
                 o=8 * cfg.block_out, k=3, stride=2, pad=1,
                 epilogue=lambda s: Epilogue(requant=Requant(per_channel=True), residual=True))


def resnet18_stem_maxpool(cfg: HwConfig) -> CompiledCase:
    """ResNet-18's stem on a 112x112 image (56x56 on blocks narrower than 16, whose
    programs have many more, smaller tiles): 7x7 stride-2 conv of 3 channels (im2col) to 4
    blocks of output channels, ReLU, chained to the 3x3 stride-2 max pool."""
    name = "resnet18_stem_maxpool"
    rng = _rng(cfg, name)
    o, h = 4 * cfg.block_out, (112 if cfg.block_out >= 16 else 56)
    x, wt = _i8(rng, 1, 3, h, h), _i8(rng, o, 3, 7, 7)
    s = _shift_for(ref.conv2d_acc(x, wt, (2, 2), (3, 3)))
    op1 = Conv2d(1, 3, h, h, o, 7, 7, 2, 3, Epilogue(requant=Requant(shift=s), relu=True))
    op2 = Pool2d(1, o, op1.ho, op1.wo, "max", 3, 3, 2, 1)
    c1 = compile_op(op1, cfg, options=LayoutOptions(im2col=True))
    c2 = compile_op(op2, cfg, options=LayoutOptions(input_halo=(0, 0)))
    ch = chain([c1, c2], [{"y": "t"}, {"x": "t"}])
    y1 = ref.conv2d(x, wt, op1)
    return _chained(name, ch, [{"x": x, "w": wt}, {}], ref.pool2d(y1, op2))


LARGE_CASES: dict[str, CaseFn] = {f.__name__: f for f in (
    resnet18_conv3x3_56, resnet18_downsample_3x3_s2, resnet18_stem_maxpool)}


__all__ = ["CompiledCase", "CASES", "LARGE_CASES", "applicable", "cases_for"]
