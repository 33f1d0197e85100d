"""Run a bundle on ``VtaCore`` in Amaranth's own simulator (small programs, tiny configs).

About a thousand cycles per second: use it for the smallest cases and for debugging with a
VCD; the Verilator device (``vta_hw.cosim.verilator``) runs everything else.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from amaranth.sim import Simulator

from vta_hw import timing
from vta_hw.bundle import Bundle
from vta_hw.cosim import (
    DEFAULT_STALL_BOUND,
    RtlDeadlockError,
    RtlResult,
    RtlTimeoutError,
)
from vta_hw.cosim.dram_model import INPUTS, OUTPUTS, PortModel
from vta_hw.rtl.core import PORTS, VtaCore


def run_amaranth(bundle: Bundle, *, max_cycles: int = 200_000,
                 stall_bound: int = DEFAULT_STALL_BOUND, backpressure_seed: int | None = None,
                 vcd: str | Path | None = None) -> RtlResult:
    """Simulate ``bundle`` cycle by cycle; returns cycles and the final DRAM image."""
    cfg = bundle.config
    dut = VtaCore(cfg)
    mem = bytearray(bundle.dram)
    models = []
    for i, p in enumerate(PORTS):
        rng = None if backpressure_seed is None else random.Random(backpressure_seed * 8 + i)
        models.append((getattr(dut, f"{p}_dram"),
                       PortModel(p, mem, timing.dram_timing(cfg), rng)))
    outcome: dict[str, object] = {}

    async def bench(ctx):
        ctrl = dut.ctrl
        ctx.set(ctrl.insn_addr, bundle.insn_addr)
        ctx.set(ctrl.insn_count, bundle.insn_count)
        ctx.set(ctrl.start, 1)
        await ctx.tick()
        ctx.set(ctrl.start, 0)
        t = 0
        quiet = 0
        cycles = None
        while True:
            driven = []
            for port, model in models:
                d = model.drive(t)
                for k in INPUTS:
                    ctx.set(getattr(port, k), d[k])
                driven.append(d)
            for (port, model), d in zip(models, driven, strict=True):
                o = {k: ctx.get(getattr(port, k)) for k in OUTPUTS}
                model.observe(t, o, d)
            for _, model in models:
                model.check()
            if ctx.get(ctrl.done) and cycles is None:
                cycles = ctx.get(ctrl.cycles)
            if cycles is not None and ctx.get(ctrl.idle):
                outcome.update(cycles=cycles, total=t)
                return
            quiet = 0 if ctx.get(ctrl.active) else quiet + 1
            if quiet > stall_bound:
                outcome["deadlock"] = t
                return
            if t >= max_cycles:
                outcome["timeout"] = t
                return
            await ctx.tick()
            t += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    t0 = time.perf_counter()
    if vcd is not None:
        with sim.write_vcd(str(vcd)):
            sim.run()
    else:
        sim.run()
    wall = time.perf_counter() - t0
    if "deadlock" in outcome:
        raise RtlDeadlockError(f"the RTL made no progress for {stall_bound} cycles at cycle "
                               f"{outcome['deadlock']} (a deadlock: some module waits for a "
                               "token or queue slot that never comes)")
    if "timeout" in outcome:
        raise RtlTimeoutError(f"the RTL did not finish within {max_cycles} cycles")
    return RtlResult(cycles=int(outcome["cycles"]), dram=bytes(mem),
                     total_cycles=int(outcome["total"]), wall_s=wall)


__all__ = ["run_amaranth"]
