"""Device capacities and an early fit estimate from an HwConfig, before any tool runs.

Synthesis of a large core takes minutes and place-and-route tens of minutes, so a
configuration that cannot fit must be refused in milliseconds, naming the resource.  Block
RAM and multipliers are predictable from the configuration alone:

* every memory of the design (the core's five buffers, the SoC's DRAM copies, the bridge's
  write buffer) is counted in DP16KD blocks the way Yosys' ``memory_libmap`` packs it: the
  cheapest of the block's aspect ratios (16384x1 ... 1024x18, and 512x36 for memories with a
  separate read and write port and no byte enables), tiles of ``ceil(depth/d) x
  ceil(width/w)``; memories of <= 32 entries go to LUT RAM, and so do the command queues and
  the DRAM request FIFOs at any depth (their reads are asynchronous);
* every int8 x int8 GEMM product is one MULT18X18D (Yosys maps each ``$mul`` to its own DSP);
  an ALU lane's 32 x 32 -> 32-bit multiply takes three.  When they exceed the device's DSPs
  the flow maps the excess GEMM products to LUTs (``dsp_plan``).

LUT and flip-flop counts depend on logic optimisation: ``resource_model`` estimates them with
structural terms whose coefficients are fitted to Yosys runs of a spread of configurations
(``docs/fpga.md``: leave-one-out error within 10%); the fit check applies them with a margin,
and the tools report them exactly afterwards.  :func:`estimate_resources` is the whole estimate
as one pure function (a design-space sweep calls it per point: ~1 ms after the first).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from math import ceil

from vta_hw import isa
from vta_hw.config import HwConfig
from vta_hw.errors import VtaError

DP16KD_BYTES = 2048  # data bytes of one block used 8 bits per byte (x9 / x18 / x36 modes)
LUTRAM_MAX_DEPTH = 32  # Yosys put 8- and 32-entry FIFOs in LUT RAM, 64-deep buffers in BRAM
SOC_READERS = 3  # DRAM copies, one per reading core port (vta_hw.soc.memory)
ALU_MUL_DSPS = 3  # 32x32 -> low 32 bits: lo*lo, lo*hi, hi*lo in 18x18 tiles
AUTO_DRAM_MAX = 64 * 1024  # the SoC DRAM the flow picks: the largest power of two
AUTO_DRAM_MIN = 4 * 1024  # in [MIN, MAX] whose three copies still fit the block RAM


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
SHORT_NAMES = {"lut4": "LUT4", "ff": "FF", "dp16kd": "DP16KD", "mult18": "MULT18X18D"}


# ---------------------------------------------------------------------------- block RAM
_TDP_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18))
_PDP_SHAPES = _TDP_SHAPES + ((512, 36),)
# With byte enables a block holds whole byte lanes: 8 of the x9 mode's bits, 16 of x18's
# (measured: a 4096 x 128-bit DRAM copy with byte enables takes 32 blocks, not 2 x 15)
_BYTE_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 8), (1024, 16))


def bram_blocks(width: int, depth: int, *, pdp: bool = True, byte_enables: bool = False) -> int:
    """DP16KD blocks for a ``depth x width``-bit memory (0 when it goes to LUT RAM).

    pdp: one read and one separate write port (the 512x36 mode is available);
    byte_enables: written a byte lane at a time (a block cannot split a lane)."""
    if depth <= LUTRAM_MAX_DEPTH:
        return 0
    shapes = _BYTE_SHAPES if byte_enables else _PDP_SHAPES if pdp else _TDP_SHAPES
    return min(ceil(depth / d) * ceil(width / w) for d, w in shapes)


@dataclass(frozen=True)
class MemoryUse:
    name: str
    width: int
    depth: int
    copies: int
    blocks: int  # total, all copies


def buffers(cfg: HwConfig) -> list[MemoryUse]:
    """The core's five buffers (uop, inp, wgt, acc, out) with their block counts (0: LUT RAM)."""
    out = []
    for buf in isa.MemType:
        if buf == isa.MemType.ACC8:
            continue
        width = 8 * isa.elem_bytes(cfg, buf)
        depth = isa.sram_depth(cfg, buf)
        out.append(MemoryUse(buf.name.lower(), width, depth, 1, bram_blocks(width, depth)))
    return out


