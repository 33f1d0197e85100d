"""Pass ``alu_epilogue``: accumulator initialisation, fused epilogues and ALU tiles -> ALU.

* :class:`InitTile` -> ``ALU reset`` (zero), or ``ALU MOV`` of the per-channel bias from the
  constants region when the epilogue has a bias (one tensor op instead of reset + add).
* :class:`EpilogueTile` -> the sequence of ``opset/requant.py``: ADD bias (if not
  folded into the init), RSHR pre_shift, MUL multiplier, RSHR shift (immediates, or tensor
  operands from the constants region when per-channel), ADD residual (tensor), ADD the
  offset (the output zero point, an immediate), MAX 0 for ReLU merged with the lower clip
  bound, MIN for the upper one.  Clips at or beyond the int8
  range are dropped: the out buffer saturates every write anyway.
* An :class:`EpilogueTile` of a GEMM operator whose epilogue is at most a rounding shift
  and a clamp to ``[0 or -128, 127]`` (``Epilogue.out_mode``) -> nothing: the program starts
  with ``ALU OUTMODE`` so the GEMM out mirror requantizes every output as it is written,
  and ends with the identity mode again (ops chained after it expect plain saturation).
* :class:`AluTile` -> ALU instructions over micro-op kernels, folded like GEMM loops
  (``tensorize.plan_loops`` with the ALU hazard window, which also forbids reading an
  accumulator an iteration in flight writes).

Requantization never overflows for accumulators within the bound given to
:meth:`~opset.requant.Requant.from_scale`; wrapping is modelled bit-exactly by the
reference either way.
"""

from __future__ import annotations

from dataclasses import replace

from compiler.errors import VerifyError
from compiler.ir import (
    Access,
    AluTile,
    Dim,
    EpilogueTile,
    InitTile,
    Instr,
    Program,
    Ref,
)
from compiler.lower.tensorize import (
    KernelTable,
    expand_plan,
    kernel_key,
    make_uops,
    span,
)
from compiler.schedule.loops import plan_loops
from opset.requant import INT8_MAX, INT8_MIN
from vta_hw import isa


def _flat(n: int) -> tuple[Dim, ...]:
    return (Dim("e", n, dst=1),)


def _per_channel(co: int, pix: int) -> tuple[Dim, ...]:
    return (Dim("co", co, dst=pix, src=1), Dim("p", pix, dst=1))


def _const(ref: Ref | None, row: int, stride: int) -> Ref:
    assert ref is not None, "per-channel constants need a constants region"
    return Ref(ref.region, ref.offset + row * stride)


def expand_init(n: InitTile) -> list[AluTile]:
    if n.bias is None:
        return [AluTile(isa.AluOp.MIN, n.acc, _flat(n.co * n.pix), reset=True, tag=n.tag)]
    return [AluTile(isa.AluOp.MOV, n.acc, _per_channel(n.co, n.pix), src=n.bias, tag=n.tag)]


def mirror_mode(n: EpilogueTile) -> tuple[int, bool] | None:
    """The OUTMODE ``(shift, relu)`` that replaces this epilogue's ALU passes, or None."""
    if not n.mirror or (n.epilogue.bias and not n.bias_done):
        return None
    return n.epilogue.out_mode()


