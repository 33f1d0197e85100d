"""Device capacities and an early fit estimate from an HwConfig, before any tool runs.

Synthesis of a large core takes minutes and place-and-route tens of minutes, so a
configuration that cannot fit must be refused in milliseconds, naming the resource.  Block
RAM and multipliers are predictable from the configuration alone:

* every memory of the design (the core's five buffers, the SoC's DRAM copies, the bridge's
  write buffer) is counted in DP16KD blocks the way Yosys' ``memory_libmap`` packs it: the
  cheapest of the block's aspect ratios (16384x1 ... 1024x18, and 512x36 for memories with a
  separate read and write port and no byte enables), tiles of ``ceil(depth/d) x
  ceil(width/w)``; memories of <= 32 entries (the command FIFOs) go to LUT RAM;
* every int8 x int8 GEMM product is one MULT18X18D (Yosys maps each ``$mul`` to its own DSP);
  an ALU lane's 32 x 32 -> 32-bit multiply takes three.  When they exceed the device's DSPs
  the flow maps the excess GEMM products to LUTs (``dsp_plan``).

LUT and flip-flop counts depend on logic optimisation and are only estimated (calibrated on
measured builds, see ``docs/fpga.md``); they are checked with a margin and reported exactly by
the tools afterwards.  Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil

from vta_hw import isa
from vta_hw.config import HwConfig
from vta_hw.errors import VtaError

DP16KD_BYTES = 2048  # data bytes of one block used 8 bits per byte (x9 / x18 / x36 modes)
LUTRAM_MAX_DEPTH = 32  # Yosys put 8- and 32-entry FIFOs in LUT RAM, 64-deep buffers in BRAM
SOC_READERS = 3  # DRAM copies, one per reading core port (vta_hw.soc.memory)
ALU_MUL_DSPS = 3  # 32x32 -> low 32 bits: lo*lo, lo*hi, hi*lo in 18x18 tiles
# Rough LUT4 / FF cost model, fitted to two measured SoC builds (nextpnr TRELLIS_COMB /
# TRELLIS_FF): tiny 10.9 k / 3.5 k, default-85f (1x16x16, 148 Booth products) 58.9 k / 17.2 k.
LUT_PER_SOFT_MUL = 110  # a Booth-mapped int8 x int8 product
LUT_PER_MAC = 90  # adder-tree share, products' pipeline, operand routing
LUT_PER_ALU_LANE = 700  # 32-bit min/max/add/shifts/mux per acc lane
LUT_FIXED = 6500  # control, DMAs, queues, UART bridge, DRAM ports
FF_PER_MAC = 50
FF_PER_ALU_LANE = 140
FF_FIXED = 2100


class FitError(VtaError):
    """The configuration cannot fit the device; the message names the resource."""


@dataclass(frozen=True)
class Device:
    """One FPGA part: its name for the tools and its capacities."""

    name: str  # e.g. "LFE5U-85F"
    nextpnr_flag: str  # e.g. "--85k"
    package: str  # nextpnr --package
    speed: int
    lut4: int
    ff: int
    dp16kd: int
    mult18: int

    def capacity(self, resource: str) -> int:
        return getattr(self, resource)


def _ecp5(size: str, lut: int, ebr: int, dsp: int, package: str = "CABGA381",
          speed: int = 6) -> Device:
    return Device(f"LFE5U-{size}F", f"--{size}k", package, speed, lut, lut, ebr, dsp)


DEVICES: dict[str, Device] = {d.name: d for d in (
    _ecp5("12", 24288, 56, 28),  # the 12F is a 25F die with a smaller licence: nextpnr sees 25k
    _ecp5("25", 24288, 56, 28),
    _ecp5("45", 43848, 108, 72),
    _ecp5("85", 83640, 208, 156),
)}

RESOURCES = ("lut4", "ff", "dp16kd", "mult18")
RESOURCE_NAMES = {"lut4": "LUT4", "ff": "flip-flops (TRELLIS_FF)", "dp16kd": "DP16KD block RAM",
                  "mult18": "MULT18X18D DSP"}


# ---------------------------------------------------------------------------- block RAM
_TDP_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18))
_PDP_SHAPES = _TDP_SHAPES + ((512, 36),)


def bram_blocks(width: int, depth: int, *, pdp: bool = True) -> int:
    """DP16KD blocks for a ``depth x width``-bit memory (0 when it goes to LUT RAM)."""
    if depth <= LUTRAM_MAX_DEPTH:
        return 0
    shapes = _PDP_SHAPES if pdp else _TDP_SHAPES
    return min(ceil(depth / d) * ceil(width / w) for d, w in shapes)


@dataclass(frozen=True)
class MemoryUse:
    name: str
    width: int
    depth: int
    copies: int
    blocks: int  # total, all copies


def memories(cfg: HwConfig, dram_bytes: int, max_write: int = 256) -> list[MemoryUse]:
    """Every memory of the SoC for ``cfg`` with its block count."""
    out = []
    for buf in isa.MemType:
        if buf == isa.MemType.ACC8:
            continue
        name = buf.name.lower()
        width = 8 * isa.elem_bytes(cfg, buf)
        depth = isa.sram_depth(cfg, buf)
        out.append(MemoryUse(name, width, depth, 1, bram_blocks(width, depth)))
    q = bram_blocks(isa.INSN_BITS, cfg.cmd_queue_depth)
    out.append(MemoryUse("cmd_queues", isa.INSN_BITS, cfg.cmd_queue_depth, 3, 3 * q))
    bw = cfg.dram_bytes_per_cycle
    per = bram_blocks(8 * bw, dram_bytes // bw, pdp=False)  # byte enables: true dual port
    out.append(MemoryUse("dram", 8 * bw, dram_bytes // bw, SOC_READERS, SOC_READERS * per))
    out.append(MemoryUse("bridge", 8, max_write, 1, bram_blocks(8, max_write, pdp=False)))
    return out


# ---------------------------------------------------------------------------- DSPs
@dataclass(frozen=True)
class DspPlan:
    """How the design's multipliers are mapped: how many GEMM products go to LUTs."""

    gemm_products: int
    alu_dsps: int
    soft_products: int  # GEMM products mapped to LUTs

    @property
    def dsps(self) -> int:
        return self.alu_dsps + self.gemm_products - self.soft_products


