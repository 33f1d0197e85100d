"""Pass ``dma``: tile loads and stores -> 2-D LOAD/STORE instructions, plus the micro-ops.

A tile box of a DRAM tensor maps to as few DMAs as the layout allows: dims whose DRAM rows
are contiguous merge (a whole input-channel chunk of a halo'd activation is one LOAD), the
last two remaining dims become a DMA's rows and columns, outer ones a loop of DMAs.  Box
parts outside the stored tensor (convolution padding not stored as a halo) become the
LOAD's pad rows and columns, filled with the operator's pad value; boxes needing padding
get one DMA per channel block.  Field limits (sizes, strides, pads) come from
``isa.formats(cfg)``.  Finally the program's micro-op kernels are concatenated into a
``uops`` tensor, loaded into the micro-op buffer by the first instruction.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import replace

import numpy as np

from compiler.errors import ScheduleError, VerifyError
from compiler.ir import Access, Instr, LoadTile, Program, StoreTile, TensorDecl
from compiler.layout import ConstLayout, UopLayout
from opset.layout import ActLayout
from vta_hw import isa

M = isa.MemType
BUF = {M.INP: "inp", M.WGT: "wgt", M.ACC: "acc", M.ACC8: "acc", M.UOP: "uop", M.OUT: "acc"}


def _geometry(t: TensorDecl) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...],
                                      tuple[int, ...]]:
    """(element strides, stored coordinate range per dim, coordinate shift) of a tensor."""
    lay = getattr(t.layout, "act", t.layout)
    if isinstance(lay, ActLayout):
        hh, hw = lay.halo
        return (lay.strides, ((0, lay.n_blocks), (0, lay.c_blocks), (-hh, lay.h + hh),
                              (-hw, lay.w + hw)), (0, 0, hh, hw))
    if isinstance(lay, (ConstLayout, UopLayout)):
        return (1,), ((0, lay.elems),), (0,)
    return lay.strides, tuple((0, s) for s in lay.shape[:4]), (0, 0, 0, 0)


@functools.lru_cache(maxsize=64)
def _limits(cfg) -> dict[str, int]:
    f = isa.formats(cfg)[isa.Opcode.LOAD]
    return {k: f.field(k).max for k in ("y_size", "x_size", "x_stride", "y_pad_0")}


def _dense_strides(extent: tuple[int, ...]) -> list[int]:
    out, acc = [], 1
    for e in reversed(extent):
        out.append(acc)
        acc *= e
    return out[::-1]


def box_dmas(cfg, t: TensorDecl, origin: tuple[int, ...], extent: tuple[int, ...],
             sram: int, store: bool, pad_value: int = 0, what: str = "",
             step: tuple[int, ...] = ()) -> list[isa.Insn]:
    """The DMA instructions moving one box (``dram_base`` relative to the tensor)."""
    strides0, ranges, shift = _geometry(t)
    lim = _limits(cfg)
    nd = len(origin)
    step = tuple(step) or (1,) * nd
    if len(extent) != nd or len(strides0) != nd or len(step) != nd:
        raise VerifyError(f"{what}: box {origin}+{extent} does not match tensor {t.name} "
                          f"({nd} vs {len(strides0)} dims)")
    strides = tuple(s * k for s, k in zip(strides0, step, strict=True))
    # In box units: element k of dim d is coordinate origin[d] + k * step[d].
    klo = [min(e, max(0, -(-(r[0] - o) // k))) for o, e, k, r in
           zip(origin, extent, step, ranges, strict=True)]
    khi = [max(a, min(e, -(-(r[1] - o) // k))) for o, e, k, r, a in
           zip(origin, extent, step, ranges, klo, strict=True)]
    lo = [o + a * k for o, a, k in zip(origin, klo, step, strict=True)]  # first data coord
    before = list(klo)
    after = [e - b for e, b in zip(extent, khi, strict=True)]
    padded = any(before) or any(a > 0 for a in after)
    dense = _dense_strides(extent)
    cls = isa.Store if store else isa.Load
    common = {"mem": t.mem} if not store else {}
    out: list[isa.Insn] = []
    if padded:
        if store:
            raise VerifyError(f"{what}: store box {origin}+{extent} leaves tensor {t.name}")
        if nd < 2 or any(before[:-2]) or any(a > 0 for a in after[:-2]):
            raise VerifyError(f"{what}: box {origin}+{extent} needs padding outside the last "
                              f"two dims of {t.name}")
        pads = [before[-2], max(0, after[-2]), before[-1], max(0, after[-1])]
        ny, nx = khi[-2] - klo[-2], khi[-1] - klo[-1]
        if ny == 0:  # only pad rows: write them full width without reading DRAM
            pads, nx = [extent[-2], 0, 0, 0], extent[-1]
        elif nx == 0:
            pads = [pads[0], pads[1], extent[-1], 0]
        if max(pads) > lim["y_pad_0"]:
            raise ScheduleError(f"{what}: the load of {t.name} needs padding {max(pads)} > "
                                f"the DMA pad field limit {lim['y_pad_0']}; store the "
                                f"padding as a halo (LayoutOptions.input_halo)")
        for outer in itertools.product(*(range(e) for e in extent[:-2])):
            coord = [origin[d] + outer[d] * step[d] for d in range(nd - 2)] + [lo[-2], lo[-1]]
            base = sum((c + s) * st for c, s, st in zip(coord, shift, strides0, strict=True))
            sb = sram + sum(i * dense[d] for d, i in enumerate(outer))
            out.append(cls(sram_base=sb, dram_base=base if ny and nx else 0, y_size=ny,
                           x_size=nx, x_stride=strides[-2] if ny and nx else 0,
                           y_pad_0=pads[0], y_pad_1=pads[1], x_pad_0=pads[2],
                           x_pad_1=pads[3], pad_value=pad_value, **common))
        return out
    # No padding: merge DRAM-contiguous dims from the inside out.
    dims = [[extent[d], strides[d], dense[d]] for d in range(nd)]
    merged: list[list[int]] = []
    for d in reversed(range(nd)):
        e, st, sd = dims[d]
        if e == 1 and merged:
            continue
        if merged:
            ie, ist, _ = merged[-1]
            if st == ie * ist and ie * e <= lim["x_size"]:
                merged[-1][0] = ie * e
                continue
        merged.append([e, st, sd])
    merged.reverse()  # outer .. inner
    x = merged[-1]
    if x[1] != 1:
        raise VerifyError(f"{what}: innermost dim of {t.name} is not contiguous")
    y = merged[-2] if len(merged) > 1 and merged[-2][1] <= lim["x_stride"] else None
    loops = merged[:-2] if y is not None else merged[:-1]
    y_size, y_stride = (y[0], y[1]) if y is not None else (1, x[0])
    if x[0] > lim["x_size"] or y_size > lim["y_size"]:
        raise ScheduleError(f"{what}: a DMA of {t.name} needs {y_size} x {x[0]} elements, more "
                            f"than the y_size/x_size field limits ({lim['y_size']}, "
                            f"{lim['x_size']})")
    base0 = sum((o + s) * st for o, s, st in zip(origin, shift, strides0, strict=True))
    for idx in itertools.product(*(range(lp[0]) for lp in loops)):
        db = base0 + sum(i * lp[1] for i, lp in zip(idx, loops, strict=True))
        sb = sram + sum(i * lp[2] for i, lp in zip(idx, loops, strict=True))
        out.append(cls(sram_base=sb, dram_base=db, y_size=y_size, x_size=x[0],
                       x_stride=y_stride if y is not None else x[0], **common))
    return out


def _instr(insn: isa.Insn, t: TensorDecl, store: bool, tag: str) -> Instr:
    n = insn.sram_elems if not store else insn.y_size * insn.x_size
    sram = Access(BUF[t.mem], insn.sram_base, insn.sram_base + n)
    dram = Access(f"dram:{t.name}")
    if store:
        return Instr(insn, reads=(sram,), writes=(dram,), tensor=t.name, tag=tag)
    return Instr(insn, reads=(dram,), writes=(sram,), tensor=t.name, tag=tag)


def insert_dma(p: Program) -> Program:
    nodes: list = []
    for n in p.nodes:
        if isinstance(n, LoadTile):
            t = p.tensor(n.tensor)
            for insn in box_dmas(p.cfg, t, n.origin, n.extent, p.addr(n.dst), False,
                                 n.pad_value, f"tile {n.tag}", n.step):
                nodes.append(_instr(insn, t, False, n.tag))
        elif isinstance(n, StoreTile):
            t = p.tensor(n.tensor)
            for insn in box_dmas(p.cfg, t, n.origin, n.extent, p.addr(n.src), True,
                                 what=f"tile {n.tag}"):
                nodes.append(_instr(insn, t, True, n.tag))
        else:
            nodes.append(n)
    total = p.uop_count
    if total > p.cfg.uop_buff_depth:
        raise ScheduleError(f"uop buffer: the program's micro-op kernels need {total} entries "
                            f"> uop_buff_depth {p.cfg.uop_buff_depth}; use smaller tiles or "
                            f"fewer virtual threads")
    tensors = p.tensors
    head: list = []
    if total:
        t = TensorDecl("uops", "const", M.UOP, UopLayout(total))
        tensors = tensors + (t,)
        step = _limits(p.cfg)["x_size"]
        for lo in range(0, total, step):
            n = min(step, total - lo)
            insn = isa.Load(mem=M.UOP, sram_base=lo, dram_base=lo, y_size=1, x_size=n,
                            x_stride=n)
            head.append(_instr(insn, t, False, "uops"))
    return replace(p, tensors=tensors, nodes=tuple(head + nodes), stage="dma")


def uop_words(p: Program) -> np.ndarray:
    """The concatenated kernels as encoded micro-op words (the ``uops`` tensor's data)."""
    return np.array([isa.encode_uop(u, p.cfg) for k in p.kernels for u in k],
                    dtype=isa.UOP_DTYPE)


__all__ = ["insert_dma", "box_dmas", "uop_words"]
