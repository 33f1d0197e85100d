"""The device assignment with the least end-to-end latency, and why.

The executor runs ops one after another, so a graph's latency under an assignment is the sum
of every node's cost on its device plus, for every tensor, one copy to each *other* device
that one of its consumers runs on (a tensor read by three accelerator ops crosses once).

Two devices (A, B): this is exactly an s-t minimum cut.  The source side is A, the sink side
B; node ``v`` gets an edge ``s -> v`` of capacity cost(v, B) (cut when v is on B) and
``v -> t`` of capacity cost(v, A); an impossible device (incapable, pinned elsewhere) is an
infinite capacity.  A tensor produced by ``u`` and read by ``C`` gets two auxiliary nodes:
``u -> a`` (capacity transfer A->B), ``a -> c`` (infinite) for every c in C, which is cut
once when u is on A and any consumer on B; and ``c -> b`` (infinite), ``b -> u`` (capacity
transfer B->A) for the other direction.  Every finite cut is an assignment with exactly its
latency, so the minimum cut (Dinic's max-flow, :func:`max_flow`) is the optimum.

Three devices (with a GPU): alpha-beta swap moves (Boykov, Veksler and Zabih 2001).  Each
move re-solves, exactly by one minimum cut, the nodes on devices a and b with everything else
fixed; moves repeat over all pairs until none lowers the latency.  The result is a local
optimum with respect to every swap (not guaranteed global with three devices).
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from compiler.partition.costs import CPU, VTA, CostNode
from compiler.partition.errors import PartitionError

INF = math.inf
_EPS = 1e-15


# ----------------------------------------------------------------------------- max-flow
def max_flow(n: int, edges: Sequence[tuple[int, int, float]], s: int, t: int
             ) -> tuple[float, set[int]]:
    """Dinic's algorithm on ``n`` vertices; returns (flow value, the source side of a
    minimum cut).  Capacities may be ``math.inf``; the caller guarantees a finite cut."""
    head: list[list[int]] = [[] for _ in range(n)]
    to: list[int] = []
    cap: list[float] = []
    for u, v, c in edges:
        head[u].append(len(to))
        to.append(v)
        cap.append(c)
        head[v].append(len(to))
        to.append(u)
        cap.append(0.0)
    flow = 0.0
    while True:
        level = [-1] * n
        level[s] = 0
        q = deque([s])
        while q:
            u = q.popleft()
            for e in head[u]:
                if cap[e] > _EPS and level[to[e]] < 0:
                    level[to[e]] = level[u] + 1
                    q.append(to[e])
        if level[t] < 0:
            return flow, {v for v in range(n) if level[v] >= 0}
        it = [0] * n
        while True:
            f = _augment(head, to, cap, level, it, s, t)
            if f <= 0:
                break
            if f == INF:
                raise PartitionError("internal: an infinite s-t path (no finite assignment)")
            flow += f


def _augment(head: list[list[int]], to: list[int], cap: list[float], level: list[int],
             it: list[int], s: int, t: int) -> float:
    """One augmenting path along the level graph (iterative DFS; 0 when blocked)."""
    stack: list[int] = []
    u = s
    while True:
        if u == t:
            f = min(cap[e] for e in stack)
            for e in stack:
                cap[e] -= f
                cap[e ^ 1] += f
            return f
        while it[u] < len(head[u]):
            e = head[u][it[u]]
            if cap[e] > _EPS and level[to[e]] == level[u] + 1:
                stack.append(e)
                u = to[e]
                break
            it[u] += 1
        else:
            if u == s:
                return 0.0
            e = stack.pop()
            u = to[e ^ 1]
            it[u] += 1


# ----------------------------------------------------------------------------- latency
def _consumers(graph: Sequence[CostNode]) -> dict[str, list[str]]:
    cons: dict[str, list[str]] = {n.name: [] for n in graph}
    for n in graph:
        for i in dict.fromkeys(n.inputs):
            cons[i].append(n.name)
    return cons


def programs(graph: Sequence[CostNode], assign: Mapping[str, str]) -> dict[str, int]:
    """The accelerator program of each node on ``vta``: maximal runs of consecutive
    accelerator nodes in the graph's node order (the order the executor runs them; the
    module builder chains each run into one program)."""
    out: dict[str, int] = {}
    k, prev = -1, None
    for n in graph:
        d = assign[n.name]
        if d == VTA:
            k += prev != VTA
            out[n.name] = k
        prev = d
    return out


def crossings(graph: Sequence[CostNode], assign: Mapping[str, str], *,
              by_program: bool = True) -> list[tuple[str, str, str, int, float]]:
    """Every copy the assignment makes: (tensor, from device, to device, bytes, seconds).

    A tensor crosses once to each other device its consumers run on; and, as the executor
    runs it (``by_program``), once more into every further accelerator program that reads
    it: a program's feeds are packed and copied in, its results copied out and unpacked, so
    a tensor two programs read is packed twice, and one passed between two programs (an op
    on the host runs between them) goes out to the host and back in."""
    cons = _consumers(graph)
    prog = programs(graph, assign) if by_program else {}
    out = []
    for n in graph:
        src = assign[n.name]
        dsts = [assign[c] for c in cons[n.name]]
        for dst in dict.fromkeys(dsts):
            if dst != src:
                out.append((n.name, src, dst, n.out_bytes, n.transfer.get((src, dst), INF)))
        if not by_program:
            continue
        mine = prog.get(n.name)
        readers = [r for r in dict.fromkeys(prog[c] for c in cons[n.name] if c in prog)
                   if r != mine]
        if mine is None:  # host (or GPU) tensor: one copy counted above, then per program
            extra = readers[1:]
            via = src
        else:  # from one program to others: out to the host (unless done above), back in
            extra = readers
            via = CPU
            if readers and CPU not in dsts:
                out.append((n.name, VTA, CPU, n.out_bytes, n.transfer.get((VTA, CPU), INF)))
        out += [(n.name, via, VTA, n.out_bytes, n.transfer.get((via, VTA), INF))
                for _ in extra]
    return out


def latency(graph: Sequence[CostNode], assign: Mapping[str, str], *,
            by_program: bool = True) -> float:
    """End-to-end seconds of running ``graph`` with ``assign`` (module docstring): every
    node's cost on its device, every copy (:func:`crossings`) and each accelerator
    program's launch (``CostNode.program`` of its first node).  ``by_program=False``: one
    copy per tensor and device and no launches, the pairwise model the minimum cut solves
    exactly (a lower bound of the executor's)."""
    total = sum(n.costs.get(assign[n.name], INF) for n in graph)
    if by_program:  # each program's launch, paid by its first node
        first = {k: v for v, k in reversed(programs(graph, assign).items())}
        nodes = {n.name: n for n in graph}
        total += sum(nodes[v].program for v in first.values())
    return total + sum(c[4] for c in crossings(graph, assign, by_program=by_program))


# ----------------------------------------------------------------------------- checks
def allowed_costs(graph: Sequence[CostNode], targets: Sequence[str], pins: Mapping[str, str]
                  ) -> dict[str, dict[str, float]]:
    """Validate and return each node's allowed costs (targets, capability and pins): the
    devices every solver and baseline may choose from."""
    names = [n.name for n in graph]
    if len(set(names)) != len(names):
        dup = sorted({x for x in names if names.count(x) > 1})
        raise PartitionError(f"duplicate node names: {dup}")
    if not targets or len(set(targets)) != len(targets):
        raise PartitionError(f"targets must be distinct devices, got {list(targets)}")
    known = set(names)
    for n in graph:
        bad = [i for i in n.inputs if i not in known]
        if bad:
            raise PartitionError(f"node {n.name!r} reads unknown tensors {bad}")
    for p, d in pins.items():
        if p not in known:
            raise PartitionError(f"--pin {p}={d}: no node named {p!r}")
        if d not in targets:
            raise PartitionError(f"--pin {p}={d}: device {d!r} is not among the targets "
                                 f"{list(targets)}")
    _topological(graph)
    allowed: dict[str, dict[str, float]] = {}
    problems = []
    for n in graph:
        devs = [pins[n.name]] if n.name in pins else list(targets)
        ok = {d: n.costs[d] for d in devs if d in n.costs and n.costs[d] < INF}
        if not ok:
            why = "; ".join(f"{d}: {n.incapable.get(d, 'not capable')}" for d in devs)
            where = f"pinned to {pins[n.name]}" if n.name in pins else f"targets {list(targets)}"
            problems.append(f"{n.name} ({where}; {why})")
        allowed[n.name] = ok
    if problems:
        raise PartitionError(f"{len(problems)} node(s) no allowed device can run: "
                             + ", ".join(problems))
    return allowed


def _topological(graph: Sequence[CostNode]) -> list[str]:
    indeg = {n.name: len(set(n.inputs)) for n in graph}
    cons = _consumers(graph)
    q = deque(k for k, v in indeg.items() if v == 0)
    order = []
    while q:
        u = q.popleft()
        order.append(u)
        for c in cons[u]:
            indeg[c] -= 1
            if indeg[c] == 0:
                q.append(c)
    if len(order) != len(graph):
        raise PartitionError(f"the graph has a cycle through {sorted(set(indeg) - set(order))}")
    return order


# ----------------------------------------------------------------------------- one cut
def _swap_move(graph: Sequence[CostNode], allowed: Mapping[str, Mapping[str, float]],
               assign: dict[str, str], a: str, b: str) -> dict[str, str]:
    """The best re-assignment between devices ``a`` and ``b`` of the nodes now on either,
    every other node fixed: one minimum cut (source side = ``a``)."""
    free = [n.name for n in graph if assign[n.name] in (a, b)]
    if not free:
        return assign
    idx = {v: i + 2 for i, v in enumerate(free)}
    s, t = 0, 1
    nv = 2 + len(free)
    edges: list[tuple[int, int, float]] = []
    unary = {v: [allowed[v].get(a, INF), allowed[v].get(b, INF)] for v in free}
    cons = _consumers(graph)

    def aux() -> int:
        nonlocal nv
        nv += 1
        return nv - 1

    for n in graph:
        u = n.name
        fixed_devs = {assign[c] for c in cons[u] if c not in idx}
        free_c = [c for c in dict.fromkeys(cons[u]) if c in idx]
        tr = n.transfer
        if u in idx:
            for k, d in enumerate((a, b)):  # copies to fixed consumers depend on u only
                unary[u][k] += sum(tr.get((d, f), INF) for f in fixed_devs if f != d)
            if free_c:
                x = aux()  # u on a, some consumer on b
                edges.append((idx[u], x, tr.get((a, b), INF)))
                edges += [(x, idx[c], INF) for c in free_c]
                y = aux()  # u on b, some consumer on a
                edges.append((y, idx[u], tr.get((b, a), INF)))
                edges += [(idx[c], y, INF) for c in free_c]
        elif free_c:
            src = assign[u]
            x = aux()  # some consumer on b: pay src -> b
            edges.append((s, x, tr.get((src, b), INF)))
            edges += [(x, idx[c], INF) for c in free_c]
            y = aux()  # some consumer on a: pay src -> a
            edges.append((y, t, tr.get((src, a), INF)))
            edges += [(idx[c], y, INF) for c in free_c]
    for v in free:
        cost_a, cost_b = unary[v]
        edges.append((s, idx[v], cost_b))
        edges.append((idx[v], t, cost_a))
    _, side = max_flow(nv, edges, s, t)
    new = dict(assign)
    for v in free:
        new[v] = a if idx[v] in side else b
    return new


# ----------------------------------------------------------------------------- solve
@dataclass(frozen=True)
class Partition:
    """An assignment of every node to a device, with the costs it was chosen from."""

    graph: tuple[CostNode, ...]
    assignment: Mapping[str, str]
    targets: tuple[str, ...]
    pins: Mapping[str, str]
    seconds: float

    @property
    def boundaries(self) -> list[tuple[str, str, str, int, float]]:
        return crossings(self.graph, self.assignment)

    @property
    def chains(self) -> list[list[str]]:
        """Maximal runs of consecutive accelerator ops in the graph's node order (the order
        the executor runs them): each runs as one chained program."""
        runs: list[list[str]] = []
        prev = None
        for name in (n.name for n in self.graph):
            on_vta = self.assignment[name] == "vta"
            if on_vta:
                if prev == "vta":
                    runs[-1].append(name)
                else:
                    runs.append([name])
            prev = self.assignment[name]
        return runs


ENUMERATE_LIMIT = 4096  # assignments: up to ~12 free ops are tried exhaustively
_REFINE_MAX_NODES = 400  # single-node moves cost O(nodes^2) per pass


def solve(graph: Iterable[CostNode], targets: Sequence[str] = ("vta", "cpu"),
          pins: Mapping[str, str] | None = None, *,
          enumerate_limit: int = ENUMERATE_LIMIT) -> Partition:
    """The assignment minimizing :func:`latency` with every node on an allowed device:
    among ``targets``, able to run it, and the pinned one for nodes in ``pins``.

    The minimum cut (swap moves with three devices) is exact for the pairwise model
    (``latency(..., by_program=False)``), a lower bound of the executor's: where its
    answer pays no extra copies between programs, it is the optimum.  Otherwise
    single-node moves improve it on :func:`latency` itself, and a graph with at most
    ``enumerate_limit`` assignments is solved by trying every one."""
    graph = tuple(graph)
    pins = dict(pins or {})
    targets = tuple(targets)
    allowed = allowed_costs(graph, targets, pins)
    alone = {v: min(c, key=c.get) for v, c in allowed.items()}  # cheapest alone: a start
    assign = alone
    if len(targets) == 1:
        return Partition(graph, assign, targets, pins, latency(graph, assign))
    best = latency(graph, assign, by_program=False)
    improved = True
    while improved:
        improved = False
        for a, b in itertools.combinations(targets, 2):
            cand = _swap_move(graph, allowed, assign, a, b)
            cost = latency(graph, cand, by_program=False)
            if cost < best * (1 - 1e-12) - 1e-18:
                assign, best, improved = cand, cost, True
        if len(targets) == 2:
            break  # the single move over all nodes is the exact optimum
    if latency(graph, assign) > best * (1 + 1e-12) + 1e-18:
        if math.prod(len(c) for c in allowed.values()) <= enumerate_limit:
            assign = _enumerate(graph, allowed, targets)
        else:  # refined, and never worse than a simple start: each node alone or one device
            starts = [alone] + [{v: d if d in c else next(iter(c)) for v, c in allowed.items()}
                                for d in targets]
            assign = min([_refine(graph, allowed, assign), *starts],
                         key=lambda a: latency(graph, a))
    return Partition(graph, assign, targets, pins, latency(graph, assign))


def _refine(graph: Sequence[CostNode], allowed: Mapping[str, Mapping[str, float]],
            assign: dict[str, str]) -> dict[str, str]:
    """Move single nodes to another allowed device while that lowers :func:`latency`
    (three passes at most; graphs of up to ``_REFINE_MAX_NODES`` nodes)."""
    if len(graph) > _REFINE_MAX_NODES:
        return assign
    best = latency(graph, assign)
    for _ in range(3):
        moved = False
        for n in graph:
            for d in allowed[n.name]:
                if d == assign[n.name]:
                    continue
                cand = {**assign, n.name: d}
                cost = latency(graph, cand)
                if cost < best * (1 - 1e-12) - 1e-18:
                    assign, best, moved = cand, cost, True
        if not moved:
            break
    return assign


def _enumerate(graph: Sequence[CostNode], allowed: Mapping[str, Mapping[str, float]],
               targets: Sequence[str]) -> dict[str, str]:
    """The assignment of least :func:`latency` among every allowed one (ties: the first
    in the product of each node's devices in ``targets`` order)."""
    names = [n.name for n in graph]
    choices = [[d for d in targets if d in allowed[v]] for v in names]
    best, best_s = None, INF
    for combo in itertools.product(*choices):
        a = dict(zip(names, combo, strict=True))
        s = latency(graph, a)
        if s < best_s:
            best, best_s = a, s
    assert best is not None
    return best


# ----------------------------------------------------------------------------- explain
def _fmt_s(x: float) -> str:
    if x == INF:
        return "inf"
    if x >= 1:
        return f"{x:.3f} s"
    if x >= 1e-3:
        return f"{x * 1e3:.3f} ms"
    return f"{x * 1e6:.1f} us"


def _reason(p: Partition, n: CostNode) -> str:
    dev = p.assignment[n.name]
    if n.name in p.pins:
        return "pinned"
    options = {d: c for d, c in n.costs.items() if d in p.targets}
    if len(options) == 1:
        others = [f"{d}: {n.incapable[d]}" for d in p.targets if d in n.incapable]
        return "only capable device" + (f" ({'; '.join(others)})" if others else "")
    if min(options, key=options.get) == dev or all(options[dev] <= c for c in options.values()):
        rest = [f"{d} {_fmt_s(c)}" for d, c in options.items() if d != dev]
        return f"cheaper ({_fmt_s(options[dev])} vs {', '.join(rest)})"
    # its own cost is higher on `dev`: moving it to its cheapest device adds copies
    cheapest = min(options, key=options.get)
    alt = dict(p.assignment)
    alt[n.name] = cheapest
    extra = (sum(c[3] for c in crossings(p.graph, alt))
             - sum(c[3] for c in crossings(p.graph, p.assignment)))
    saved = latency(p.graph, alt) - p.seconds
    return (f"avoided a transfer of {extra} bytes (on {cheapest} it would cost "
            f"{_fmt_s(options[cheapest])} but the graph {_fmt_s(saved)} more)")


def runner_up(p: Partition, name: str) -> tuple[str, float, float] | None:
    """The next-best device for op ``name`` with every other node where ``p`` put it:
    ``(device, margin, op delta)`` -- ``margin`` the seconds the graph would take longer
    (negative: a pin that costs time), of which ``op delta`` is the op's own cost
    difference and the rest the copies that appear or go away.  None when no other
    target can run it."""
    node = next(n for n in p.graph if n.name == name)
    dev = p.assignment[name]
    best: tuple[str, float, float] | None = None
    for d, c in node.costs.items():
        if d == dev or d not in p.targets or c == INF:
            continue
        margin = latency(p.graph, {**p.assignment, name: d}) - p.seconds
        if best is None or margin < best[1]:
            best = (d, margin, c - node.costs[dev])
    return best


def _runner_up_text(p: Partition, n: CostNode) -> str:
    r = runner_up(p, n.name)
    if r is None:
        return "runner-up: none"
    dev, margin, op = r
    pct = f" ({margin / p.seconds * 100:+.1f}% of the graph)" if p.seconds > 0 else ""
    return (f"runner-up {dev}: {_fmt_signed(margin)}{pct}; op {_fmt_signed(op)}, copies "
            f"{_fmt_signed(margin - op)}")


def _fmt_signed(x: float) -> str:
    return ("-" if x < 0 else "+") + _fmt_s(abs(x))


def explain(p: Partition) -> str:
    """For every op: device, estimated cost on each capable device, why, and the runner-up
    device with how much longer the graph would take there (the op's own cost difference
    and the copies); for every boundary: the bytes copied and the estimated seconds, split
    into the link copy and the host's layout transform (pack into or unpack from the
    blocked layout).  (``vta compile --explain``.)"""
    lines = [f"partition over {', '.join(p.targets)}: estimated latency {_fmt_s(p.seconds)}"]
    lines.append("ops:")
    for n in p.graph:
        if n.kind != "op":
            continue
        costs = ", ".join(f"{d}={_fmt_s(c)}" for d, c in sorted(n.costs.items())
                          if d in p.targets)
        cyc = f" [{n.cycles} cycles]" if n.cycles is not None and "vta" in p.targets else ""
        lines.append(f"  {n.name:<16} -> {p.assignment[n.name]:<4} {costs}{cyc}; "
                     f"{_reason(p, n)}; {_runner_up_text(p, n)}")
    chains = p.chains
    if chains:
        nodes = {n.name: n for n in p.graph}
        launch = [nodes[c[0]].program for c in chains]
        lines.append("chained accelerator programs: "
                     + ", ".join("[" + " ".join(c) + "]" for c in chains)
                     + (f" (host launch {_fmt_s(sum(launch))} in all)" if any(launch) else ""))
    b = p.boundaries
    lines.append(f"boundaries: {len(b)}" + ("" if b else " (none)"))
    nodes = {n.name: n for n in p.graph}
    for tensor, src, dst, nbytes, sec in b:
        lay = nodes[tensor].layout.get((src, dst), 0.0)
        what = "pack" if dst == "vta" else "unpack" if src == "vta" else "layout"
        lines.append(f"  {tensor:<16} {src} -> {dst}: {nbytes} bytes, {_fmt_s(sec)} "
                     f"(link {_fmt_s(sec - lay)} + {what} {_fmt_s(lay)})")
    return "\n".join(lines)


__all__ = ["max_flow", "latency", "crossings", "programs", "allowed_costs", "Partition",
           "solve", "explain", "runner_up", "ENUMERATE_LIMIT"]
