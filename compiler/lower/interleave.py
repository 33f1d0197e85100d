"""Pass ``interleave``: latency hiding -- order the instruction stream so modules overlap.

The tiling pass gave every tile its own buffer slots (``virtual_threads`` of each), so
loads of the next tiles, the GEMMs of this one and the store of the previous one touch
different SRAM and may run at the same time.  What remains is the order fetch hands them
to the modules: fetch is in order and each module's command queue is bounded, so a stream
that lists a whole tile's loads after the previous tile's GEMMs would make the load module
wait.  This pass list-schedules the sequential program with the closed-form costs of
``vta_hw.timing`` -- each instruction starts when its module is free and its dependencies
(``tokens.dependencies``) have retired -- and emits instructions in order of estimated start.
That order respects every dependency and each module's own order, so ``tokens`` can realise
it with pushes that precede their pops.  With one virtual thread the slots serialise the
tiles and this degenerates to the sequential order.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace

from compiler.errors import VerifyError
from compiler.ir import Instr, Program
from compiler.lower.tokens import dependencies, latest_dependencies
from vta_hw import timing


def estimate(p: Program, instrs: list[Instr], deps: Sequence[Collection[int]]
             ) -> list[tuple[int, int]]:
    """(start, retire) cycle estimate of each instruction of the sequential program;
    ``deps``: its dependencies, or only the latest on each module (the same times: a
    module retires in order)."""
    free: dict = {}
    out: list[tuple[int, int]] = []
    cycles: dict = {}  # instruction -> its cycles (a program repeats most instructions)
    for k, ins in enumerate(instrs):
        m = ins.module
        start = max([free.get(m, 0)] + [out[d][1] + timing.QUEUE_LATENCY for d in deps[k]])
        c = cycles.get(ins.insn)
        if c is None:
            c = cycles[ins.insn] = timing.instruction_cycles(p.cfg, ins.insn)
        retire = start + c - 1
        free[m] = retire + timing.RETIRE_CYCLES
        out.append((start, retire))
    return out


def fetched_cycles(p: Program, instrs: list[Instr], deps: Sequence[Collection[int]],
                   order: Sequence[int]) -> int:
    """Cycles of the stream emitted in ``order`` (positions into the sequential ``instrs``,
    ``deps`` theirs) with instruction fetch in the loop, as the simulator runs it: fetch
    reads one instruction at a time from DRAM (``timing.fetch_read_cycles``) and waits
    while the target module's command queue is full; a module starts an instruction once
    it is free, the instruction has been dispatched and its dependencies have retired.
    :func:`estimate` leaves fetch out, which is right where compute dominates but not for a
    short op on slow DRAM: a 10-instruction dense layer on a config with 400 cycles of DRAM
    latency spends ~4000 cycles just being fetched, three times its estimate without."""
    read = timing.fetch_read_cycles(p.cfg)
    depth = p.cfg.cmd_queue_depth
    retire = [0] * len(instrs)
    free: dict = {}
    issued: dict = {}  # module -> issue cycles of its instructions so far
    cycles: dict = {}
    dispatch = None
    for k in order:
        ins = instrs[k]
        m = ins.module
        pops = issued.setdefault(m, [])
        ready = read if dispatch is None else dispatch + timing.FETCH_DISPATCH_CYCLES + read
        room = pops[-depth] + timing.QUEUE_LATENCY if len(pops) >= depth else 0
        dispatch = max(ready, room)
        start = max([free.get(m, 0), dispatch + timing.QUEUE_LATENCY]
                    + [retire[d] + timing.QUEUE_LATENCY for d in deps[k]])
        c = cycles.get(ins.insn)
        if c is None:
            c = cycles[ins.insn] = timing.instruction_cycles(p.cfg, ins.insn)
        pops.append(start)
        retire[k] = start + c - 1
        free[m] = retire[k] + timing.RETIRE_CYCLES
    return max(retire, default=0) + 1


def instructions(p: Program) -> list[Instr]:
    """``p``'s instructions numbered in program order (what the list schedule orders)."""
    if not all(isinstance(n, Instr) for n in p.nodes):
        raise VerifyError("interleave needs a program of instructions only")
    return [n.with_seq(k) for k, n in enumerate(p.nodes)]


def list_cycles(p: Program, instrs: list[Instr] | None = None,
                deps: Sequence[Collection[int]] | None = None) -> int:
    """Cycles of the list schedule of ``p``'s instructions (fetch left out): what ranks
    candidate schedules (``schedule.heuristic``), without the reordering and the fetch
    replay the pass does.  ``instrs`` and ``deps``: :func:`instructions` of ``p`` and their
    latest dependencies, when the caller has them (they do not depend on the timing)."""
    if instrs is None:
        instrs = instructions(p)
    times = estimate(p, instrs, latest_dependencies(instrs) if deps is None else deps)
    return max((t[1] for t in times), default=0) + 1


def interleave(p: Program) -> Program:
    if not all(isinstance(n, Instr) for n in p.nodes):
        raise VerifyError("interleave needs a program of instructions only")
    instrs = [n.with_seq(k) for k, n in enumerate(p.nodes)]
    deps = latest_dependencies(instrs, from_full_sets=True)  # the token pass reuses them
    times = estimate(p, instrs, deps)
    order = sorted(range(len(instrs)), key=lambda k: (times[k][0], k))
    # ``list_cycles`` (fetch left out) ranks schedules (schedule.heuristic) as it always
    # has; ``estimated_cycles`` is what the program takes, fetch included
    meta = p.meta + (("list_cycles", max((t[1] for t in times), default=0) + 1),
                     ("estimated_cycles", fetched_cycles(p, instrs, deps, order)))
    return replace(p, nodes=tuple(instrs[k] for k in order), stage="interleave", meta=meta)


def check_order(p: Program) -> None:
    """Every dependency and each module's own order point forward in the program."""
    instrs = list(p.instrs())
    logical = sorted(range(len(instrs)), key=lambda i: instrs[i].seq)
    deps = dependencies([instrs[i] for i in logical])
    for li, d in enumerate(deps):
        b = logical[li]  # program positions
        for x in d:
            a = logical[x]
            if a >= b:
                raise VerifyError(f"after pass 'interleave': instruction {b} is placed before "
                                  f"instruction {a} it depends on")
    last: dict = {}
    for k, ins in enumerate(instrs):
        if ins.seq < last.get(ins.module, -1):
            raise VerifyError(f"after pass 'interleave': instruction {k} breaks the "
                              f"{ins.module.name.lower()} module's order")
        last[ins.module] = ins.seq


__all__ = ["interleave", "estimate", "fetched_cycles", "instructions", "list_cycles", "check_order"]
