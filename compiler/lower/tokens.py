"""Pass ``tokens``: dependency-token insertion (VTA's InjectCoProcSync), and its checker.

Dependencies come from the sequential meaning of the program: walking the instructions in
their logical order (``Instr.seq``), an instruction depends on the last writer of every
resource it reads (RAW) and, for what it writes, on the last writer (WAW) and the readers
since (WAR) -- resources being SRAM element ranges and DRAM tensors.  Only dependencies
between different modules need tokens (a module runs its instructions in order).

Tokens are then placed on the program order chosen by ``interleave``.  For each queue
X->Y, walking Y's instructions in order, an instruction whose latest producer on X is not
yet covered by an earlier pop pops one token, and that producer pushes it.  Pushes happen
in producer order and pops in consumer order, so the n-th pop gets exactly the n-th push it
was paired with; every producer precedes its consumer in program order.  Load and store
share no queue: a dependency between them goes through a compute NOP (one per newly
needed producer: later consumers are covered by the module's order).  FINISH waits for the
last load and the last store.

:func:`check_tokens` verifies any instruction stream, hand-written or generated, by running
the machine's queues abstractly (fetch into bounded command queues, bounded token queues,
in-order modules that pop at issue and push at retire).  The system is a Kahn network, so
one run decides for all timings whether the stream deadlocks.  It rejects with the
instruction index and queue: a pop no push can satisfy (a missing push or an extra pop), a
deadlock, tokens left over at the end (an extra push or a missing pop), and a FINISH that
can retire before a load or store has completed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace

from compiler.errors import TokenError
from compiler.ir import Access, Instr, Program
from vta_hw import isa
from vta_hw.config import HwConfig

MOD = isa.Module


queue_name, push_flag, pop_flag = isa.queue_name, isa.push_flag, isa.pop_flag
_queue_of = isa.token_queue
QUEUES = isa.TOKEN_QUEUES


# ---------------------------------------------------------------------------- dependencies
_BUCKET = 4  # log2 of the SRAM elements one bucket of the overlap index covers
_SCAN = 48  # up to this many ranges in a space, scanning them all is cheaper


# The last call's instructions (held, so compared by identity) and result: the pipeline asks
# three times in a row about the same immutable instructions (``interleave``, its order
# check, the token pass), as does ``chain`` on a whole model's stream.
_LAST: list = [[], []]  # [instructions, their dependencies]


def dependencies(instrs: list[Instr]) -> list[set[int]]:
    """For each instruction (in the given, logical, order) the indices of earlier
    instructions on other modules it must wait for (RAW, WAR and WAW on its resources);
    see :func:`_dependencies`.  The result is the caller's to keep (fresh sets)."""
    return [set(d) for d in _shared_dependencies(instrs)]


def _shared_dependencies(instrs: list[Instr]) -> list[set[int]]:
    """:func:`dependencies` without the copy: the cached sets, not to be modified."""
    seen, deps = _LAST
    if not (len(seen) == len(instrs)
            and all(a is b for a, b in zip(seen, instrs, strict=True))):
        deps = _dependencies(instrs)
        _LAST[:] = [list(instrs), deps]
    return deps


def latest_dependencies(instrs: list[Instr], *,
                        from_full_sets: bool = False) -> list[tuple[int, ...]]:
    """For each instruction, the latest instruction of each other module among its
    :func:`dependencies` (at most two indices).  A module retires its instructions in
    order, so waiting for these is waiting for all of them: what a list schedule needs.

    Two ways to the same answer: by default from one walk that builds no full sets (the
    schedule search ranks many candidates and needs nothing else); ``from_full_sets`` takes
    them from :func:`dependencies`' sets, computing and keeping those -- for a pass whose
    program the token pass then walks again (``interleave``: its order check and the token
    pass ask for the full sets of the same instructions), so the program is walked once,
    not twice (a chained model program's walk is seconds)."""
    mods = [i.module for i in instrs]
    out: list[tuple[int, ...]] = []
    if from_full_sets:
        for d in _shared_dependencies(instrs):
            best: dict[isa.Module, int] = {}
            for x in d:
                if x > best.get(mods[x], -1):
                    best[mods[x]] = x
            out.append(tuple(best.values()))
        return out
    for m, read_hits, write_hits in _walk(instrs):
        best = {}
        for w, readers in [(w, {}) for w, _ in read_hits] + write_hits:
            if w is not None and mods[w] != m and w > best.get(mods[w], -1):
                best[mods[w]] = w
            for mod, r in readers.items():
                if mod != m and r > best.get(mod, -1):
                    best[mod] = r
        out.append(tuple(best.values()))
    return out


