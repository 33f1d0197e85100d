"""Architectural state: the on-chip buffers and the DRAM image, as typed numpy arrays.

Buffers are indexed by element (the unit micro-ops address), with lanes as trailing axes, so
one instruction's data effect is one fancy-indexed numpy operation over all its iterations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vta_hw import isa
from vta_hw.config import HwConfig


def lane_dtype(bits: int) -> np.dtype:
    """The numpy dtype of a signed ``bits``-bit lane, little-endian as in DRAM."""
    return np.dtype(f"<i{bits // 8}")


UOP_DTYPE = np.dtype(isa.UOP_DTYPE)  # an encoded micro-op


def uop_fields(cfg: HwConfig) -> dict[str, tuple[int, int]]:
    """``name -> (shift, mask)`` of the micro-op fields, from the ISA table."""
    return {name: (lsb, (1 << w) - 1) for name, (lsb, w) in isa.uop_format(cfg).offsets.items()}


@dataclass
class MachineState:
    """Mutable state of one run (owned by one Simulator; never shared)."""

    cfg: HwConfig
    dram: np.ndarray  # uint8, the whole DRAM image
    uop: np.ndarray  # UOP_DTYPE [uop_depth]
    inp: np.ndarray  # lane_dtype(inp_width) [inp_depth, batch, block_in]
    wgt: np.ndarray  # lane_dtype(wgt_width) [wgt_depth, block_out, block_in]
    acc: np.ndarray  # lane_dtype(acc_width) [acc_depth, batch, block_out]
    out: np.ndarray  # lane_dtype(out_width) [out_depth, batch, block_out]
    out_shift: int = 0  # the GEMM out mirror's mode, set by ALU OUTMODE (isa.out_mode_fields)
    out_relu: bool = False

    @classmethod
    def fresh(cls, cfg: HwConfig, dram: bytes | bytearray | np.ndarray) -> MachineState:
        """Zeroed buffers (the RTL's reset state) and a private copy of ``dram``."""
        b, bi, bo = cfg.batch, cfg.block_in, cfg.block_out
        return cls(
            cfg=cfg,
            dram=np.frombuffer(bytes(dram), dtype=np.uint8).copy(),
            uop=np.zeros(cfg.uop_buff_depth, UOP_DTYPE),
            inp=np.zeros((cfg.inp_buff_depth, b, bi), lane_dtype(cfg.inp_width)),
            wgt=np.zeros((cfg.wgt_buff_depth, bo, bi), lane_dtype(cfg.wgt_width)),
            acc=np.zeros((cfg.acc_buff_depth, b, bo), lane_dtype(cfg.acc_width)),
            out=np.zeros((cfg.out_buff_depth, b, bo), lane_dtype(cfg.out_width)),
        )

    def sram(self, mem: isa.MemType) -> np.ndarray:
        """The buffer a LOAD of ``mem`` writes (ACC8 writes acc) or a STORE reads."""
        return getattr(self, isa.sram_buffer(mem))
