"""The epilogue on the GEMM out path: overwrite instead of a reset pass, OUTMODE instead of
shift/ReLU passes -- chosen only when exact, bit-exact on the simulator, and measurably
fewer compute cycles."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler import Conv2d, Dense, Epilogue, Requant, compile_op
from compiler.ir import Dim
from compiler.schedule.loops import gemm_pieces
from opset import reference as ref
from vta.api import run_compiled
from vta_hw import isa
from vta_hw.config import DEFAULT, TINY


@pytest.mark.parametrize(("ep", "mode"), [
    (Epilogue(), (0, False)),
    (Epilogue(requant=Requant(shift=8), relu=True), (8, True)),
    (Epilogue(bias=True, requant=Requant(shift=3)), (3, False)),
    (Epilogue(clip=(0, 127)), (0, True)),
    (Epilogue(clip=(-300, 500), relu=True), (0, True)),
    (Epilogue(requant=Requant(multiplier=3, shift=8)), None),
    (Epilogue(requant=Requant(shift=8, pre_shift=2)), None),
    (Epilogue(requant=Requant(per_channel=True)), None),
    (Epilogue(residual=True), None),
    (Epilogue(relu=True, clip=(0, 6)), None),
    (Epilogue(clip=(-5, 127)), None),
    (Epilogue(requant=Requant(shift=8), offset=-128), None),  # the zero point is an ALU pass
    (Epilogue(relu=True, offset=3), None),
])
def test_out_mode_only_when_exact(ep, mode):
    assert ep.out_mode() == mode


def _alu_ops(compiled) -> list[isa.AluOp]:
    return [n.insn.alu_op for n in compiled.instrs if isinstance(n.insn, isa.Alu)]


def test_shift_relu_conv_has_no_alu_passes():
    op = Conv2d(1, 32, 9, 9, 48, 3, 3, 1, 1, Epilogue(requant=Requant(shift=9), relu=True))
    c = compile_op(op, DEFAULT)
    assert _alu_ops(c) == [isa.AluOp.OUTMODE, isa.AluOp.OUTMODE]  # set, then identity again
    first, last = (n.insn for n in c.instrs if isinstance(n.insn, isa.Alu))
    assert isa.out_mode_fields(first.imm) == (9, True)
    assert isa.out_mode_fields(last.imm) == (0, False)
    gemms = [n.insn for n in c.instrs if isinstance(n.insn, isa.Gemm)]
    assert any(g.overwrite for g in gemms) and not any(g.reset for g in gemms)
    rng = np.random.default_rng(11)
    x = rng.integers(-128, 128, (1, 32, 9, 9), dtype=np.int8)
    w = rng.integers(-128, 128, (48, 32, 3, 3), dtype=np.int8)
    res = run_compiled(c, {"x": x, "w": w})
    np.testing.assert_array_equal(res.output, ref.conv2d(x, w, op))
    assert res.stats.alu_iterations == 0


def test_multiplier_keeps_the_alu_passes():
    """A requantization the out path cannot do stays on the ALU, unchanged."""
    op = Dense(4, 64, 32, Epilogue(bias=True, requant=Requant(multiplier=5, shift=7),
                                   relu=True))
    ops = _alu_ops(compile_op(op, TINY))
    assert isa.AluOp.OUTMODE not in ops
    assert {isa.AluOp.MOV, isa.AluOp.MUL, isa.AluOp.RSHR, isa.AluOp.MAX} <= set(ops)


def _offset_conv() -> tuple[Conv2d, dict[str, np.ndarray]]:
    """Asymmetric int8: input zero point 6 (the pad value), output zero point -100 (the
    offset, a real ReLU clamping at it), a residual, per-channel requantization."""
    rng = np.random.default_rng(4)
    ep = Epilogue(bias=True, requant=Requant(per_channel=True, pre_shift=1), residual=True,
                  clip=(-100, 127), offset=-100)
    op = Conv2d(1, 20, 7, 7, 24, 3, 3, 1, 1, ep, pad_value=6)
    inputs = {"x": rng.integers(-128, 128, (1, 20, 7, 7), dtype=np.int8),
              "w": rng.integers(-128, 128, (24, 20, 3, 3), dtype=np.int8),
              "bias": rng.integers(-20000, 20000, 24).astype(np.int32),
              "multiplier": rng.integers(100, 400, 24).astype(np.int32),
              "shift": rng.integers(14, 18, 24).astype(np.int32),
              "residual": rng.integers(-128, 128, (1, 24, 7, 7), dtype=np.int8)}
    return op, inputs


@pytest.mark.parametrize("cfg", [TINY, DEFAULT], ids=["tiny", "default"])
def test_output_offset_is_one_add_pass_bit_exact(cfg):
    op, inputs = _offset_conv()
    c = compile_op(op, cfg)
    adds = [n.insn for n in c.instrs if isinstance(n.insn, isa.Alu)
            and n.insn.alu_op == isa.AluOp.ADD and n.insn.use_imm]
    assert adds and {a.imm for a in adds} == {-100}
    assert isa.AluOp.OUTMODE not in _alu_ops(c)
    want = ref.run(op, inputs)
    assert len(np.unique(want)) > 50 and np.any(want == -100) and np.any(want == 127)
    np.testing.assert_array_equal(run_compiled(c, inputs).output, want)


def test_a_dropped_output_offset_is_caught():
    """Mutation: the compiled program with its offset ADD turned into ADD 0 runs, and the
    bit-exact check against the reference fails."""
    from dataclasses import replace
    op, inputs = _offset_conv()
    c = compile_op(op, TINY)
    nodes = tuple(replace(n, insn=replace(n.insn, imm=0))
                  if getattr(n, "insn", None) is not None and isinstance(n.insn, isa.Alu)
                  and n.insn.alu_op == isa.AluOp.ADD and n.insn.use_imm else n
                  for n in c.program.nodes)
    mutant = replace(c, program=replace(c.program, nodes=nodes))
    got = run_compiled(mutant, inputs).output
    assert not np.array_equal(got, ref.run(op, inputs))
    np.testing.assert_array_equal(got, ref.run(replace(op, epilogue=replace(
        op.epilogue, offset=0)), inputs))  # exactly the offset went missing


def _iterations(dims: tuple[Dim, ...], offset=(0, 0, 0)) -> list[tuple[int, int, int]]:
    out = []
    for point in itertools.product(*(range(d.extent) for d in dims)):
        out.append(tuple(offset[w] + sum(v * (d.dst, d.src, d.wgt)[w]
                                         for v, d in zip(point, dims, strict=True))
                         for w in range(3)))
    return out


@settings(max_examples=60, deadline=None)
@given(ext=st.lists(st.integers(1, 4), min_size=6, max_size=6))
def test_overwrite_pieces_cover_the_tile_once(ext):
    """The overwrite piece writes every accumulator exactly once; with the other pieces it
    covers the tile's iterations exactly (as a multiset)."""
    co, ci, kh, kw, oh, ow = ext
    dims = (Dim("co", co, dst=oh * ow, wgt=ci * kh * kw), Dim("ci", ci, src=50, wgt=kh * kw,
                                                             reduce=True),
            Dim("kh", kh, src=9, wgt=kw, reduce=True), Dim("kw", kw, src=1, wgt=1, reduce=True),
            Dim("oh", oh, dst=ow, src=9), Dim("ow", ow, dst=1, src=1))
    pieces = gemm_pieces(dims, DEFAULT, None, True)
    assert pieces[0].overwrite and not any(p.overwrite for p in pieces[1:])
    first = _iterations(pieces[0].dims, pieces[0].offset)
    assert sorted(i[0] for i in first) == list(range(co * oh * ow))
    got = sorted(it for p in pieces for it in _iterations(p.dims, p.offset))
    assert got == sorted(_iterations(dims))
