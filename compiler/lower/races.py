"""Race check of a compiled stream: the last verification of every compiled program.

``check_tokens`` proves the token stream balanced and deadlock-free; it does not prove the
tokens order every pair of accesses that conflict.  This check does, on the final ISA
instructions, with the simulator layer's race checker (:mod:`vta_sim.races`): the program's
tensors are laid out at canonical addresses (declaration order, 256-byte aligned, as in
``CompiledOp.asm``), its instructions linked there, and its micro-op kernels written into
the image where the micro-op LOADs read them.  Any layout gives the same verdict: distinct
tensors never share DRAM bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from compiler.ir import Program
from compiler.layout import UopLayout
from vta_hw import isa
from vta_sim.races import RaceReport, check_races

ALIGN = 256


def canonical_image(p: Program, uop_data: Mapping[str, np.ndarray] | None = None
                    ) -> tuple[list[isa.Insn], np.ndarray]:
    """``p``'s instructions linked at canonical tensor addresses, and a DRAM image holding
    only its micro-op tensors (``uop_data``: tensor name -> words; by default the
    program's own kernels for every micro-op tensor)."""
    addrs, pos = {}, 0
    for t in p.tensors:
        pos = -(-pos // ALIGN) * ALIGN
        addrs[t.name] = pos
        pos += t.layout.nbytes
    image = np.zeros(pos, np.uint8)
    for t in p.tensors:
        if not isinstance(t.layout, UopLayout):
            continue
        if uop_data is not None:
            words = uop_data[t.name]
        else:
            from compiler.lower.dma import uop_words

            words = uop_words(p)
        raw = np.ascontiguousarray(words, dtype="<u4").view(np.uint8)
        image[addrs[t.name]:addrs[t.name] + raw.size] = raw
    insns = []
    for n in p.instrs():
        insn = n.insn
        if n.tensor is not None:
            eb = isa.elem_bytes(p.cfg, insn.mem)
            insn = replace(insn, dram_base=insn.dram_base + addrs[n.tensor] // eb)
        insns.append(insn)
    return insns, image


def check_program_races(p: Program, uop_data: Mapping[str, np.ndarray] | None = None
                        ) -> RaceReport:
    """Raise :class:`vta_sim.races.RaceError` if two modules' accesses in ``p`` conflict
    without a token chain ordering them; return the (empty) report otherwise."""
    insns, image = canonical_image(p, uop_data)
    return check_races(insns, p.cfg, image)


__all__ = ["canonical_image", "check_program_races"]
