"""Data races in an instruction stream: conflicting accesses that no token chain orders.

The load, compute and store modules (and fetch, which reads the instruction words) run
concurrently; the only orders between them are each module's program order and the token
queues (the n-th pop on a queue consumes the n-th push, and a push happens after its
instruction retired, a pop before its instruction issues).  Two accesses to the same SRAM
element or DRAM byte from different modules, at least one a write, must be ordered by a
chain of those, or the outcome depends on timing: the simulator applies effects in its own
loop order and would show one outcome of a race the hardware may resolve another way.

This module works from decoded instructions only:

* **Accesses.**  Every instruction's reads and writes, computed from its fields: LOAD writes
  ``rows x cols`` SRAM elements from ``sram_base`` (ACC/ACC8 loads write ``acc`` and mirror
  into ``out``) and reads ``y_size`` DRAM rows of ``x_size`` elements ``x_stride`` apart;
  STORE reads ``out`` and writes DRAM rows; GEMM/ALU read their micro-ops and the
  ``inp``/``wgt``/``acc`` elements the micro-op loops index, and write ``acc`` (mirrored into
  ``out`` below its depth); fetch reads the 16 bytes of each instruction.  Micro-op contents
  come from the DRAM image where micro-op LOADs read them, tracked through the uop buffer in
  the compute module's order (its only writer and reader); they are the words of the
  initial image (a program that STOREs micro-ops and loads them back, which nothing
  generates, is checked against the initial words).  SRAM ranges count elements, DRAM
  ranges bytes.
* **Happens-before** through vector clocks: ``clocks[i][m]`` is how many instructions of
  module ``m`` (fetch, load, compute, store) happen before or at instruction ``i``.  A full
  command queue also holds fetch back, but that order depends on the queue depth and the
  timing, so it is not counted (a STORE into instruction words that only a full command
  queue would order is reported).
* **Races**: every pair of conflicting accesses from different modules that is not ordered.
  Since each module's clocks grow along its order, the instructions of module ``a`` that
  are concurrent with an instruction ``b`` form one contiguous window, so only pairs in
  those windows whose ranges overlap are examined (numpy, no per-pair Python).
* **End of program**: the host reads DRAM once FINISH retires (the core signals ``done``),
  so every STORE must happen before FINISH.

>>> report = find_races(insns, cfg, dram)            # doctest: +SKIP
>>> check_bundle_races(bundle)                       # raises RaceError  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from vta_hw import isa
from vta_hw.config import HwConfig
from vta_sim.errors import DeadlockError, SimError
from vta_sim.state import uop_fields


class Agent(IntEnum):
    """Who accesses memory: fetch and the three modules (``Agent(m + 1)`` for
    ``isa.Module(m)``), and the host once the program has ended."""

    FETCH = 0
    LOAD = 1
    COMPUTE = 2
    STORE = 3
    HOST = 4


N_CLOCK = 4  # fetch, load, compute, store: the components of a vector clock


# What a range indexes: one SRAM buffer per name ``isa.sram_buffer`` gives (elements), then
# DRAM (bytes).  Derived from the ISA's memory types, never restated.
_SRAM_NAMES = tuple(dict.fromkeys(isa.sram_buffer(m).upper() for m in isa.MemType))
Buffer = IntEnum("Buffer", [*_SRAM_NAMES, "DRAM"], start=0)
Buffer.__doc__ = "What a range indexes: an SRAM buffer (elements) or DRAM (bytes)."

_SRAM_OF_MEM = {m: Buffer[isa.sram_buffer(m).upper()] for m in isa.MemType}
READ, WRITE = 0, 1
MAX_LISTED = 12  # races a RaceError message lists before "... and N more"
MAX_RACES = 10_000  # conflicting range pairs collected before the search stops (truncated)
_CHUNK = 1 << 20  # candidate pairs examined per numpy step (bounds memory)


def agent_of(insn: isa.Insn) -> Agent:
    """The agent that executes ``insn`` (its module's)."""
    return Agent(isa.module_of(insn) + 1)


def insn_name(insn: isa.Insn) -> str:
    """Short name of an instruction for messages: ``LOAD inp``, ``GEMM``, ``NOP store``..."""
    if isinstance(insn, (isa.Load, isa.Store)):
        return f"{insn.opcode.name} {insn.mem.name.lower()}"
    if isinstance(insn, isa.Alu):
        return f"ALU {insn.alu_op.name.lower()}"
    if isinstance(insn, isa.Nop):
        return f"NOP {insn.module.name.lower()}"
    return insn.opcode.name


# ---------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Access:
    """One side of a race: instruction ``index`` (FINISH's index for the host), who ran it,
    ``"read"`` or ``"write"``, and the instruction's short name."""

    index: int
    agent: Agent
    kind: str
    name: str

    def describe(self) -> str:
        if self.agent == Agent.HOST:
            return (f"the host {self.kind}s DRAM once FINISH (instruction {self.index}) "
                    f"retires")
        if self.agent == Agent.FETCH:
            return f"fetch reads instruction {self.index}"
        return f"{self.name} (instruction {self.index}, {self.agent.name.lower()}) {self.kind}s"


@dataclass(frozen=True)
class Race:
    """Two conflicting accesses to ``buffer`` that no token chain orders.

    first/second: the accesses, in program order (first.index <= second.index; the host is
    always second).  lo, hi: the span [lo, hi) of the elements (SRAM) or bytes (DRAM) both
    touch; size: how many of them.  kind: RAW, WAR or WAW in program order.
    """

    buffer: Buffer
    first: Access
    second: Access
    lo: int
    hi: int
    size: int

    @property
    def kind(self) -> str:
        if self.first.kind == "write":
            return "WAW" if self.second.kind == "write" else "RAW"
        return "WAR"

    @property
    def indices(self) -> tuple[int, int]:
        return self.first.index, self.second.index

    def describe(self) -> str:
        unit = "bytes" if self.buffer == Buffer.DRAM else "elements"
        span = f"{self.buffer.name.lower()}[{self.lo}, {self.hi})"
        if self.size != self.hi - self.lo:
            span += f" ({self.size} {unit} in common)"
        return (f"{self.kind} on {span}: {self.first.describe()}, {self.second.describe()}; "
                f"no token chain orders them")


@dataclass(frozen=True)
class RaceReport:
    """The outcome of a race check: every race found (sorted by the instruction indices)
    and how much was examined.  A pathological program with more than ``MAX_RACES``
    conflicting range pairs gets the first ones found and ``truncated`` set, so the check
    stays fast."""

    races: tuple[Race, ...]
    instructions: int
    accesses: int  # access ranges computed
    candidates: int  # concurrent pairs whose ranges were compared
    truncated: bool = False  # the search stopped after MAX_RACES conflicting range pairs

    @property
    def ok(self) -> bool:
        return not self.races

    def message(self, limit: int = MAX_LISTED) -> str:
        n = len(self.races)
        count = f"at least {n}" if self.truncated else f"{n}"
        lines = [f"{count} data race{'s' if n != 1 else ''}: accesses from different "
                 f"modules, one a write, that no token chain orders"]
        lines += [f"  {r.describe()}" for r in self.races[:limit]]
        if n > limit:
            lines.append(f"  ... and {n - limit} more")
        return "\n".join(lines)


class RaceError(SimError):
    """A program has data races; ``report`` lists them (the message names the first few)."""

    def __init__(self, report: RaceReport):
        self.report = report
        super().__init__(report.message())


# ---------------------------------------------------------------------------- happens-before
def _agents(insns: list[isa.Insn] | tuple[isa.Insn, ...]) -> list[int]:
    return [isa.module_of(x) + 1 for x in insns]


def _token_ops(insns, agents: list[int]) -> list[tuple[list, list]]:
    """``isa.token_ops`` of every instruction, computed once per (module, flags)."""
    memo: dict[tuple, tuple[list, list]] = {}
    out = []
    for x, a in zip(insns, agents, strict=True):
        key = (a, x.pop_prev, x.pop_next, x.push_prev, x.push_next)
        ops = memo.get(key)
        if ops is None:
            ops = memo[key] = isa.token_ops(isa.Nop(module=isa.Module(a - 1), pop_prev=key[1],
                                                    pop_next=key[2], push_prev=key[3],
                                                    push_next=key[4]))
        out.append(ops)
    return out


def happens_before(insns: list[isa.Insn] | tuple[isa.Insn, ...],
                   agents: list[int] | None = None) -> np.ndarray:
    """Vector clocks, shape ``(len(insns), 4)``: ``clocks[i][a]`` is how many instructions of
    agent ``a`` (fetch, load, compute, store) happen before or at instruction ``i``.

    Instruction ``j`` of agent ``a``, at position ``p`` in that agent's order, happens before
    instruction ``i`` iff ``p < clocks[i][a]`` (fetch's position of ``j`` is ``j``).  Raises
    DeadlockError when a pop has no push to consume (every pop is matched to the push of the
    same rank on its queue, whatever the timing).
    """
    n = len(insns)
    agents = _agents(insns) if agents is None else agents
    order: dict[Agent, list[int]] = {a: [] for a in (Agent.LOAD, Agent.COMPUTE, Agent.STORE)}
    for i, a in enumerate(agents):
        order[Agent(a)].append(i)
    ops = _token_ops(insns, agents)
    pushed: dict[tuple, list[tuple[int, ...]]] = {q: [] for q in isa.TOKEN_QUEUES}
    popped = {q: 0 for q in isa.TOKEN_QUEUES}
    rows: list[tuple[int, ...]] = [(0,) * N_CLOCK] * n
    cur = {a: (0,) * N_CLOCK for a in order}
    ptr = {a: 0 for a in order}
    while True:
        progress = False
        for a, seq in order.items():
            f, l_, c_, s_ = cur[a]
            k = ptr[a]
            while k < len(seq):
                i = seq[k]
                pops, pushes = ops[i]
                if pops:
                    if any(popped[q] >= len(pushed[q]) for q in pops):
                        break
                    for q in pops:
                        pf, pl, pc, ps = pushed[q][popped[q]]
                        popped[q] += 1
                        f, l_, c_, s_ = (f if f > pf else pf, l_ if l_ > pl else pl,
                                         c_ if c_ > pc else pc, s_ if s_ > ps else ps)
                if f <= i:
                    f = i + 1
                k += 1
                if a == Agent.LOAD:
                    l_ = k
                elif a == Agent.COMPUTE:
                    c_ = k
                else:
                    s_ = k
                row = rows[i] = (f, l_, c_, s_)
                for q in pushes:
                    pushed[q].append(row)
                progress = True
            cur[a], ptr[a] = (f, l_, c_, s_), k
        if all(ptr[a] == len(seq) for a, seq in order.items()):
            return np.array(rows, np.int64).reshape(n, N_CLOCK)
        if not progress:
            waits = []
            for a, seq in order.items():
                if ptr[a] < len(seq):
                    i = seq[ptr[a]]
                    for q in ops[i][0]:
                        if popped[q] >= len(pushed[q]):
                            waits.append(f"instruction {i} ({insn_name(insns[i])}) pops "
                                         f"{isa.queue_name(*q)} (pop #{popped[q] + 1}), which "
                                         f"no push matches")
            raise DeadlockError("deadlock: " + "; ".join(waits))


# ---------------------------------------------------------------------------- accesses
@dataclass(frozen=True)
class AccessTable:
    """Every access range of a program, one row each (numpy columns of equal length).

    insn: instruction index.  agent: :class:`Agent` (fetch rows: one per instruction).
    buffer: :class:`Buffer`.  kind: 0 read, 1 write.  lo, hi: the range [lo, hi) in elements
    (SRAM) or bytes (DRAM).  Within one (insn, agent, buffer, kind) the ranges are disjoint.
    """

    insn: np.ndarray
    agent: np.ndarray
    buffer: np.ndarray
    kind: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    def __len__(self) -> int:
        return int(self.insn.size)

    def of(self, index: int, agent: Agent | None = None) -> list[tuple[Buffer, str, int, int]]:
        """The ranges of instruction ``index`` as ``(buffer, "read"|"write", lo, hi)``."""
        m = self.insn == index
        if agent is not None:
            m &= self.agent == agent
        return [(Buffer(int(b)), ("read", "write")[int(k)], int(lo), int(hi))
                for b, k, lo, hi in zip(self.buffer[m], self.kind[m], self.lo[m], self.hi[m],
                                        strict=True)]


class _Rows:
    """Collects access rows as numpy chunks."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, insn, agent, buffer, kind, lo, hi) -> None:
        """Rows (broadcast together); empty ranges are dropped."""
        vals = [np.asarray(v, np.int64) for v in (insn, agent, buffer, kind, lo, hi)]
        shape = np.broadcast_shapes((1,), *(v.shape for v in vals))
        cols = [np.broadcast_to(v, shape).reshape(-1) for v in vals]
        keep = cols[5] > cols[4]
        if keep.any():
            self.parts.append(tuple(c[keep] for c in cols))

    def table(self) -> AccessTable:
        if not self.parts:
            z = np.zeros(0, np.int64)
            return AccessTable(z, z, z, z, z, z)
        cols = [np.concatenate([p[k] for p in self.parts]) for k in range(6)]
        return AccessTable(*cols)


def _runs(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The set of ``idx`` values as sorted disjoint runs [lo, hi)."""
    u = np.unique(idx)
    if u.size == 0:
        return u, u
    brk = np.flatnonzero(np.diff(u) != 1)
    lo = u[np.concatenate(([0], brk + 1))]
    hi = u[np.concatenate((brk, [u.size - 1]))] + 1
    return lo, hi


def _dma_dram_ranges(cfg: HwConfig, insns: list, where: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DRAM byte ranges of the LOAD/STORE instructions at ``where``: one range per row, or
    one for the whole transfer when its rows touch or overlap.  Returns (insn, lo, hi)."""
    if where.size == 0:
        z = np.zeros(0, np.int64)
        return z, z, z
    eb = {m: isa.elem_bytes(cfg, m) for m in isa.MemType}
    f = np.array([(eb[insns[i].mem], insns[i].dram_base, insns[i].y_size,
                   insns[i].x_size, insns[i].x_stride) for i in where], np.int64)
    e, base, y, x, stride = f.T
    live = (y > 0) & (x > 0)
    where, e, base, y, x, stride = (a[live] for a in (where, e, base, y, x, stride))
    whole = (stride <= x) | (y == 1)
    w_lo = base[whole] * e[whole]
    w_hi = (base[whole] + (y[whole] - 1) * stride[whole] + x[whole]) * e[whole]
    rows = ~whole
    ry = y[rows]
    rep = np.repeat(np.arange(ry.size), ry)
    r = np.arange(rep.size) - np.repeat(np.cumsum(ry) - ry, ry)
    r_lo = (base[rows][rep] + r * stride[rows][rep]) * e[rows][rep]
    r_hi = r_lo + x[rows][rep] * e[rows][rep]
    return (np.concatenate((where[whole], where[rows][rep])), np.concatenate((w_lo, r_lo)),
            np.concatenate((w_hi, r_hi)))


def _uop_words(cfg: HwConfig, dram: np.ndarray, insn: isa.Load) -> np.ndarray:
    """The micro-op words a uop LOAD brings (zeros for bytes past the image: the simulator
    rejects such a load as out of range)."""
    e = isa.UOP_BYTES
    y, x, s = insn.y_size, insn.x_size, insn.x_stride
    rows = (insn.dram_base + np.arange(y, dtype=np.int64)[:, None] * s) * e
    byte = rows + np.arange(x * e, dtype=np.int64)[None, :]
    ok = byte < dram.size
    data = np.zeros(byte.shape, np.uint8)
    data[ok] = dram[byte[ok]]
    return data.reshape(-1).view("<u4").astype(np.uint32)


def _loop_sets(cfg: HwConfig, insn: isa.Gemm | isa.Alu, words: np.ndarray, out_depth: int
               ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Runs of the index sets a GEMM/ALU's micro-op loops touch (docs/semantics.md):
    ``dst`` (acc written) and ``out`` (its mirror below the out depth), and the ones read:
    ``acc`` (accumulated / ALU operands), ``inp``, ``wgt``."""
    fields = uop_fields(cfg)
    w = words.astype(np.int64)
    i0 = np.arange(insn.iter_out, dtype=np.int64)[:, None, None]
    i1 = np.arange(insn.iter_in, dtype=np.int64)[None, :, None]

    def idx(name: str) -> np.ndarray:
        shift, mask = fields[name]
        base = ((w >> shift) & mask)[None, None, :]
        return (base + i0 * getattr(insn, f"{name}_factor_out")
                + i1 * getattr(insn, f"{name}_factor_in")).reshape(-1)

    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if isinstance(insn, isa.Alu) and insn.alu_op == isa.AluOp.OUTMODE and not insn.reset:
        return out  # sets the out mode; its iterations touch no buffer
    dst = idx("dst")
    out["dst"] = lo, hi = _runs(dst)
    live = lo < out_depth
    out["out"] = lo[live], np.minimum(hi[live], out_depth)
    if insn.reset:
        return out
    if isinstance(insn, isa.Gemm):
        out["inp"] = _runs(idx("src"))
        out["wgt"] = _runs(idx("wgt"))
        if not insn.overwrite:
            out["acc"] = out["dst"]
    else:
        out["acc"] = out["dst"] if insn.use_imm else _runs(np.concatenate((dst, idx("src"))))
    return out


def access_table(insns: list[isa.Insn] | tuple[isa.Insn, ...], cfg: HwConfig,
                 dram: bytes | bytearray | np.ndarray, insn_addr: int | None = None,
                 agents: list[int] | None = None) -> AccessTable:
    """Every SRAM and DRAM range each instruction reads and writes (module docstring).

    ``dram`` is the initial DRAM image: only micro-op LOADs' sources are read from it.
    ``insn_addr``: where the instruction words lie (fetch's reads); None leaves fetch out.
    """
    insns = list(insns)
    n = len(insns)
    img = np.frombuffer(bytes(dram), np.uint8) if not isinstance(dram, np.ndarray) else \
        dram.reshape(-1).view(np.uint8)
    rows = _Rows()
    if insn_addr is not None and n:
        start = insn_addr + isa.INSN_BYTES * np.arange(n, dtype=np.int64)
        rows.add(np.arange(n), Agent.FETCH, Buffer.DRAM, READ, start, start + isa.INSN_BYTES)
    out_depth = cfg.out_buff_depth
    loads = np.array([i for i, x in enumerate(insns) if isinstance(x, isa.Load)], np.int64)
    stores = np.array([i for i, x in enumerate(insns) if isinstance(x, isa.Store)], np.int64)
    agents = np.array(_agents(insns) if agents is None else agents, np.int64)
    # LOAD/STORE: SRAM side, one range each
    for where, kind in ((loads, WRITE), (stores, READ)):
        if where.size == 0:
            continue
        f = np.array([(_SRAM_OF_MEM[insns[i].mem], insns[i].sram_base,
                       insns[i].sram_elems if kind == WRITE else insns[i].dram_elems)
                      for i in where], np.int64)
        buf, base, cnt = f.T
        rows.add(where, agents[where], buf, kind, base, base + cnt)
        acc = buf == Buffer.ACC
        rows.add(where[acc], agents[where[acc]], Buffer.OUT, WRITE, base[acc],
                 np.minimum(base[acc] + cnt[acc], out_depth))
    # LOAD/STORE: DRAM side
    for where, kind in ((loads, READ), (stores, WRITE)):
        w, lo, hi = _dma_dram_ranges(cfg, insns, where)
        rows.add(w, agents[w], Buffer.DRAM, kind, lo, hi)
    # GEMM/ALU: the micro-op loops, with the uop buffer tracked in compute order
    uop = np.zeros(cfg.uop_buff_depth, np.uint32)
    cache: dict[tuple, dict] = {}
    loops: list[int] = []
    loop_sets: list[dict] = []
    for i, x in enumerate(insns):
        if isinstance(x, isa.Load) and x.mem == isa.MemType.UOP:
            words = _uop_words(cfg, img, x)[:max(0, cfg.uop_buff_depth - x.sram_base)]
            uop[x.sram_base:x.sram_base + words.size] = words
            continue
        if not isinstance(x, (isa.Gemm, isa.Alu)) or x.n_iters == 0:
            continue
        words = uop[x.uop_bgn:x.uop_end]
        key = (x.opcode, x.reset, x.iter_out, x.iter_in, x.dst_factor_out, x.dst_factor_in,
               x.src_factor_out, x.src_factor_in, getattr(x, "wgt_factor_out", 0),
               getattr(x, "wgt_factor_in", 0), getattr(x, "overwrite", False),
               getattr(x, "use_imm", False), getattr(x, "alu_op", None) == isa.AluOp.OUTMODE,
               words.tobytes())
        sets = cache.get(key)
        if sets is None:
            sets = cache[key] = _loop_sets(cfg, x, words, out_depth)
        loops.append(i)
        loop_sets.append(sets)
    if loops:
        where = np.array(loops, np.int64)
        rows.add(where, Agent.COMPUTE, Buffer.UOP, READ,
                 [insns[i].uop_bgn for i in loops],
                 np.minimum([insns[i].uop_end for i in loops], cfg.uop_buff_depth))
        for name, buf, kind in (("dst", Buffer.ACC, WRITE), ("out", Buffer.OUT, WRITE),
                                ("acc", Buffer.ACC, READ), ("inp", Buffer.INP, READ),
                                ("wgt", Buffer.WGT, READ)):
            got = [(k, s[name]) for k, s in enumerate(loop_sets) if name in s]
            if not got:
                continue
            lens = np.array([r[0].size for _, r in got], np.int64)
            rows.add(np.repeat(where[[k for k, _ in got]], lens), Agent.COMPUTE, buf, kind,
                     np.concatenate([r[0] for _, r in got]),
                     np.concatenate([r[1] for _, r in got]))
    return rows.table()


# ---------------------------------------------------------------------------- the check
def _merge(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The union of ranges as sorted disjoint ranges."""
    if lo.size == 0:
        return lo, hi
    o = np.argsort(lo, kind="stable")
    lo, hi = lo[o], hi[o]
    top = np.maximum.accumulate(hi)
    new = np.concatenate(([True], lo[1:] > top[:-1]))
    starts = np.flatnonzero(new)
    ends = np.concatenate((starts[1:], [lo.size])) - 1
    return lo[starts], top[ends]


def _touches(lo: np.ndarray, hi: np.ndarray, ulo: np.ndarray, uhi: np.ndarray) -> np.ndarray:
    """Which ranges [lo, hi) overlap the union of sorted disjoint ranges (ulo, uhi)."""
    if ulo.size == 0:
        return np.zeros(lo.size, bool)
    k = np.searchsorted(uhi, lo, side="right")
    kk = np.minimum(k, ulo.size - 1)
    return (k < ulo.size) & (ulo[kk] < hi)


@dataclass(frozen=True)
class _Side:
    """The access rows of one agent on one buffer, sorted by the agent's order."""

    pos: np.ndarray  # position of the instruction in its agent's order
    insn: np.ndarray
    kind: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    def take(self, m: np.ndarray) -> _Side:
        return _Side(self.pos[m], self.insn[m], self.kind[m], self.lo[m], self.hi[m])


def _pairs(a: _Side, b: _Side, win_lo: np.ndarray, win_hi: np.ndarray, budget: int
           ) -> tuple[list[np.ndarray], int, bool]:
    """Conflicting (a row, b row) pairs with a's position in b's window [win_lo, win_hi).
    Returns index arrays (ia, ib) chunks, the number of pairs compared, and whether it
    stopped early because more than ``budget`` pairs conflict."""
    s = np.searchsorted(a.pos, win_lo, side="left")
    e = np.searchsorted(a.pos, win_hi, side="left")
    cnt = np.maximum(e - s, 0)
    found: list[np.ndarray] = []
    if int(cnt.sum()) == 0:
        return found, 0, False
    cum = np.cumsum(cnt)
    b0 = compared = hits = 0
    while b0 < cnt.size:
        if hits > budget:
            return found, compared, True
        base = cum[b0 - 1] if b0 else 0
        b1 = int(np.searchsorted(cum, base + _CHUNK, side="right"))
        b1 = max(b1, b0 + 1)
        c = cnt[b0:b1]
        ib = np.repeat(np.arange(b0, b1), c)
        off = np.arange(ib.size) - np.repeat(np.cumsum(c) - c, c)
        ia = s[ib] + off
        ok = (np.maximum(a.lo[ia], b.lo[ib]) < np.minimum(a.hi[ia], b.hi[ib])) & \
            ((a.kind[ia] | b.kind[ib]) == WRITE)
        if ok.any():
            found.append(np.stack((ia[ok], ib[ok])))
            hits += found[-1].shape[1]
        compared += ia.size
        b0 = b1
    return found, compared, False


def find_races(insns: list[isa.Insn] | tuple[isa.Insn, ...], cfg: HwConfig,
               dram: bytes | bytearray | np.ndarray, *, insn_addr: int | None = None
               ) -> RaceReport:
    """Every race of ``insns`` (module docstring); see :func:`access_table` for ``dram`` and
    ``insn_addr``.  Raises DeadlockError for a pop no push matches."""
    insns = list(insns)
    n = len(insns)
    agent_list = _agents(insns)
    clocks = happens_before(insns, agent_list)
    table = access_table(insns, cfg, dram, insn_addr, agent_list)
    agents = np.array(agent_list, np.int64)
    # each agent's order: position of every instruction in it, and clocks along it
    pos_in = np.zeros(n, np.int64)
    order_clocks: dict[int, np.ndarray] = {Agent.FETCH: np.zeros((n, N_CLOCK), np.int64)}
    order_clocks[Agent.FETCH][:, Agent.FETCH] = np.arange(1, n + 1)
    for a in (Agent.LOAD, Agent.COMPUTE, Agent.STORE):
        idx = np.flatnonzero(agents == a)
        pos_in[idx] = np.arange(idx.size)
        order_clocks[a] = clocks[idx]
    row_pos = np.where(table.agent == Agent.FETCH, table.insn, pos_in[table.insn])
    row_clock = clocks[table.insn]  # (fetch rows are never the later side of a pair)
    found: list[np.ndarray] = []  # rows (buf, a, insn a, kind a, b, insn b, kind b, lo, hi)
    n_found, truncated = 0, False
    compared = 0
    for buf in Buffer:
        on = table.buffer == buf
        present = sorted({int(a) for a in np.unique(table.agent[on])})
        if len(present) < 2:
            continue
        sides: dict[int, _Side] = {}
        clk: dict[int, np.ndarray] = {}
        for a in present:
            m = np.flatnonzero(on & (table.agent == a))
            o = m[np.argsort(row_pos[m], kind="stable")]
            sides[a] = _Side(row_pos[o], table.insn[o], table.kind[o], table.lo[o], table.hi[o])
            clk[a] = row_clock[o]
        for ia_, a in enumerate(present):
            for b in present[ia_ + 1:]:
                for a_kind, b_kinds in ((WRITE, (READ, WRITE)), (READ, (WRITE,))):
                    sa = sides[a].take(sides[a].kind == a_kind)
                    mb = np.isin(sides[b].kind, b_kinds)
                    sb, cb = sides[b].take(mb), clk[b][mb]
                    if sa.pos.size == 0 or sb.pos.size == 0:
                        continue
                    keep_b = _touches(sb.lo, sb.hi, *_merge(sa.lo, sa.hi))
                    keep_a = _touches(sa.lo, sa.hi, *_merge(sb.lo, sb.hi))
                    if not keep_b.any():
                        continue
                    sa, sb, cb = sa.take(keep_a), sb.take(keep_b), cb[keep_b]
                    # a-positions concurrent with each b: not before it, not after it
                    win_lo = cb[:, a]
                    win_hi = np.searchsorted(order_clocks[a][:, b], sb.pos + 1, side="left")
                    if n_found >= MAX_RACES:
                        truncated = True
                        continue
                    chunks, c, stopped = _pairs(sa, sb, win_lo, win_hi, MAX_RACES - n_found)
                    compared += c
                    truncated |= stopped
                    for pa, pb in chunks:
                        n_found += pa.size
                        ones = np.ones(pa.size, np.int64)
                        found.append(np.stack((
                            ones * buf, ones * a, sa.insn[pa], sa.kind[pa], ones * b,
                            sb.insn[pb], sb.kind[pb], np.maximum(sa.lo[pa], sb.lo[pb]),
                            np.minimum(sa.hi[pa], sb.hi[pb])), axis=1))
    rows = np.concatenate(found) if found else np.zeros((0, 9), np.int64)
    if rows.shape[0] > MAX_RACES:
        rows, truncated = rows[:MAX_RACES], True
    races = _collect(rows, insns)
    races += _end_of_program(insns, clocks, table, agents, pos_in)
    races.sort(key=lambda r: (r.first.index, r.second.index, r.buffer, r.lo))
    return RaceReport(tuple(races), n, len(table), compared, truncated)


def _collect(found: np.ndarray, insns: list[isa.Insn]) -> list[Race]:
    """One Race per (buffer, access pair), spanning every range the two share.  ``found``:
    rows (buffer, agent a, insn a, kind a, agent b, insn b, kind b, lo, hi)."""
    if found.shape[0] == 0:
        return []
    f = found.copy()
    swap = (f[:, 2] > f[:, 5]) | ((f[:, 2] == f[:, 5]) & (f[:, 1] > f[:, 4]))
    f[swap, 1:4], f[swap, 4:7] = found[swap, 4:7], found[swap, 1:4]
    keys, inv = np.unique(f[:, :7], axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    lo = np.full(keys.shape[0], np.iinfo(np.int64).max)
    hi = np.full(keys.shape[0], np.iinfo(np.int64).min)
    size = np.zeros(keys.shape[0], np.int64)
    np.minimum.at(lo, inv, f[:, 7])
    np.maximum.at(hi, inv, f[:, 8])
    np.add.at(size, inv, f[:, 8] - f[:, 7])
    kinds = ("read", "write")
    names = {int(i): insn_name(insns[int(i)]) for i in np.unique(keys[:, [2, 5]])}
    return [Race(Buffer(int(k[0])),
                 Access(int(k[2]), Agent(int(k[1])), kinds[int(k[3])], names[int(k[2])]),
                 Access(int(k[5]), Agent(int(k[4])), kinds[int(k[6])], names[int(k[5])]),
                 int(lo[g]), int(hi[g]), int(size[g]))
            for g, k in enumerate(keys.tolist())]


def _end_of_program(insns: list[isa.Insn], clocks: np.ndarray, table: AccessTable,
                    agents: np.ndarray, pos_in: np.ndarray) -> list[Race]:
    """STOREs that FINISH does not wait for: the host reads DRAM once FINISH retires (the
    core's ``done``), possibly before they wrote it.  (A LOAD left running only fills SRAM
    no instruction reads any more.)"""
    fins = [i for i, x in enumerate(insns) if isinstance(x, isa.Finish)]
    if not fins:
        return []
    f = fins[-1]
    late = ((table.buffer == Buffer.DRAM) & (table.kind == WRITE)
            & (table.agent == Agent.STORE)
            & (pos_in[table.insn] >= clocks[f][Agent.STORE]))
    out: list[Race] = []
    for i in np.unique(table.insn[late]):
        r = late & (table.insn == i)
        lo, hi = int(table.lo[r].min()), int(table.hi[r].max())
        size = int((table.hi[r] - table.lo[r]).sum())
        out.append(Race(Buffer.DRAM, Access(int(i), Agent(int(agents[i])), "write",
                                            insn_name(insns[i])),
                        Access(f, Agent.HOST, "read", "FINISH"), lo, hi, size))
    return out


def check_races(insns: list[isa.Insn] | tuple[isa.Insn, ...], cfg: HwConfig,
                dram: bytes | bytearray | np.ndarray, *, insn_addr: int | None = None
                ) -> RaceReport:
    """:func:`find_races`, raising :class:`RaceError` when it finds any."""
    report = find_races(insns, cfg, dram, insn_addr=insn_addr)
    if report.races:
        raise RaceError(report)
    return report


def check_image_races(cfg: HwConfig, dram: bytes, insn_addr: int, insn_count: int
                      ) -> RaceReport:
    """Decode the ``insn_count`` instructions at ``insn_addr`` of ``dram`` and check them
    (fetch's reads of the instruction words included); raises RaceError."""
    from vta_sim.simulator import decode_stream

    insns = decode_stream(cfg, dram, insn_addr, insn_count)
    return check_races(insns, cfg, dram, insn_addr=insn_addr)


def check_bundle_races(bundle) -> RaceReport:
    """:func:`check_image_races` on a :class:`~vta_hw.bundle.Bundle`; raises RaceError."""
    return check_image_races(bundle.config, bundle.dram, bundle.insn_addr, bundle.insn_count)


__all__ = ["Agent", "Buffer", "Access", "Race", "RaceReport", "RaceError", "AccessTable",
           "happens_before", "access_table", "find_races", "check_races",
           "check_image_races", "check_bundle_races", "insn_name"]
