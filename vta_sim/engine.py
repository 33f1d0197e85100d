"""The discrete-event engine: instruction-level timing of fetch, load, compute and store.

Each module consumes its command queue in order.  An instruction issues in the first cycle
its module is free, its command visible and its tokens visible; it retires ``body`` cycles
later, as soon as every queue it pushes to has room (``docs/timing.md``).  Every time is a
max over a few earlier times, so the engine advances each module as far as the times it
depends on are known, and a round in which no module can advance is a deadlock.  Durations
come only from ``vta_hw.timing``; data effects from ``vta_sim.effects``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vta_hw import isa, timing
from vta_hw.config import HwConfig
from vta_sim import effects
from vta_sim.errors import CycleLimitError, DeadlockError, IllegalInstructionError, SimError
from vta_sim.state import MachineState
from vta_sim.stats import MODULES, ModuleStats, SimStats

_MODULE_NAMES = {m: m.name.lower() for m in isa.Module}
# (module, dependency flag) -> token queue name, derived from the ISA's one table
_TOKEN_QUEUE = {(name, flag): isa.queue_name(*q) for m, name in _MODULE_NAMES.items()
                for flag in isa.DEP_FLAGS if (q := isa.token_queue(m, flag)) is not None}
_POPS = tuple(f for f in isa.DEP_FLAGS if f.startswith("pop"))
_PUSHES = tuple(f for f in isa.DEP_FLAGS if f.startswith("push"))


@dataclass(frozen=True)
class InsnRecord:
    """When one instruction ran: issue and retire cycles (inclusive) on its module."""

    index: int
    module: str
    name: str
    issue: int
    retire: int
    body: timing.BodyCost
    wait_cmd: int  # cycles the free module waited for this command to arrive from fetch
    wait_token: int  # then cycles it waited for a token ...
    token_queue: str  # ... on this queue (the last to deliver)
    push_stall: int  # cycles the retire waited for room in a token queue


@dataclass
class _Queue:
    """Push and pop cycles of one FIFO; the n-th pop consumes the n-th push."""

    name: str
    depth: int
    push: list[int] = field(default_factory=list)
    pop: list[int] = field(default_factory=list)

    def room_from(self) -> int | None:
        """First cycle the next push may happen (None: depends on a pop not yet known)."""
        k = len(self.push)
        if k < self.depth:
            return 0
        if len(self.pop) <= k - self.depth:
            return None
        return self.pop[k - self.depth] + timing.QUEUE_LATENCY


def insn_name(insn: isa.Insn) -> str:
    if isinstance(insn, (isa.Load, isa.Store)):
        return f"{insn.opcode.name} {insn.mem.name.lower()}"
    if isinstance(insn, isa.Alu):
        return f"ALU {insn.alu_op.name.lower()}" + (" reset" if insn.reset else "")
    if isinstance(insn, isa.Gemm):
        return "GEMM reset" if insn.reset else "GEMM"
    return insn.opcode.name


class _Module:
    """Timing state of one of load, compute, store."""

    def __init__(self, name: str, insns: list[tuple[int, isa.Insn]], cmd: _Queue):
        self.name = name
        self.insns = insns
        self.cmd = cmd
        self.k = 0
        self.retire_prev = -1
        self.issued: tuple | None = None  # (issue, body, wait_cmd, (wait_token, queue))
        self.stats = {"busy": 0, "dram_latency": 0, "transfer": 0, "pad": 0, "compute": 0,
                      "stall_cmd": 0}
        self.stall_token: dict[str, int] = {}
        self.stall_full: dict[str, int] = {}
        self.blocked = ""

    @property
    def done(self) -> bool:
        return self.k >= len(self.insns)


class Engine:
    """One run of one program on one machine state.

    effects: apply each instruction's data effect to ``state`` (default).  Without them
    the run is timing only: every time comes from ``vta_hw.timing``, which reads only the
    instructions, never the data, so the cycles and records are those of the full run
    while the buffers and DRAM keep their initial bytes (a design-space sweep, which reads
    only cycles)."""

    def __init__(self, cfg: HwConfig, state: MachineState, insns: list[isa.Insn], *,
                 max_cycles: int | None = None, effects: bool = True):
        self.cfg = cfg
        self.max_cycles = max_cycles
        self.effects = effects
        self.state = state
        self.insns = insns
        self.records: list[InsnRecord] = []
        self.finish_retire: int | None = None
        self.cmd = {m: _Queue(f"{m} command queue", cfg.cmd_queue_depth)
                    for m in _MODULE_NAMES.values()}
        self.tokens = {q: _Queue(q, cfg.token_queue_depth) for q in set(_TOKEN_QUEUE.values())}
        self.target = [_MODULE_NAMES[isa.module_of(i)] for i in insns]
        per_module: dict[str, list[tuple[int, isa.Insn]]] = {m: [] for m in _MODULE_NAMES.values()}
        for g, (insn, m) in enumerate(zip(insns, self.target, strict=True)):
            per_module[m].append((g, insn))
        self.modules = [_Module(m, per_module[m], self.cmd[m]) for m in _MODULE_NAMES.values()]
        self.total_pushes = {q: 0 for q in self.tokens}
        for g, insn in enumerate(insns):
            for flag in _PUSHES:
                if getattr(insn, flag):
                    self.total_pushes[_TOKEN_QUEUE[(self.target[g], flag)]] += 1
        self.fetch_i = 0
        self.fetch_next_read = 0
        self.fetch_read = timing.fetch_read_cycles(cfg)
        self.fetch_stall: dict[str, int] = {}
        self.fetch_blocked = ""
        self.fetch_log: list[tuple[int, int]] = []  # (read start, dispatch) per instruction

    # ------------------------------------------------------------------ fetch
    def _advance_fetch(self) -> bool:
        progressed = False
        while self.fetch_i < len(self.insns):
            m = self.target[self.fetch_i]
            q = self.cmd[m]
            room = q.room_from()
            if room is None:
                self.fetch_blocked = (f"fetch waits to dispatch instruction {self.fetch_i} "
                                      f"({insn_name(self.insns[self.fetch_i])}) into the full "
                                      f"{q.name}")
                return progressed
            ready = self.fetch_next_read + self.fetch_read
            d = max(ready, room)
            if d > ready:
                self.fetch_stall[q.name] = self.fetch_stall.get(q.name, 0) + d - ready
            q.push.append(d)
            self.fetch_log.append((self.fetch_next_read, d))
            self.fetch_next_read = d + timing.FETCH_DISPATCH_CYCLES
            self.fetch_i += 1
            progressed = True
        self.fetch_blocked = ""
        return progressed

    # ------------------------------------------------------------------ modules
    def _advance(self, mod: _Module) -> bool:
        progressed = False
        while not mod.done:
            g, insn = mod.insns[mod.k]
            if mod.issued is None:
                if len(mod.cmd.push) <= mod.k:
                    mod.blocked = (f"{mod.name} waits for instruction {g} "
                                   f"({insn_name(insn)}) from fetch")
                    return progressed
                free = mod.retire_prev + timing.RETIRE_CYCLES
                t_cmd = max(free, mod.cmd.push[mod.k] + timing.QUEUE_LATENCY)
                s, token_q = t_cmd, ""
                pops = []
                for flag in _POPS:
                    if not getattr(insn, flag):
                        continue
                    q = self.tokens[_TOKEN_QUEUE[(mod.name, flag)]]
                    n = len(q.pop)
                    if len(q.push) <= n:
                        mod.blocked = self._token_wait(mod, g, insn, q, n)
                        return progressed
                    if q.push[n] + timing.QUEUE_LATENCY > s:
                        s, token_q = q.push[n] + timing.QUEUE_LATENCY, q.name
                    pops.append(q)
                body = timing.body_cost(self.cfg, insn)
                earliest_retire = s + timing.ISSUE_CYCLES + body.total
                if self.max_cycles is not None and earliest_retire + 1 > self.max_cycles:
                    raise CycleLimitError(
                        f"{mod.name} instruction {g} ({insn_name(insn)}) issued at cycle {s} "
                        f"retires at cycle {earliest_retire} or later: the run exceeds its "
                        f"bound of {self.max_cycles} cycles (--max-cycles)")
                mod.cmd.pop.append(s)
                for q in pops:
                    q.pop.append(s)
                if self.effects:
                    self._execute(insn, g)
                wait_cmd, wait_token = t_cmd - free, s - t_cmd
                mod.issued = (s, body, wait_cmd, (wait_token, token_q))
                mod.stats["stall_cmd"] += wait_cmd
                if wait_token:
                    mod.stall_token[token_q] = mod.stall_token.get(token_q, 0) + wait_token
                progressed = True
            s, body, wait_cmd, (wait_token, token_q) = mod.issued
            r = s + timing.ISSUE_CYCLES + body.total  # the earliest retire
            pushes = []
            for flag in _PUSHES:
                if not getattr(insn, flag):
                    continue
                q = self.tokens[_TOKEN_QUEUE[(mod.name, flag)]]
                room = q.room_from()
                if room is None:
                    mod.blocked = (f"{mod.name} instruction {g} ({insn_name(insn)}) waits to "
                                   f"push into the full {q.name} queue")
                    return progressed
                r = max(r, room)
                pushes.append(q)
            push_stall = r - (s + timing.ISSUE_CYCLES + body.total)
            for q in pushes:
                q.push.append(r)
                if push_stall:
                    mod.stall_full[q.name] = mod.stall_full.get(q.name, 0) + push_stall
            st = mod.stats
            st["busy"] += timing.ISSUE_CYCLES + body.total + timing.RETIRE_CYCLES
            st["dram_latency"] += body.dram_latency
            st["transfer"] += body.transfer
            st["pad"] += body.pad
            st["compute"] += body.compute
            self.records.append(InsnRecord(g, mod.name, insn_name(insn), s, r, body, wait_cmd,
                                           wait_token, token_q, push_stall))
            if isinstance(insn, isa.Finish):
                self.finish_retire = r
            mod.retire_prev = r
            mod.issued = None
            mod.k += 1
            mod.blocked = ""
            progressed = True
        return progressed

    def _token_wait(self, mod: _Module, g: int, insn: isa.Insn, q: _Queue, n: int) -> str:
        total = self.total_pushes[q.name]
        msg = (f"{mod.name} instruction {g} ({insn_name(insn)}) waits for a token on "
               f"{q.name} (pop #{n + 1})")
        if total <= n:
            msg += f", but the program pushes only {total} token(s) there"
        return msg

    def _execute(self, insn: isa.Insn, g: int) -> None:
        st = self.state
        if isinstance(insn, isa.Load):
            effects.apply_load(st, insn, g)
        elif isinstance(insn, isa.Store):
            effects.apply_store(st, insn, g)
        elif isinstance(insn, isa.Gemm):
            effects.apply_gemm(st, insn, g)
        elif isinstance(insn, isa.Alu):
            effects.apply_alu(st, insn, g)

    # ------------------------------------------------------------------ driver
    def run(self) -> None:
        while True:
            progressed = self._advance_fetch()
            for mod in self.modules:
                progressed |= self._advance(mod)
            if self.fetch_i >= len(self.insns) and all(m.done for m in self.modules):
                return
            if not progressed:
                raise DeadlockError(self._deadlock_message())

    def _deadlock_message(self) -> str:
        waits = [m.blocked for m in self.modules if not m.done and m.blocked]
        never = [w for w in waits if "but the program pushes only" in w]
        if self.fetch_blocked:
            waits.append(self.fetch_blocked)
        lead = never[0] if never else (waits[0] if waits else "no module can progress")
        rest = [w for w in waits if w != lead]
        return "deadlock: " + lead + ("; meanwhile " + "; ".join(rest) if rest else "")

    def stats(self, cycles: int) -> SimStats:
        mods: dict[str, ModuleStats] = {}
        fetch_busy = len(self.insns) * timing.fetch_cycles(self.cfg)
        fetch_stalled = sum(self.fetch_stall.values())
        fetch_latency = timing.dram_timing(self.cfg).read_latency
        mods["fetch"] = ModuleStats("fetch", len(self.insns), fetch_busy,
                                    dram_latency=len(self.insns) * fetch_latency,
                                    transfer=len(self.insns) * (self.fetch_read
                                                                - fetch_latency),
                                    stall_full=dict(self.fetch_stall),
                                    idle=max(0, cycles - fetch_busy - fetch_stalled))
        for m in self.modules:
            st = m.stats
            stalled = st["stall_cmd"] + sum(m.stall_token.values()) + sum(m.stall_full.values())
            mods[m.name] = ModuleStats(m.name, len(m.insns), st["busy"], st["dram_latency"],
                                       st["transfer"], st["pad"], st["compute"],
                                       st["stall_cmd"], dict(m.stall_token),
                                       dict(m.stall_full),
                                       idle=max(0, cycles - st["busy"] - stalled))
        nbytes: dict[str, int] = {"insn": len(self.insns) * isa.INSN_BYTES}
        macs = gemm_iters = alu_iters = 0
        for insn in self.insns:
            moved = dram_traffic(self.cfg, insn)
            if moved is not None:
                nbytes[moved[0]] = nbytes.get(moved[0], 0) + moved[1]
            elif isinstance(insn, isa.Gemm):
                gemm_iters += insn.n_iters
                if not insn.reset:
                    macs += insn.n_iters * self.cfg.macs_per_cycle
            elif isinstance(insn, isa.Alu):
                alu_iters += insn.n_iters
        return SimStats(cycles=cycles, instructions=len(self.insns), macs=macs,
                        macs_per_cycle=self.cfg.macs_per_cycle, gemm_iterations=gemm_iters,
                        alu_iterations=alu_iters, modules={k: mods[k] for k in MODULES},
                        bytes=nbytes, config_name=self.cfg.name,
                        config_hash=self.cfg.config_hash(), clock_mhz=self.cfg.target_clock_mhz)


def dram_traffic(cfg: HwConfig, insn: isa.Insn) -> tuple[str, int] | None:
    """The DRAM bytes a LOAD or STORE moves, keyed as in :attr:`SimStats.bytes`
    (``"dram->inp"``, ``"out->dram"``, ...); None for other instructions.  The one
    definition: the run's statistics and per-op attributions (``vta demo``) sum it."""
    if isinstance(insn, isa.Load):
        return f"dram->{insn.mem.name.lower()}", insn.dram_elems * isa.elem_bytes(cfg, insn.mem)
    if isinstance(insn, isa.Store):
        return "out->dram", insn.dram_elems * cfg.out_elem_bytes
    return None