def _dependencies(instrs: list[Instr]) -> list[set[int]]:
    """:func:`dependencies`, computed (see :func:`_walk`)."""
    deps: list[set[int]] = []
    mods = [i.module for i in instrs]
    for m, read_hits, write_hits in _walk(instrs):
        d: set[int] = set()
        for w, _ in read_hits:
            if w is not None and mods[w] != m:
                d.add(w)
        for w, readers in write_hits:
            if w is not None and mods[w] != m:
                d.add(w)
            d.update(r for mod, r in readers.items() if mod != m)
        deps.append(d)
    return deps


def _walk(instrs: list[Instr]) -> Iterator[tuple[isa.Module, list[list], list[list]]]:
    """Walk the instructions in order, yielding for each (its module, the resources its
    reads meet, those its writes meet) before recording its own accesses.

    A resource is one ``(space, lo, hi)`` range as accesses name it: ``[last writer,
    {module: latest reader since}]``; an access meets every range of its space it overlaps
    (a DRAM tensor: every range).  SRAM ranges are found through an index of fixed-size
    buckets once a space has many, so an access looks only at ranges near it: a chained
    model program has thousands of instructions over hundreds of accumulator ranges."""
    table: dict[str, dict[tuple[int, int], list]] = {}
    index: dict[str, dict[int, list[tuple[int, int]]]] = {}
    dram: dict[str, bool] = {}

    def meets(a: Access) -> list[list]:
        entries = table.get(a.space)
        if not entries:
            return []
        is_dram = dram.get(a.space)
        if is_dram is None:
            is_dram = dram[a.space] = a.space.startswith("dram:")
        if is_dram:
            return list(entries.values())
        if len(entries) <= _SCAN:
            return [e for (lo, hi), e in entries.items() if a.lo < hi and lo < a.hi]
        buckets = index[a.space]
        keys: set[tuple[int, int]] = set()
        for b in range(a.lo >> _BUCKET, (max(a.lo, a.hi - 1) >> _BUCKET) + 1):
            keys.update(buckets.get(b, ()))
        return [entries[key] for key in keys if a.lo < key[1] and key[0] < a.hi]

    def entry(a: Access) -> list | None:
        entries = table.setdefault(a.space, {})
        key = (a.lo, a.hi)
        e = entries.get(key)
        if e is None:
            buckets = index.setdefault(a.space, {})
            for b in range(a.lo >> _BUCKET, (max(a.lo, a.hi - 1) >> _BUCKET) + 1):
                buckets.setdefault(b, []).append(key)
        return e

    for k, ins in enumerate(instrs):
        m = ins.module
        yield (m, [e for a in ins.reads for e in meets(a)],
               [e for a in ins.writes for e in meets(a)])
        for a in ins.reads:
            e = entry(a)
            if e is None:
                e = table[a.space][(a.lo, a.hi)] = [None, {}]
            e[1][m] = k
        for a in ins.writes:
            entry(a)
            table[a.space][(a.lo, a.hi)] = [k, {}]


# ---------------------------------------------------------------------------- insertion
def _with_flags(insn: isa.Insn, flags: set[str]) -> isa.Insn:
    return replace(insn, **{f: True for f in flags}) if flags else insn


