"""The LUT4 and flip-flop model of the SoC: structural terms, coefficients fitted to Yosys.

Block RAM and DSPs follow from the configuration exactly (``resources.memories``,
``resources.dsp_plan``); LUTs and flip-flops depend on logic optimisation, so they are a
linear model over *structural* terms -- quantities that each scale like one part of the RTL
(the adder trees with ``lanes x (block_in - 1)`` adders, the ALU and requantizer per acc lane,
Booth multipliers in LUTs, the DMA element registers, the DRAM's byte-lane shifters, the
command queues' LUT RAM and its read muxes, the DRAM ports' request FIFOs and delay lines,
the pipeline registers ``compute.plan`` places or leaves out) -- whose
coefficients are fitted, by non-negative least squares on the relative error, to the Yosys
measurements in ``resource_calibration.json`` (``python -m vta_hw.fpga.calibrate_resources``
regenerates them).

The fit runs once per process, on first use (a few small least-squares problems: ~1 ms).
:func:`cross_validate` reports the leave-one-out error, the honest figure for a
configuration the calibration did not contain; ``docs/fpga.md`` quotes it and
``tests/fpga/test_resource_estimate.py`` asserts it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from math import ceil, log2
from pathlib import Path
from typing import Any

from vta_hw import isa, timing
from vta_hw.config import HwConfig
from vta_hw.fpga.resources import SOC_READERS, buffers  # SOC_READERS: a request FIFO each

TABLE = Path(__file__).with_name("resource_calibration.json")
DRAM_PORTS = ("fetch", "load", "compute", "store")  # the core's ports on the SoC DRAM
LUTRAM_WORDS = 16  # TRELLIS_DPR16X4: 16 words x 4 bits, four LUT4 slots
LUTRAM_BITS = 4
FIFO_WIDTH = 32 + 16 + 3  # a read request: address, length, size bits (approx.)


@dataclass(frozen=True)
class Structure:
    """The quantities of one SoC build that LUT and FF use scale with."""

    soft: int  # GEMM products Booth-mapped to LUTs
    lanes: int  # acc lanes: batch x block_out (ALU, requantizer, accumulate)
    block_in: int
    inp_bits: int  # inp element bits (batch x block_in x 8)
    wgt_bits: int  # wgt element bits (block_out x block_in x 8)
    bus_bits: int  # DRAM data bus
    latency: int  # DRAM latency L (request FIFO depth, delay lines)
    addr_bits: int  # sum of the five buffers' index widths
    pipe_ff: int  # bits of the optional pipeline registers compute.plan places, and of the
    #               read registers of buffers in LUT RAM (block RAM absorbs them)
    queues: tuple[tuple[int, int], ...]  # (depth, width) of the LUT RAMs read
    #               asynchronously: the three command queues, the DRAM request FIFOs
    small_buffers: tuple[tuple[int, int], ...]  # (depth, width): buffers in LUT RAM
    alu_unregistered: int  # lanes x ALU register stages compute.plan leaves out

    @property
    def tree_bits(self) -> int:
        """Adder bits of the GEMM's dot products: lanes x (block_in - 1) adders."""
        return self.lanes * (self.block_in - 1) * (16 + ceil(log2(self.block_in)))

    @property
    def shift_bits(self) -> int:
        """2:1 mux bits of the SoC DRAM's byte-lane shifters (``memory.SocMemory``): each of
        the four ports shifts its beats by their byte offset in the bus word (a read beat
        down, a write beat up), ``log2(bus bytes)`` stages over the whole bus.

        The one term that grows faster than the bus: ``SocMemory`` synthesised alone takes
        1.8k, 2.4k, 3.9k, 7.8k LUT4 at 4, 8, 16, 32 bytes, ~1.2 LUT4 per mux bit of this
        count, and the whole-SoC fit finds ~1.0.  Counting only the bits each port's DMA
        uses (narrow elements leave the high lanes unread) fits the SoC worse: a log
        shifter's early stages need every input bit.  The DMAs' beat assembly, which a
        wider bus removes (the core alone: 590 LUT4 fewer on tiny at 16 bytes than at 4),
        gets no weight in the whole-SoC fit and is not a term."""
        return round(len(DRAM_PORTS) * self.bus_bits * log2(self.bus_bits // 8))

    @property
    def lutram_cells(self) -> int:
        """TRELLIS_DPR16X4 cells (16 words x 4 bits) of the LUT-RAM memories."""
        return sum(_cells(d, w) for d, w in self.queues + self.small_buffers)

    @property
    def lutram_mux_bits(self) -> int:
        """2:1 mux bits that select among a queue's 16-word LUT-RAM cells on its
        asynchronous read: ``width x (cells deep - 1)`` (a 64-entry command queue reads
        through a 4:1 mux).  The small buffers' reads are registered; counting their cells'
        muxes too fits the measurements worse (held-out error 8.7% against 6.5%)."""
        return sum(w * (ceil(d / LUTRAM_WORDS) - 1) for d, w in self.queues)


def _cells(depth: int, width: int) -> int:
    """TRELLIS_DPR16X4 cells of a ``depth x width`` LUT RAM."""
    return ceil(depth / LUTRAM_WORDS) * ceil(width / LUTRAM_BITS)


def _pipe_ff(cfg: HwConfig) -> int:
    """Flip-flops of the optional compute pipeline registers (``compute.plan``)."""
    from vta_hw.rtl.alu import LO
    from vta_hw.rtl.compute import plan

    st = plan(cfg)
    n = cfg.batch * cfg.block_out
    acc, out = cfg.acc_width, cfg.out_width
    hi = acc - LO  # the ALU multiply's cross products keep the bits above LO
    sum_bits = cfg.inp_width + cfg.wgt_width + (cfg.block_in - 1).bit_length()
    bits = {
        "uop": 32, "gemm_in": cfg.inp_elem_bits + cfg.wgt_elem_bits,
        "product": cfg.macs_per_cycle * (cfg.inp_width + cfg.wgt_width),
        "tree": n * sum_bits, "gemm_acc": n * acc, "gemm_out": n * acc,
        "gemm_out_late": n * out, "alu_in": 2 * n * acc, "alu_mid": n * (2 * acc + 2 * hi + 2),
        "alu_out": n * acc, "alu_out_late": n * out,
    }
    return sum(b for k, b in bits.items() if getattr(st, k))


def _alu_unregistered(cfg: HwConfig) -> int:
    """Lanes x the ALU's optional register stages (in, mid, out) ``compute.plan`` leaves out
    for a short ALU pipeline.  Measured, not derived: fewer registers cost LUT4s, ~100 per
    lane per missing stage (``c_pipe_min`` and ``c_4x4x4`` were the two largest
    under-estimates without this term, and the held-out ``v_pipe6_cmdq16`` went from -5.6%
    to -2.8%) -- presumably ABC maps the longer combinational paths less compactly."""
    from vta_hw.rtl.compute import plan

    st = plan(cfg)
    return cfg.batch * cfg.block_out * sum(not getattr(st, k)
                                           for k in ("alu_in", "alu_mid", "alu_out"))


def structure(cfg: HwConfig, soft_products: int) -> Structure:
    small = [b for b in buffers(cfg) if b.blocks == 0]  # in LUT RAM
    dram = timing.dram_timing(cfg)
    queues = (((cfg.cmd_queue_depth, isa.INSN_BITS),) * 3
              + ((dram.read_queue, FIFO_WIDTH),) * SOC_READERS)
    return Structure(
        soft=soft_products, lanes=cfg.batch * cfg.block_out,
        block_in=cfg.block_in, inp_bits=cfg.inp_elem_bits, wgt_bits=cfg.wgt_elem_bits,
        bus_bits=8 * cfg.dram_bytes_per_cycle, latency=dram.read_latency,
        addr_bits=(cfg.log_uop_buff_depth + cfg.log_inp_buff_depth + cfg.log_wgt_buff_depth
                   + cfg.log_acc_buff_depth + cfg.log_out_buff_depth),
        pipe_ff=_pipe_ff(cfg) + sum(b.width for b in small),
        queues=queues, small_buffers=tuple((b.depth, b.width) for b in small),
        alu_unregistered=_alu_unregistered(cfg))


Term = Callable[[Structure], float]

# One term per part of the design; each a quantity the part's size is proportional to.
LUT_TERMS: dict[str, Term] = {
    "fixed": lambda s: 1.0,  # fetch, control, UART bridge, DRAM write path, PLL
    "adder_tree_bits": lambda s: s.tree_bits,
    "booth_products": lambda s: s.soft,
    "acc_lanes": lambda s: s.lanes,  # ALU, requantizer, saturation, accumulate, acc muxes
    "element_bits": lambda s: s.inp_bits + s.wgt_bits,  # load assembly, padding, operands
    "shift_bits": lambda s: s.shift_bits,  # DRAM byte-lane shifters, one per port
    "bus_bits": lambda s: s.bus_bits,  # byte enables, write-path and host muxes per bus bit
    "lutram_cells": lambda s: s.lutram_cells,  # four LUT4 slots each (known, not fitted)
    "lutram_read_mux_bits": lambda s: s.lutram_mux_bits,  # deeper than one 16-word cell
    "address_bits": lambda s: s.addr_bits,
    "alu_unregistered": lambda s: s.alu_unregistered,  # short ALU pipelines
}
FF_TERMS: dict[str, Term] = {
    "fixed": lambda s: 1.0,
    "pipeline_bits": lambda s: s.pipe_ff,
    "acc_lanes": lambda s: s.lanes,  # acc DMA element, out mode, per-lane state
    "load_element_bits": lambda s: max(s.inp_bits, s.wgt_bits, s.bus_bits),
    "bus_bits": lambda s: s.bus_bits,
    "latency": lambda s: s.latency,
    "address_bits": lambda s: s.addr_bits,
}
TERMS: dict[str, dict[str, Term]] = {"lut4": LUT_TERMS, "ff": FF_TERMS}
# Coefficients known from the primitive, not fitted: a TRELLIS_DPR16X4 is four LUT4 slots
# (as ``report.yosys_lut4_estimate`` counts it).
KNOWN: dict[str, dict[str, float]] = {"lut4": {"lutram_cells": 4.0}, "ff": {}}


@dataclass(frozen=True)
class CalibrationPoint:
    """One measured synthesis: the config, the SoC options, Yosys' counts."""

    name: str
    cfg: HwConfig
    dram_bytes: int
    max_write: int
    dsp: str
    counts: dict[str, int]


@dataclass(frozen=True)
class Calibration:
    """The measurement table: points plus the tool and RTL versions they came from."""

    yosys_version: str
    rtl_version: str
    board: str
    points: tuple[CalibrationPoint, ...]


def load_calibration(path: Path = TABLE) -> Calibration:
    data = json.loads(path.read_text())
    pts = tuple(CalibrationPoint(p["name"], HwConfig.from_dict(p["config"]), p["dram_bytes"],
                                 p["max_write"], p["dsp"], dict(p["counts"]))
                for p in data["points"])
    return Calibration(data["yosys_version"], data["rtl_version"], data["board"], pts)


def _soft(p: CalibrationPoint, board_name: str) -> int:
    """Booth-mapped products of a measured point, as the flow chose them."""
    from vta_hw.fpga.boards import board
    from vta_hw.fpga.resources import dsp_plan

    plan = dsp_plan(p.cfg, board(board_name).device)
    return {"auto": plan.soft_products, "lut": plan.gemm_products, "dsp": 0}[p.dsp]


def design_matrix(resource: str, structures: list[Structure]) -> list[list[float]]:
    terms = TERMS[resource].values()
    return [[float(t(s)) for t in terms] for s in structures]


def fit(resource: str, structures: list[Structure], measured: list[int]) -> tuple[float, ...]:
    """Non-negative coefficients minimising the squared *relative* error over the points.

    Every term is a size, so no coefficient may be negative (a negative one would fit the
    table by cancelling a correlated term and extrapolate badly): a term whose coefficient
    comes out negative is dropped (the most negative first) and the rest refitted.
    """
    import numpy as np

    names = list(TERMS[resource])
    known = KNOWN[resource]
    full = np.array(design_matrix(resource, structures))
    y = np.array(measured, dtype=float)
    fixed = np.array([known.get(n, 0.0) for n in names])
    free = [i for i, n in enumerate(names) if n not in known]
    a = full[:, free] / y[:, None]  # relative error: row i divided by its measurement
    target = (y - full @ fixed) / y
    scale = np.abs(a).max(axis=0)
    scale[scale == 0] = 1.0
    a = a / scale  # columns of comparable size, so the solution does not depend on units
    keep = list(range(a.shape[1]))
    while True:
        c, *_ = np.linalg.lstsq(a[:, keep], target, rcond=None)
        if (c >= 0).all() or len(keep) == 1:
            break
        keep.pop(int(np.argmin(c)))
    coef = fixed.copy()
    coef[[free[k] for k in keep]] = np.maximum(c, 0) / scale[keep]
    return tuple(float(x) for x in coef)


def predict(resource: str, coef: tuple[float, ...], s: Structure) -> int:
    return round(sum(c * t(s) for c, t in zip(coef, TERMS[resource].values(), strict=True)))


@dataclass(frozen=True)
class Model:
    """Fitted coefficients per resource (``coef[resource][term]``) and their calibration."""

    coef: dict[str, tuple[float, ...]]
    calibration: Calibration

    def predict(self, resource: str, s: Structure) -> int:
        return predict(resource, self.coef[resource], s)

    def terms(self, resource: str) -> dict[str, float]:
        return dict(zip(TERMS[resource], self.coef[resource], strict=True))


def _structures(cal: Calibration) -> list[Structure]:
    return [structure(p.cfg, _soft(p, cal.board)) for p in cal.points]


def fit_model(cal: Calibration) -> Model:
    ss = _structures(cal)
    return Model({r: fit(r, ss, [p.counts[r] for p in cal.points]) for r in TERMS}, cal)


@cache
def model() -> Model:
    """The model fitted to the checked-in table (once per process)."""
    return fit_model(load_calibration())


@dataclass(frozen=True)
class CrossValidation:
    """Leave-one-out errors: each point predicted by a model fitted without it."""

    names: tuple[str, ...]
    measured: dict[str, tuple[int, ...]]
    predicted: dict[str, tuple[int, ...]]

    def errors(self, resource: str) -> tuple[float, ...]:
        """Relative errors (predicted / measured - 1) per point."""
        return tuple(p / m - 1 for p, m in zip(self.predicted[resource],
                                               self.measured[resource], strict=True))

    def max_abs_error(self, resource: str) -> float:
        return max(abs(e) for e in self.errors(resource))

    def mean_abs_error(self, resource: str) -> float:
        e = self.errors(resource)
        return sum(abs(x) for x in e) / len(e)

    def summary(self) -> dict[str, Any]:
        return {r: {"max_abs": round(self.max_abs_error(r), 4),
                    "mean_abs": round(self.mean_abs_error(r), 4)} for r in self.measured}


def _thousands(n: int) -> str:
    return f"{n:,}".replace(",", " ")


def markdown_table(cal: Calibration, cv: CrossValidation) -> str:
    """Per point: the config's shape, Yosys' LUT4/FF and the held-out errors (for the docs)."""
    rows = ["| point | GEMM | bus B | LUT4 (Yosys) | held-out error | FF (Yosys) "
            "| held-out error |", "|---|---|---|---|---|---|---|"]
    lut, ff = cv.errors("lut4"), cv.errors("ff")
    for i, p in enumerate(cal.points):
        c = p.cfg
        rows.append(f"| `{p.name}` | {c.batch}x{c.block_in}x{c.block_out} | "
                    f"{c.dram_bytes_per_cycle} | "
                    f"{_thousands(p.counts['lut4'])} | {lut[i]:+.1%} | "
                    f"{_thousands(p.counts['ff'])} | {ff[i]:+.1%} |")
    rows.append(f"| **max \\|error\\|** | | | | **{cv.max_abs_error('lut4'):.1%}** | | "
                f"**{cv.max_abs_error('ff'):.1%}** |")
    rows.append(f"| mean \\|error\\| | | | | {cv.mean_abs_error('lut4'):.1%} | | "
                f"{cv.mean_abs_error('ff'):.1%} |")
    return "\n".join(rows)


def cross_validate(cal: Calibration) -> CrossValidation:
    """Leave-one-out over the table for LUT4 and FF."""
    ss = _structures(cal)
    measured = {r: tuple(p.counts[r] for p in cal.points) for r in TERMS}
    predicted: dict[str, list[int]] = {r: [] for r in TERMS}
    for i in range(len(ss)):
        rest = [s for j, s in enumerate(ss) if j != i]
        for r in TERMS:
            y = [m for j, m in enumerate(measured[r]) if j != i]
            predicted[r].append(predict(r, fit(r, rest, y), ss[i]))
    return CrossValidation(tuple(p.name for p in cal.points), measured,
                           {r: tuple(v) for r, v in predicted.items()})


__all__ = ["Structure", "structure", "LUT_TERMS", "FF_TERMS", "Calibration",
           "CalibrationPoint", "load_calibration", "fit", "fit_model", "model", "Model",
           "cross_validate", "CrossValidation", "markdown_table"]