def dsp_plan(cfg: HwConfig, device: Device, reserve: int = 0) -> DspPlan:
    """Put the ALU multiplies and as many GEMM products as fit on DSPs, the rest in LUTs."""
    gemm = cfg.macs_per_cycle
    alu = ALU_MUL_DSPS * cfg.batch * cfg.block_out
    free = max(0, device.mult18 - reserve - alu)
    soft = max(0, gemm - free)
    if alu > device.mult18 - reserve:
        soft = gemm  # (the ALU's own multipliers then overflow: reported by the fit check)
    return DspPlan(gemm, alu, soft)


# ---------------------------------------------------------------------------- the estimate
@dataclass(frozen=True)
class FitEstimate:
    """Estimated use of each resource (``used``) against the device (``available``)."""

    device: Device
    used: dict[str, int]
    memories: tuple[MemoryUse, ...]
    dsp: DspPlan
    exact: frozenset[str] = field(default_factory=lambda: frozenset({"dp16kd", "mult18"}))

    def table(self) -> str:
        lines = [f"{'resource':<26}{'estimate':>10}{'available':>11}"]
        for r in RESOURCES:
            lines.append(f"{RESOURCE_NAMES[r]:<26}{self.used[r]:>10}"
                         f"{self.device.capacity(r):>11}")
        return "\n".join(lines)


def estimate(cfg: HwConfig, device: Device, dram_bytes: int, max_write: int = 256
             ) -> FitEstimate:
    mems = memories(cfg, dram_bytes, max_write)
    plan = dsp_plan(cfg, device)
    lanes = cfg.batch * cfg.block_out
    lut = (LUT_FIXED + LUT_PER_MAC * cfg.macs_per_cycle + LUT_PER_ALU_LANE * lanes
           + LUT_PER_SOFT_MUL * plan.soft_products)
    ff = FF_FIXED + FF_PER_MAC * cfg.macs_per_cycle + FF_PER_ALU_LANE * lanes
    used = {"lut4": lut, "ff": ff, "dp16kd": sum(m.blocks for m in mems), "mult18": plan.dsps}
    return FitEstimate(device, used, tuple(mems), plan)


def check_fit(est: FitEstimate, lut_margin: float = 1.15) -> None:
    """Raise FitError naming every resource the estimate says cannot fit."""
    d = est.device
    problems = []
    if est.used["dp16kd"] > d.dp16kd:
        parts = ", ".join(f"{m.name} {m.blocks}" + (f" ({m.copies} copies)" if m.copies > 1
                                                    else "")
                          for m in est.memories if m.blocks)
        problems.append(
            f"DP16KD block RAM: needs {est.used['dp16kd']} ({parts}), the {d.name} has "
            f"{d.dp16kd}. Reduce buffer depths (the widest buffers cost most: wgt is "
            "block_out*block_in bytes wide) or the SoC DRAM (--dram-kib)")
    if est.used["mult18"] > d.mult18:
        problems.append(f"MULT18X18D DSP: the ALU alone needs {est.dsp.alu_dsps}, the "
                        f"{d.name} has {d.mult18}")
    if est.used["lut4"] > d.lut4 * lut_margin:
        problems.append(f"LUT4: estimated {est.used['lut4']} (of which "
                        f"{est.dsp.soft_products} int8 products in LUTs), the {d.name} has "
                        f"{d.lut4}")
    if problems:
        raise FitError("configuration does not fit the " + d.name + ":\n  "
                       + "\n  ".join(problems))


def largest_dram_that_fits(cfg: HwConfig, device: Device, *, upper: int, lower: int = 4096,
                           max_write: int = 256) -> int | None:
    """The largest power-of-two DRAM in [lower, upper] for which block RAM still fits."""
    size = upper
    while size >= lower:
        if estimate(cfg, device, size, max_write).used["dp16kd"] <= device.dp16kd:
            return size
        size //= 2
    return None


__all__ = ["Device", "DEVICES", "FitError", "FitEstimate", "MemoryUse", "DspPlan",
           "RESOURCES", "RESOURCE_NAMES", "bram_blocks", "memories", "dsp_plan", "estimate",
           "check_fit", "largest_dram_that_fits"]