def insert_tokens(p: Program) -> Program:
    """Set the dependency flags of the program (in its current order) and append FINISH."""
    prog = list(p.instrs())
    if len(prog) != len(p.nodes):
        raise TokenError("the token pass needs a program of instructions only")
    logical = sorted(range(len(prog)), key=lambda i: prog[i].seq)
    ldeps = dependencies([prog[i] for i in logical])
    deps: list[set[int]] = [set() for _ in prog]
    for li, d in enumerate(ldeps):
        deps[logical[li]] = {logical[x] for x in d}
    # Load <-> store dependencies go through a compute NOP placed just before the consumer.
    out: list[Instr] = []
    out_deps: list[set[int]] = []
    where: dict[int, int] = {}
    routed = {MOD.LOAD: -1, MOD.STORE: -1}  # latest far source already routed to a module
    for i, ins in enumerate(prog):
        m = ins.module
        far = max((where[x] for x in deps[i] if abs(prog[x].module - m) == 2), default=-1)
        near = {where[x] for x in deps[i] if abs(prog[x].module - m) == 1}
        if far > routed.get(m, -1):  # modules run in order: one NOP covers later ones too
            out.append(Instr(isa.Nop(module=MOD.COMPUTE), tag="sync"))
            out_deps.append({far})
            near.add(len(out) - 1)
            routed[m] = far
        where[i] = len(out)
        out.append(ins)
        out_deps.append(near)
    fin_deps = set()
    for m in (MOD.LOAD, MOD.STORE):
        last = [k for k, ins in enumerate(out) if ins.module == m]
        if last:
            fin_deps.add(last[-1])
    out.append(Instr(isa.Finish(), tag="finish"))
    out_deps.append(fin_deps)
    flags: list[set[str]] = [set() for _ in out]
    mods = [ins.module for ins in out]
    for src, dst in QUEUES:
        covered = -1
        for k, m in enumerate(mods):
            if m != dst:
                continue
            need = max((x for x in out_deps[k] if mods[x] == src), default=-1)
            if need > covered:
                flags[k].add(pop_flag(src, dst))
                flags[need].add(push_flag(src, dst))
                covered = need
    nodes = tuple(replace(ins, insn=_with_flags(ins.insn, flags[k]))
                  for k, ins in enumerate(out))
    q = replace(p, nodes=nodes, stage="tokens")
    check_tokens([n.insn for n in nodes], p.cfg)
    return q


# ---------------------------------------------------------------------------- checker
@dataclass(frozen=True)
class TokenReport:
    """What a successful check measured.

    pushes: tokens per queue.  max_in_flight: the most tokens a queue ever held.
    known: per instruction, the last instruction of each module (load, compute, store;
    -1: none) known to have completed when it issues -- through its own module's order and
    the token chains it popped (a vector clock), which is what orders accesses.
    """

    pushes: dict[str, int]
    max_in_flight: dict[str, int]
    known: tuple[tuple[int, int, int], ...] = ()


def _name(insn: isa.Insn) -> str:
    if isinstance(insn, (isa.Load, isa.Store)):
        return f"{insn.opcode.name} {insn.mem.name.lower()}"
    if isinstance(insn, isa.Nop):
        return f"NOP {insn.module.name.lower()}"
    return insn.opcode.name


