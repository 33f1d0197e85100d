"""Pass ``emit``: place the micro-op kernels and produce final ISA instructions.

Kernels are concatenated in the order of ``Program.kernels`` (the ``uops`` tensor that
``dma`` loads at micro-op 0), so each GEMM/ALU's ``uop_bgn``/``uop_end`` becomes absolute.
DRAM addresses stay relative to their tensors until the program is linked at given
addresses (``CompiledOp.link``), which is what lets a graph compiler place many operators in
one bundle.
"""

from __future__ import annotations

from dataclasses import replace

from compiler.ir import Instr, Program
from vta_hw import isa


def emit(p: Program) -> Program:
    offsets = p.kernel_offsets()
    nodes = []
    for n in p.nodes:
        if isinstance(n, Instr) and n.kernel is not None:
            off = offsets[n.kernel]
            insn = n.insn
            assert isinstance(insn, (isa.Gemm, isa.Alu))
            n = replace(n, insn=replace(insn, uop_bgn=insn.uop_bgn + off,
                                        uop_end=insn.uop_end + off), kernel=None)
        nodes.append(n)
    return replace(p, nodes=tuple(nodes), stage="emit")


__all__ = ["emit"]
