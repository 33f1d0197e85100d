"""Golden reference of the ISA's data semantics: slow, simple, obviously correct.

One Python-int operation per lane per micro-op, instructions in program order, no timing.
For race-free programs (tokens order every cross-module access) program order gives the
same final state as any legal timing, so the vectorized simulator must equal this bit for
bit.  Nothing here is shared with ``vta_sim``: only the ISA tables (the contract) are used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vta_hw import isa
from vta_hw.config import HwConfig


def wrap32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def sat8(v: int) -> int:
    return max(-128, min(127, v))


def shift_amount(y: int) -> int:
    s = y & 0x3F
    return s - 64 if s & 0x20 else s


def alu(op: isa.AluOp, x: int, y: int) -> int:
    """One ALU lane: x is acc[dst] (int32), y the operand (int32 or sign-extended imm)."""
    if op == isa.AluOp.MIN:
        return min(x, y)
    if op == isa.AluOp.MAX:
        return max(x, y)
    if op == isa.AluOp.ADD:
        return wrap32(x + y)
    if op == isa.AluOp.MUL:
        return wrap32(x * y)
    if op == isa.AluOp.MOV:
        return y
    s = shift_amount(y)
    if op == isa.AluOp.SHR:
        return wrap32(x >> s) if s >= 0 else wrap32(x << -s)
    if op == isa.AluOp.RSHR:
        if s > 0:
            return wrap32((x + (1 << (s - 1))) >> s)
        return wrap32(x << -s)
    raise ValueError(op)


@dataclass
class RefMachine:
    """Buffers as Python lists of lane lists; DRAM as a bytearray."""

    cfg: HwConfig
    dram: bytearray
    uop: list[int] = field(default_factory=list)
    inp: list[list[int]] = field(default_factory=list)
    wgt: list[list[int]] = field(default_factory=list)
    acc: list[list[int]] = field(default_factory=list)
    out: list[list[int]] = field(default_factory=list)
    out_mode: tuple[int, bool] = (0, False)  # (shift, relu) of the GEMM out mirror

    def __post_init__(self) -> None:
        c = self.cfg
        self.uop = [0] * c.uop_buff_depth
        self.inp = [[0] * (c.batch * c.block_in) for _ in range(c.inp_buff_depth)]
        self.wgt = [[0] * (c.block_out * c.block_in) for _ in range(c.wgt_buff_depth)]
        self.acc = [[0] * (c.batch * c.block_out) for _ in range(c.acc_buff_depth)]
        self.out = [[0] * (c.batch * c.block_out) for _ in range(c.out_buff_depth)]

    # -------------------------------------------------------------- element codecs
    def _read_elem(self, mem: isa.MemType, index: int) -> list[int] | int:
        e = isa.elem_bytes(self.cfg, mem)
        raw = bytes(self.dram[index * e:(index + 1) * e])
        if len(raw) != e:
            raise IndexError(f"DRAM element {index} of {mem.name} out of range")
        if mem == isa.MemType.UOP:
            return int.from_bytes(raw, "little")
        if mem == isa.MemType.ACC:
            return [int.from_bytes(raw[i:i + 4], "little", signed=True) for i in range(0, e, 4)]
        return [b - 256 if b > 127 else b for b in raw]

    def _write_acc(self, i: int, lanes: list[int], gemm: bool = False) -> None:
        self.acc[i] = lanes
        if i < self.cfg.out_buff_depth:
            shift, relu = self.out_mode if gemm else (0, False)
            lo = 0 if relu else -128
            self.out[i] = [min(127, max(lo, (v + (1 << shift >> 1)) >> shift)) for v in lanes]

    # -------------------------------------------------------------- instructions
    def load(self, ins: isa.Load) -> None:
        c = self.cfg
        lanes = {isa.MemType.INP: c.batch * c.block_in, isa.MemType.WGT: c.block_out * c.block_in,
                 isa.MemType.ACC: c.batch * c.block_out, isa.MemType.ACC8: c.batch * c.block_out,
                 isa.MemType.UOP: 1}[ins.mem]
        i = ins.sram_base
        for r in range(ins.rows):
            for col in range(ins.cols):
                y, x = r - ins.y_pad_0, col - ins.x_pad_0
                if 0 <= y < ins.y_size and 0 <= x < ins.x_size:
                    v = self._read_elem(ins.mem, ins.dram_base + y * ins.x_stride + x)
                else:
                    v = ins.pad_value if ins.mem == isa.MemType.UOP else [ins.pad_value] * lanes
                if ins.mem == isa.MemType.UOP:
                    self.uop[i] = v
                elif ins.mem == isa.MemType.INP:
                    self.inp[i] = list(v)
                elif ins.mem == isa.MemType.WGT:
                    self.wgt[i] = list(v)
                else:
                    self._write_acc(i, list(v))
                i += 1

    def store(self, ins: isa.Store) -> None:
        e = self.cfg.out_elem_bytes
        i = ins.sram_base
        for y in range(ins.y_size):
            for x in range(ins.x_size):
                d = (ins.dram_base + y * ins.x_stride + x) * e
                if d + e > len(self.dram):
                    raise IndexError("store out of DRAM range")
                self.dram[d:d + e] = bytes(v & 0xFF for v in self.out[i])
                i += 1

    def _uop(self, k: int) -> dict[str, int]:
        word = self.uop[k]
        return {name: (word >> lsb) & ((1 << w) - 1)
                for name, (lsb, w) in isa.uop_format(self.cfg).offsets.items()}

    def _iterations(self, ins: isa.Gemm | isa.Alu):
        for i0 in range(ins.iter_out):
            for i1 in range(ins.iter_in):
                for k in range(ins.uop_bgn, ins.uop_end):
                    u = self._uop(k)
                    dst = u["dst"] + i0 * ins.dst_factor_out + i1 * ins.dst_factor_in
                    src = u["src"] + i0 * ins.src_factor_out + i1 * ins.src_factor_in
                    wgt = u["wgt"]
                    if isinstance(ins, isa.Gemm):
                        wgt += i0 * ins.wgt_factor_out + i1 * ins.wgt_factor_in
                    yield dst, src, wgt

    def gemm(self, ins: isa.Gemm) -> None:
        c = self.cfg
        for dst, src, wgt in self._iterations(ins):
            if ins.reset:
                self._write_acc(dst, [0] * (c.batch * c.block_out), gemm=True)
                continue
            a, w = self.inp[src], self.wgt[wgt]
            lanes = [0] * (c.batch * c.block_out) if ins.overwrite else list(self.acc[dst])
            for b in range(c.batch):
                for o in range(c.block_out):
                    s = sum(a[b * c.block_in + i] * w[o * c.block_in + i]
                            for i in range(c.block_in))
                    lanes[b * c.block_out + o] = wrap32(lanes[b * c.block_out + o] + s)
            self._write_acc(dst, lanes, gemm=True)

    def alu_insn(self, ins: isa.Alu) -> None:
        n = self.cfg.batch * self.cfg.block_out
        if ins.alu_op == isa.AluOp.OUTMODE:
            self.out_mode = isa.out_mode_fields(ins.imm)
        for dst, src, _ in self._iterations(ins):
            if ins.reset:
                self._write_acc(dst, [0] * n)
                continue
            if ins.alu_op == isa.AluOp.OUTMODE:
                continue
            y = [ins.imm] * n if ins.use_imm else self.acc[src]
            self._write_acc(dst, [alu(ins.alu_op, x, yy) for x, yy in zip(self.acc[dst], y,
                                                                          strict=True)])

    def run(self, insns: list[isa.Insn]) -> None:
        for ins in insns:
            if isinstance(ins, isa.Load):
                self.load(ins)
            elif isinstance(ins, isa.Store):
                self.store(ins)
            elif isinstance(ins, isa.Gemm):
                self.gemm(ins)
            elif isinstance(ins, isa.Alu):
                self.alu_insn(ins)

    def acc_array(self) -> np.ndarray:
        c = self.cfg
        return np.array(self.acc, dtype=np.int64).reshape(c.acc_buff_depth, c.batch, c.block_out)


def run_reference(bundle) -> RefMachine:
    """Execute a bundle's program on the reference machine; returns it (final state)."""
    m = RefMachine(bundle.config, bytearray(bundle.dram))
    m.run(bundle.instructions())
    return m