# Instructions that passed isa.check, per config (a pure function of the instruction):
# checking a model's program at every load and launch re-checked the same instructions.
_LEGAL: dict[HwConfig, set[isa.Insn]] = {}
_LEGAL_KEPT = 1 << 16


def check_program(insns: list[isa.Insn], cfg: HwConfig) -> None:
    """ISA rules every program must follow before it runs (one FINISH, last)."""
    if cfg not in _LEGAL and len(_LEGAL) >= 8:
        _LEGAL.clear()
    legal = _LEGAL.setdefault(cfg, set())
    if len(legal) >= _LEGAL_KEPT:
        legal.clear()
    for g, insn in enumerate(insns):
        if insn in legal:
            continue
        try:
            isa.check(insn, cfg, g)
        except isa.IsaError as e:
            raise IllegalInstructionError(str(e)) from None
        legal.add(insn)
    finishes = [g for g, i in enumerate(insns) if isinstance(i, isa.Finish)]
    if not insns or not finishes:
        raise IllegalInstructionError("the program has no FINISH: the accelerator would never "
                                      "signal done")
    if finishes != [len(insns) - 1]:
        raise IllegalInstructionError(f"FINISH must be the last instruction and appear once; "
                                      f"found at {finishes} of {len(insns)}")


__all__ = ["Engine", "InsnRecord", "check_program", "insn_name", "SimError"]
