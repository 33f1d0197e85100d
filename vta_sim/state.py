"""Architectural state: the on-chip buffers and the DRAM image, as typed numpy arrays.

Buffers are indexed by element (the unit micro-ops address), with lanes as trailing axes, so
one instruction's data effect is one fancy-indexed numpy operation over all its iterations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vta_hw import isa
from vta_hw.config import HwConfig


def uop_fields(cfg: HwConfig) -> dict[str, tuple[int, int]]:
    """``name -> (shift, mask)`` of the micro-op fields, from the ISA table."""
    return {name: (lsb, (1 << w) - 1) for name, (lsb, w) in isa.uop_format(cfg).offsets.items()}


@dataclass
class MachineState:
    """Mutable state of one run (owned by one Simulator; never shared)."""

    cfg: HwConfig
    dram: np.ndarray  # uint8, the whole DRAM image
    uop: np.ndarray  # uint32 [uop_depth]
    inp: np.ndarray  # int8 [inp_depth, batch, block_in]
    wgt: np.ndarray  # int8 [wgt_depth, block_out, block_in]
    acc: np.ndarray  # int32 [acc_depth, batch, block_out]
    out: np.ndarray  # int8 [out_depth, batch, block_out]
    out_shift: int = 0  # the GEMM out mirror's mode, set by ALU OUTMODE (isa.out_mode_fields)
    out_relu: bool = False

    @classmethod
    def fresh(cls, cfg: HwConfig, dram: bytes | bytearray | np.ndarray) -> MachineState:
        """Zeroed buffers (the RTL's reset state) and a private copy of ``dram``."""
        b, bi, bo = cfg.batch, cfg.block_in, cfg.block_out
        return cls(
            cfg=cfg,
            dram=np.frombuffer(bytes(dram), dtype=np.uint8).copy(),
            uop=np.zeros(cfg.uop_buff_depth, np.uint32),
            inp=np.zeros((cfg.inp_buff_depth, b, bi), np.int8),
            wgt=np.zeros((cfg.wgt_buff_depth, bo, bi), np.int8),
            acc=np.zeros((cfg.acc_buff_depth, b, bo), np.int32),
            out=np.zeros((cfg.out_buff_depth, b, bo), np.int8),
        )

    def sram(self, mem: isa.MemType) -> np.ndarray:
        """The buffer a LOAD of ``mem`` writes (ACC8 writes acc) or a STORE reads."""
        return {
            isa.MemType.UOP: self.uop,
            isa.MemType.INP: self.inp,
            isa.MemType.WGT: self.wgt,
            isa.MemType.ACC: self.acc,
            isa.MemType.ACC8: self.acc,
            isa.MemType.OUT: self.out,
        }[mem]