def memories(cfg: HwConfig, dram_bytes: int, max_write: int = 256) -> list[MemoryUse]:
    """Every memory of the SoC for ``cfg`` with its block count."""
    out = buffers(cfg)
    # the command queues are read asynchronously (``queues.CommandQueue`` loads its head
    # register from the storage or the pushed word): LUT RAM at any depth, never block RAM
    out.append(MemoryUse("cmd_queues", isa.INSN_BITS, cfg.cmd_queue_depth, 3, 0))
    bw = cfg.dram_bytes_per_cycle
    per = bram_blocks(8 * bw, dram_bytes // bw, pdp=False, byte_enables=True)
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
class ResourceEstimate:
    """Estimated use of each resource (``used``) against the device's capacity.

    ``used`` and ``capacity`` map each of ``RESOURCES`` to a count; DP16KD and MULT18X18D are
    exact (what Yosys maps), LUT4 and FF the calibrated model's estimate of Yosys' counts
    (LUT4 = ``LUT4 + 2*CCU2C + 4*TRELLIS_DPR16X4``).  ``dram_bytes`` is the SoC DRAM the
    estimate assumed (three block-RAM copies of it are part of ``dp16kd``).
    """

    device: Device
    used: dict[str, int]
    memories: tuple[MemoryUse, ...]
    dsp: DspPlan
    dram_bytes: int = 0
    exact: frozenset[str] = field(default_factory=lambda: frozenset({"dp16kd", "mult18"}))

    @property
    def capacity(self) -> dict[str, int]:
        return {r: self.device.capacity(r) for r in RESOURCES}

    @property
    def utilization(self) -> dict[str, float]:
        """Fraction of the device each resource uses (1.0 = full)."""
        return {r: self.used[r] / self.device.capacity(r) for r in RESOURCES}

    @property
    def over(self) -> tuple[str, ...]:
        """The resources whose estimate exceeds the device."""
        return tuple(r for r in RESOURCES if self.used[r] > self.device.capacity(r))

    @property
    def fits(self) -> bool:
        return not self.over

    def to_dict(self) -> dict:
        return {"device": self.device.name, "dram_bytes": self.dram_bytes, "fits": self.fits,
                **{r: {"used": self.used[r], "available": self.device.capacity(r),
                       "utilization": round(self.utilization[r], 4),
                       "exact": r in self.exact} for r in RESOURCES},
                "memories": [m.__dict__ for m in self.memories],
                "dsp": {"gemm_products": self.dsp.gemm_products,
                        "alu_dsps": self.dsp.alu_dsps, "soft_products": self.dsp.soft_products}}

    def table(self) -> str:
        lines = [f"{'resource':<26}{'estimate':>10}{'available':>11}{'used':>8}"]
        for r in RESOURCES:
            lines.append(f"{RESOURCE_NAMES[r]:<26}{self.used[r]:>10}"
                         f"{self.device.capacity(r):>11}{100 * self.utilization[r]:>7.1f}%")
        return "\n".join(lines)


def _soft_products(plan: DspPlan, dsp: str) -> int:
    """GEMM products in LUTs under the flow's ``--dsp`` policy."""
    policies = {"auto": plan.soft_products, "lut": plan.gemm_products, "dsp": 0}
    if dsp not in policies:
        raise FitError(f"dsp policy {dsp!r} is not one of {', '.join(policies)}")
    return policies[dsp]


def estimate(cfg: HwConfig, device: Device, dram_bytes: int, max_write: int = 256,
             dsp: str = "auto") -> ResourceEstimate:
    """Every resource of the SoC for ``cfg`` with ``dram_bytes`` of DRAM on ``device``."""
    from vta_hw.fpga import resource_model

    mems = memories(cfg, dram_bytes, max_write)
    plan = dsp_plan(cfg, device)
    soft = _soft_products(plan, dsp)
    s = resource_model.structure(cfg, soft)
    m = resource_model.model()
    mult = plan.alu_dsps + plan.gemm_products - soft
    used = {"lut4": m.predict("lut4", s), "ff": m.predict("ff", s),
            "dp16kd": sum(x.blocks for x in mems), "mult18": mult}
    return ResourceEstimate(device, used, tuple(mems), replace(plan, soft_products=soft),
                            dram_bytes)


def bram_used(cfg: HwConfig, dram_bytes: int, max_write: int = 256) -> int:
    """DP16KD blocks of the SoC (exact, no LUT model involved)."""
    return sum(m.blocks for m in memories(cfg, dram_bytes, max_write))


def resolve_dram_bytes(cfg: HwConfig, device: Device, max_write: int = 256) -> int:
    """The SoC DRAM the flow builds by default: the largest power of two in
    [``AUTO_DRAM_MIN``, ``AUTO_DRAM_MAX``] whose copies fit, else the smallest (whose fit
    check then names the problem)."""
    size = largest_dram_that_fits(cfg, device, upper=AUTO_DRAM_MAX, lower=AUTO_DRAM_MIN,
                                  max_write=max_write)
    return size if size is not None else AUTO_DRAM_MIN


def estimate_resources(cfg: HwConfig, device: Device | str = "LFE5U-85F", *,
                       dram_bytes: int | None = None, max_write: int = 256,
                       dsp: str = "auto") -> ResourceEstimate:
    """The resource estimate of ``cfg``'s SoC on ``device`` (a ``Device`` or a ``DEVICES``
    name), without running any tool.

    ``dram_bytes`` None: the DRAM ``vta hw synth``/``bitstream`` would choose.  A pure
    function: no files written, the calibrated model is fitted once per process.
    """
    if isinstance(device, str):
        if device not in DEVICES:
            raise FitError(f"unknown device {device!r}; known: {sorted(DEVICES)}")
        device = DEVICES[device]
    if dram_bytes is None:
        dram_bytes = resolve_dram_bytes(cfg, device, max_write)
    return estimate(cfg, device, dram_bytes, max_write, dsp)


def check_fit(est: ResourceEstimate, lut_margin: float = 1.15) -> None:
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
        if bram_used(cfg, size, max_write) <= device.dp16kd:
            return size
        size //= 2
    return None


__all__ = ["Device", "DEVICES", "FitError", "ResourceEstimate", "MemoryUse", "DspPlan",
           "RESOURCES", "RESOURCE_NAMES", "SHORT_NAMES", "bram_blocks", "buffers", "memories",
           "dsp_plan", "estimate", "estimate_resources", "bram_used", "resolve_dram_bytes",
           "check_fit", "largest_dram_that_fits", "AUTO_DRAM_MAX", "AUTO_DRAM_MIN"]