def expand_epilogue(n: EpilogueTile) -> list[AluTile]:
    if mirror_mode(n) is not None:
        return []  # the GEMM out mirror does it (lower_alu_epilogue sets the mode)
    ep = n.epilogue
    rows = ep.const_rows()
    flat, chan = _flat(n.co * n.pix), _per_channel(n.co, n.pix)
    out: list[AluTile] = []

    def imm(op: isa.AluOp, v: int) -> None:
        out.append(AluTile(op, n.acc, flat, imm=v, tag=n.tag))

    def tensor(op: isa.AluOp, row: str) -> None:
        src = _const(n.consts, rows.index(row), n.const_stride)
        out.append(AluTile(op, n.acc, chan, src=src, tag=n.tag))

    if ep.bias and not n.bias_done:
        tensor(isa.AluOp.ADD, "bias")
    rq = ep.requant
    if rq is not None:
        if rq.pre_shift:
            imm(isa.AluOp.RSHR, rq.pre_shift)
        if rq.per_channel:
            tensor(isa.AluOp.MUL, "multiplier")
            tensor(isa.AluOp.RSHR, "shift")
        else:
            if rq.multiplier != 1:
                imm(isa.AluOp.MUL, rq.multiplier)
            if rq.shift:
                imm(isa.AluOp.RSHR, rq.shift)
    if ep.residual:
        assert n.residual is not None
        out.append(AluTile(isa.AluOp.ADD, n.acc,
                           (Dim("e", n.co * n.pix, dst=1, src=1),), src=n.residual, tag=n.tag))
    if ep.offset:
        imm(isa.AluOp.ADD, ep.offset)
    lo, hi = ep.bounds()
    if lo > INT8_MIN:  # ReLU and the lower clip bound in one MAX
        imm(isa.AluOp.MAX, lo)
    if hi < INT8_MAX:  # bounds beyond int8 are free: the out path saturates
        imm(isa.AluOp.MIN, hi)
    return out


def lower_alu(p: Program, n: AluTile, table: KernelTable) -> list[Instr]:
    tensor_op = n.src is not None and not n.reset
    dst0 = p.addr(n.dst)
    src0 = p.addr(n.src) if tensor_op else 0
    dims = n.dims
    plan = plan_loops(dims, p.cfg, False, check_src=tensor_op, src_offset=src0 - dst0)
    reads = [Access("acc", *span(dims, 0, dst0))] if not n.reset else []
    if tensor_op:
        reads.append(Access("acc", *span(dims, 1, src0)))
    writes = (Access("acc", *span(dims, 0, dst0)),)
    out = []
    for li in expand_plan(dims, plan, (dst0, src0, 0)):
        triples = [(u.dst, u.src if tensor_op else 0, 0) for u in li.uops]
        uops = make_uops(triples)
        loops = {k: v for k, v in li.loops.items() if not k.startswith("wgt")}
        if not tensor_op:
            loops = {k: (0 if k.startswith("src") else v) for k, v in loops.items()}
        insn = isa.Alu(uop_bgn=0, uop_end=len(uops), reset=n.reset, alu_op=n.op,
                       use_imm=not tensor_op and not n.reset, imm=0 if n.reset else n.imm,
                       **loops)
        out.append(Instr(insn, reads=tuple(reads), writes=writes,
                         kernel=table.add(uops, kernel_key(triples)), tag=n.tag))
    return out


def out_mode_instr(shift: int, relu: bool) -> Instr:
    """``ALU OUTMODE``: no iterations, touches no buffer (ordered by the compute module's
    own instruction order, which every pass keeps)."""
    return Instr(isa.Alu(alu_op=isa.AluOp.OUTMODE, use_imm=True,
                         imm=isa.out_mode_imm(shift, relu)), tag="out_mode")


def lower_alu_epilogue(p: Program) -> Program:
    """Expand init/epilogue tiles into ALU tiles and lower every ALU tile to instructions."""
    table = KernelTable(p.kernels)
    modes = {mirror_mode(n) for n in p.nodes if isinstance(n, EpilogueTile)}
    if len(modes) > 1:  # pragma: no cover - one operator has one epilogue
        raise VerifyError(f"epilogue tiles of one program disagree on the out mode: {modes}")
    mode = modes.pop() if modes else None
    nodes = [out_mode_instr(*mode)] if mode is not None else []
    for n in p.nodes:
        if isinstance(n, InitTile):
            tiles = expand_init(n)
        elif isinstance(n, EpilogueTile):
            tiles = expand_epilogue(n)
        elif isinstance(n, AluTile):
            tiles = [n]
        else:
            nodes.append(n)
            continue
        for t in tiles:
            nodes.extend(lower_alu(p, t, table))
    if mode is not None:
        nodes.append(out_mode_instr(0, False))
    return replace(p, nodes=tuple(nodes), kernels=table.freeze(), stage="alu_epilogue")


__all__ = ["lower_alu_epilogue", "expand_init", "expand_epilogue", "lower_alu", "mirror_mode",
           "out_mode_instr"]