def check_tokens(insns: list[isa.Insn] | tuple[isa.Insn, ...], cfg: HwConfig) -> TokenReport:
    """Raise :class:`TokenError` unless ``insns`` is balanced and deadlock-free (module
    docstring); return per-queue token counts otherwise."""
    n = len(insns)
    fins = [i for i, x in enumerate(insns) if isinstance(x, isa.Finish)]
    if not n or fins != [n - 1]:
        raise TokenError(f"the stream must end with exactly one FINISH (found at {fins} of "
                         f"{n} instructions)")
    mods = [isa.module_of(x) for x in insns]
    order = {m: [i for i in range(n) if mods[i] == m] for m in MOD}
    qnames = {q: queue_name(*q) for q in QUEUES}
    pops_of, pushes_of = [], []
    for i, x in enumerate(insns):
        pops, pushes = [], []
        for f in isa.DEP_FLAGS:
            if getattr(x, f):
                q = _queue_of(mods[i], f)
                if q is None or q not in qnames:
                    raise TokenError(f"instruction {i} ({_name(x)}) sets {f}, but the "
                                     f"{mods[i].name.lower()} module has no such neighbour")
                (pushes if f.startswith("push") else pops).append(q)
        pops_of.append(pops)
        pushes_of.append(pushes)
    total = {q: sum(q in p for p in pushes_of) for q in QUEUES}
    tokens: dict = {q: deque() for q in QUEUES}
    popped = {q: 0 for q in QUEUES}
    peak = {q: 0 for q in QUEUES}
    cmd: dict = {m: deque() for m in MOD}
    ptr = {m: 0 for m in MOD}
    issued: dict = {m: None for m in MOD}
    clock = {m: {k: -1 for k in MOD} for m in MOD}
    fin_clock = None
    known: list = [None] * n
    f = 0
    depth, cdepth = cfg.token_queue_depth, cfg.cmd_queue_depth
    while True:
        progress = False
        while f < n and len(cmd[mods[f]]) < cdepth:
            cmd[mods[f]].append(f)
            f += 1
            progress = True
        blocked: dict = {}
        for m in MOD:
            while True:
                if issued[m] is None:
                    if ptr[m] >= len(order[m]):
                        break
                    i = order[m][ptr[m]]
                    if not cmd[m] or cmd[m][0] != i:
                        blocked[m] = (i, "command", None)
                        break
                    empty = [q for q in pops_of[i] if not tokens[q]]
                    if empty:
                        blocked[m] = (i, "pop", empty[0])
                        break
                    cmd[m].popleft()
                    for q in pops_of[i]:
                        _, clk = tokens[q].popleft()
                        popped[q] += 1
                        for k in MOD:
                            clock[m][k] = max(clock[m][k], clk[k])
                    known[i] = tuple(clock[m][k] for k in MOD)
                    if isinstance(insns[i], isa.Finish):
                        fin_clock = dict(clock[m])
                    issued[m] = i
                    progress = True
                i = issued[m]
                full = [q for q in pushes_of[i] if len(tokens[q]) >= depth]
                if full:
                    blocked[m] = (i, "push", full[0])
                    break
                clock[m][m] = i
                for q in pushes_of[i]:
                    tokens[q].append((i, dict(clock[m])))
                    peak[q] = max(peak[q], len(tokens[q]))
                issued[m] = None
                ptr[m] += 1
                progress = True
        if f >= n and all(ptr[m] >= len(order[m]) for m in MOD):
            break
        if not progress:
            raise TokenError(_deadlock(insns, blocked, tokens, popped, total, qnames, f, mods))
    for q in QUEUES:
        if tokens[q]:
            srcs = [i for i, _ in tokens[q]]
            raise TokenError(
                f"unbalanced queue {qnames[q]}: {len(srcs)} token(s) pushed but never popped, "
                f"by instruction(s) {srcs[:8]} (first: {_name(insns[srcs[0]])}); an extra push "
                f"or a missing pop")
    assert fin_clock is not None
    for m in (MOD.LOAD, MOD.STORE):
        if order[m] and fin_clock[m] < order[m][-1]:
            last = order[m][-1]
            raise TokenError(
                f"FINISH (instruction {n - 1}) can retire before {m.name.lower()} instruction "
                f"{last} ({_name(insns[last])}) completes: no token chain orders it before "
                f"FINISH")
    return TokenReport({qnames[q]: total[q] for q in QUEUES},
                       {qnames[q]: peak[q] for q in QUEUES}, tuple(known))


def _deadlock(insns, blocked, tokens, popped, total, qnames, f, mods) -> str:
    msgs, lead = [], None
    for m, (i, why, q) in blocked.items():
        name = f"{m.name.lower()} instruction {i} ({_name(insns[i])})"
        if why == "pop":
            s = f"{name} pops {qnames[q]} (pop #{popped[q] + 1})"
            if total[q] <= popped[q]:
                s += (f" but the stream pushes only {total[q]} token(s) on that queue: a push "
                      f"is missing or a pop is extra")
                lead = lead or s
            else:
                s += ", which never gets its token"
            msgs.append(s)
        elif why == "push":
            msgs.append(f"{name} waits to push into the full {qnames[q]} queue")
    if f < len(insns):
        msgs.append(f"fetch waits to dispatch instruction {f} ({_name(insns[f])}) into the "
                    f"full {mods[f].name.lower()} command queue")
    lead = lead or (msgs[0] if msgs else "no module can progress")
    rest = [s for s in msgs if s != lead]
    return "deadlock: " + lead + ("; meanwhile " + "; ".join(rest) if rest else "")


__all__ = ["dependencies", "latest_dependencies", "insert_tokens",
           "check_tokens", "TokenReport", "queue_name",
           "push_flag", "pop_flag", "QUEUES"]
