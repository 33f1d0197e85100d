"""Random valid programs that compute and stall: deadlock-, race- and hazard-free by construction.

A program is a sequence of *blocks*, each a small operator the way a compiler would emit it:

1. plan the regions: an inp and a wgt region (loaded now, from the random input area of DRAM
   or from bytes an earlier store wrote -- store -> compute -> load through DRAM -- or reused
   from an earlier block), an accumulator region ``A`` and sometimes an operand region ``B``
   (loaded with ACC or ACC8);
2. plan the micro-op loops so that every index they read lies in those regions (pad elements
   included: pad values are non-zero), load the block's micro-ops, then the data;
3. initialise ``A`` (GEMM reset, ALU reset, a GEMM ``overwrite``, or accumulate on what it
   holds), maybe set an OUTMODE (rounding shift and ReLU sized to the products' magnitude),
   run one or two GEMMs and a chain of ALU ops (every op, immediate or tensor operand, with
   operands sized so results stay visible through the int8 out mirror);
4. store ``A`` as one or two partial tiles into a strided matrix of the output area.

Between blocks come *stall episodes*: a long ALU instruction holds a module while the
command queue behind it fills (fetch stalls on a full command queue), or while a neighbour
pushes more tokens than the queue holds (a full token queue); random NOPs and random extra
pushes and pops on real instructions come on top.  Consecutive stores, and stores running
while the next block computes, arise from the block structure.

Race freedom: the generator tracks a vector clock per module (how many instructions of each
module happen before its next one, through the token queues).  For every SRAM element
(inp, wgt: load/compute; out: compute/store) and every byte of the output area of DRAM
(stores write it; load and compute read it) it records the last writer and readers; before
an instruction makes a conflicting access it makes the earlier one happen-before, popping a
token that carries a late enough clock and emitting NOPs that push or drain tokens when none
is pending.  Load and store are not neighbours: their orderings go through compute (a compute
NOP pops the store's token, then pushes one to load).  Deadlock freedom: every pop matches a
push earlier in program order, and no push makes a queue hold more than its depth of tokens
counted in program order; then executing in program order is always possible, and the
machine, which dispatches in program order, cannot get stuck.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections import deque
from dataclasses import dataclass

import numpy as np

from vta_hw import isa, timing
from vta_hw.bundle import Bundle, Region
from vta_hw.config import HwConfig

LOAD, COMPUTE, STORE = "load", "compute", "store"
_MODS = (LOAD, COMPUTE, STORE)
_MOD = {LOAD: isa.Module.LOAD, COMPUTE: isa.Module.COMPUTE, STORE: isa.Module.STORE}
_NEIGHBOURS = {  # (from, to) -> (push flag on 'from', pop flag on 'to'), from the ISA's table
    (a, b): (isa.push_flag(_MOD[a], _MOD[b]), isa.pop_flag(_MOD[a], _MOD[b]))
    for a in _MOD for b in _MOD if (_MOD[a], _MOD[b]) in isa.TOKEN_QUEUES
}
_PRODUCT_STD = 128 * 128 / 3  # std of a product of two uniform int8 values (about 5461)


@dataclass(frozen=True)
class _Layout:
    input_bytes: int  # [0, input_bytes): random data, only read
    out_addr: int  # [out_addr, out_addr + out_bytes): zeros, written by stores, read back
    out_bytes: int
    uop_addr: int  # the micro-op pool, only read


@dataclass(frozen=True)
class _Region:
    lo: int
    n: int

    @property
    def hi(self) -> int:
        return self.lo + self.n


@dataclass(frozen=True)
class _Loop:
    """A planned GEMM/ALU loop: its micro-op words and loop fields (uop range set later)."""

    words: tuple[int, ...]
    fields: dict


def _nonzero_int8(r: random.Random) -> int:
    v = r.randint(-128, 126)
    return v + 1 if v >= 0 else v


class _Gen:
    def __init__(self, cfg: HwConfig, rng: random.Random, layout: _Layout, max_iters: int):
        c = self.cfg = cfg
        self.rng, self.layout, self.max_iters = rng, layout, max_iters
        self.insns: list[isa.Insn] = []
        self.count = {m: 0 for m in _MODS}
        self.clock = {m: {o: 0 for o in _MODS} for m in _MODS}
        self.queues: dict[tuple[str, str], deque] = {k: deque() for k in _NEIGHBOURS}
        self.uop_pool: list[int] = []
        self.uops = [0] * c.uop_buff_depth  # known uop SRAM contents
        self.uop_next = 0
        # last access per SRAM element / output-area byte: (instruction count of the module),
        # 0 = never
        self.inp_w = np.zeros(c.inp_buff_depth, np.int64)
        self.inp_r = np.zeros(c.inp_buff_depth, np.int64)
        self.wgt_w = np.zeros(c.wgt_buff_depth, np.int64)
        self.wgt_r = np.zeros(c.wgt_buff_depth, np.int64)
        self.out_w = np.zeros(c.out_buff_depth, np.int64)
        self.out_r = np.zeros(c.out_buff_depth, np.int64)
        self.dram_w = np.zeros(layout.out_bytes, np.int64)
        self.dram_r = {LOAD: np.zeros(layout.out_bytes, np.int64),
                       COMPUTE: np.zeros(layout.out_bytes, np.int64)}
        self.stored: list[tuple[int, int]] = []  # output-area byte ranges stores wrote
        self.inp_loaded: list[_Region] = []
        self.wgt_loaded: list[_Region] = []
        self.out_mode = (0, False)
        self.mag = np.zeros(c.acc_buff_depth)  # rough log2 magnitude of each accumulator
        self.quiet = False  # no random extra tokens (while a stall episode is set up)

    # ------------------------------------------------------------------ tokens
    def _emit(self, mod: str, insn: isa.Insn, pops: set[str], rand_tokens: bool) -> None:
        """Append ``insn`` for ``mod`` popping from the modules in ``pops``; add pushes."""
        flags: dict[str, bool] = {}
        for src in _MODS:
            q = (src, mod)
            if q not in _NEIGHBOURS:
                continue
            pending = self.queues[q]
            if src in pops or (rand_tokens and pending and self.rng.random() < 0.2):
                tok = pending.popleft()
                for k, v in tok.items():
                    self.clock[mod][k] = max(self.clock[mod][k], v)
                flags[_NEIGHBOURS[q][1]] = True
        self.count[mod] += 1
        self.clock[mod][mod] = self.count[mod]
        for dst in _MODS:
            q = (mod, dst)
            if q not in _NEIGHBOURS:
                continue
            if rand_tokens and len(self.queues[q]) < self.cfg.token_queue_depth and \
                    self.rng.random() < 0.2:
                self.queues[q].append(dict(self.clock[mod]))
                flags[_NEIGHBOURS[q][0]] = True
        self.insns.append(dataclasses.replace(insn, **flags))

    def _push_nop(self, mod: str, to: str) -> None:
        q = (mod, to)
        assert len(self.queues[q]) < self.cfg.token_queue_depth
        self.count[mod] += 1
        self.clock[mod][mod] = self.count[mod]
        self.queues[q].append(dict(self.clock[mod]))
        self.insns.append(isa.Nop(module=_MOD[mod], **{_NEIGHBOURS[q][0]: True}))

    def _pop_nop(self, mod: str, frm: str) -> None:
        self._emit(mod, isa.Nop(module=_MOD[mod]), {frm}, rand_tokens=False)

    def _require(self, mod: str, other: str, need: int) -> str | None:
        """Make ``other``'s first ``need`` instructions happen before ``mod``'s next one.

        Returns the neighbour whose head token the next instruction must pop (None when the
        ordering is already known).  Load and store order each other through compute.
        """
        if need <= self.clock[mod][other]:
            return None
        via = other if (other, mod) in _NEIGHBOURS else COMPUTE
        if via != other:  # compute learns it first, then passes it on
            frm = self._require(COMPUTE, other, need)
            if frm is not None:
                self._pop_nop(COMPUTE, frm)
        q = self.queues[(via, mod)]
        while q and q[0][other] < need:
            self._pop_nop(mod, via)
        if not q:
            self._push_nop(via, mod)
        return via

    def emit(self, mod: str, insn: isa.Insn, needs: dict[str, int]) -> None:
        """Emit ``insn`` on ``mod`` after the first ``needs[m]`` instructions of each m."""
        needs = {o: n for o, n in needs.items() if o != mod and n > 0}
        for _ in range(8):
            pops = set()
            for other, need in needs.items():
                v = self._require(mod, other, need)
                if v is not None:
                    pops.add(v)
            # handling one requirement may drain the token another one counted on: recheck
            clock = dict(self.clock[mod])
            ok = True
            for v in pops:
                q = self.queues[(v, mod)]
                if not q:
                    ok = False
                    break
                for k, t in q[0].items():
                    clock[k] = max(clock[k], t)
            if ok and all(clock[o] >= n for o, n in needs.items()):
                self._emit(mod, insn, pops, rand_tokens=not self.quiet)
                return
        raise AssertionError("token requirements did not converge")  # pragma: no cover

    # ------------------------------------------------------------------ accesses
    def _dram_bytes(self, ins: isa.Load | isa.Store) -> np.ndarray:
        """Offsets into the output area of the DRAM bytes ``ins`` touches."""
        if ins.dram_elems == 0:
            return np.zeros(0, np.int64)
        e = isa.elem_bytes(self.cfg, ins.mem)
        rows = (ins.dram_base + np.arange(ins.y_size) * ins.x_stride) * e - self.layout.out_addr
        b = (rows[:, None] + np.arange(ins.x_size * e)[None, :]).reshape(-1)
        return b[(b >= 0) & (b < self.layout.out_bytes)]

    def _out_war(self, idx: np.ndarray) -> int:
        idx = idx[idx < self.cfg.out_buff_depth]
        return int(self.out_r[idx].max(initial=0))

    def _note_out_write(self, idx: np.ndarray) -> None:
        self.out_w[idx[idx < self.cfg.out_buff_depth]] = self.count[COMPUTE]

    def load(self, ins: isa.Load) -> None:
        mem = ins.mem
        mod = LOAD if mem in (isa.MemType.INP, isa.MemType.WGT) else COMPUTE
        idx = np.arange(ins.sram_base, ins.sram_base + ins.sram_elems)
        db = self._dram_bytes(ins)
        needs = {STORE: int(self.dram_w[db].max(initial=0))}
        if mem == isa.MemType.INP:
            needs[COMPUTE] = int(self.inp_r[idx].max(initial=0))
        elif mem == isa.MemType.WGT:
            needs[COMPUTE] = int(self.wgt_r[idx].max(initial=0))
        elif mem in (isa.MemType.ACC, isa.MemType.ACC8):
            needs[STORE] = max(needs[STORE], self._out_war(idx))
        self.emit(mod, ins, needs)
        if mem == isa.MemType.INP:
            self.inp_w[idx] = self.count[LOAD]
        elif mem == isa.MemType.WGT:
            self.wgt_w[idx] = self.count[LOAD]
        elif mem in (isa.MemType.ACC, isa.MemType.ACC8):
            self._note_out_write(idx)
            self.mag[idx] = 31 if mem == isa.MemType.ACC else 7
        self.dram_r[mod][db] = self.count[mod]

    def store(self, ins: isa.Store) -> None:
        lo, hi = ins.sram_base, ins.sram_base + ins.dram_elems
        db = self._dram_bytes(ins)
        self.emit(STORE, ins, {
            COMPUTE: max(int(self.out_w[lo:hi].max(initial=0)),
                         int(self.dram_r[COMPUTE][db].max(initial=0))),
            LOAD: int(self.dram_r[LOAD][db].max(initial=0))})
        self.out_r[lo:hi] = self.count[STORE]
        self.dram_w[db] = self.count[STORE]
        if db.size:
            self.stored.append((int(db.min()), int(db.max()) + 1))

    def _indices(self, ins: isa.Gemm | isa.Alu) -> dict[str, np.ndarray]:
        words = np.array(self.uops[ins.uop_bgn:ins.uop_end], dtype=np.int64)
        out = {}
        for name, (lsb, w) in isa.uop_format(self.cfg).offsets.items():
            if name == "wgt" and isinstance(ins, isa.Alu):
                continue
            base = (words >> lsb) & ((1 << w) - 1)
            fo, fi = getattr(ins, f"{name}_factor_out"), getattr(ins, f"{name}_factor_in")
            idx = (base[None, None, :] + np.arange(ins.iter_out)[:, None, None] * fo
                   + np.arange(ins.iter_in)[None, :, None] * fi)
            out[name] = idx.reshape(-1)
        return out

    def loop(self, ins: isa.Gemm | isa.Alu) -> None:
        """Emit a GEMM/ALU, ordering it after the loads it reads and the stores it overwrites."""
        ix = self._indices(ins)
        writes = ins.n_iters > 0 and not (isinstance(ins, isa.Alu)
                                          and ins.alu_op == isa.AluOp.OUTMODE and not ins.reset)
        needs = {STORE: self._out_war(ix["dst"]) if writes else 0}
        # a reset GEMM reads nothing, but is ordered as if it read its src/wgt indices, so
        # that even a checker that does not special-case reset finds no race
        reads_inp = isinstance(ins, isa.Gemm) and ins.n_iters > 0
        if reads_inp:
            needs[LOAD] = max(int(self.inp_w[ix["src"]].max()), int(self.wgt_w[ix["wgt"]].max()))
        self.emit(COMPUTE, ins, needs)
        if reads_inp:
            self.inp_r[ix["src"]] = self.count[COMPUTE]
            self.wgt_r[ix["wgt"]] = self.count[COMPUTE]
        if writes:
            self._note_out_write(ix["dst"])

    def put_uops(self, words: list[int]) -> int:
        """Load ``words`` into the uop buffer (compute module); returns their first index."""
        n = len(words)
        if self.uop_next + n > self.cfg.uop_buff_depth:
            self.uop_next = 0
        base = self.uop_next
        self.uop_next += n
        addr = self.layout.uop_addr // isa.UOP_BYTES + len(self.uop_pool)
        self.uop_pool.extend(words)
        self.uops[base:base + n] = words
        ins = isa.Load(mem=isa.MemType.UOP, sram_base=base, dram_base=addr, y_size=1, x_size=n,
                       x_stride=n)
        self.emit(COMPUTE, ins, {})
        return base

    # ------------------------------------------------------------------ planning
    def _pads(self) -> dict[str, int]:
        r = self.rng
        if r.random() < 0.4:
            return {}
        return {k: r.choice((0, 0, 1, 2)) for k in ("y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1")}

    def _dma(self, mem: isa.MemType, depth: int, *, pads: bool, max_elems: int,
             src: tuple[int, int] | None = None) -> isa.Load | None:
        """A LOAD of ``mem`` writing at most ``max_elems`` SRAM elements; from the input area,
        or from output-area bytes ``src`` (store -> load through DRAM)."""
        r, e = self.rng, isa.elem_bytes(self.cfg, mem)
        p = self._pads() if pads else {}
        y, x = r.randint(1, 3), r.randint(1, 5)
        stride = x + r.choice((0, 0, 1, 3))
        if src is not None:
            lo_b, hi_b = src
            first = (self.layout.out_addr + lo_b) // e
            last = -(-(self.layout.out_addr + hi_b) // e)  # one past, in elements
            limit = (self.layout.out_addr + self.layout.out_bytes) // e
            last = min(last, limit)
            x = max(1, min(x, last - first))
            y = 1 if r.random() < 0.6 else y
            stride = x
            while y > 1 and first + (y - 1) * stride + x > limit:
                y -= 1
            base = first
        else:
            area = self.layout.input_bytes // e
            extent = (y - 1) * stride + x
            if extent > area:
                return None
            base = r.randint(0, area - extent)
        if (sum(p.values()) and (p.get("y_pad_0", 0) + y + p.get("y_pad_1", 0))
                * (p.get("x_pad_0", 0) + x + p.get("x_pad_1", 0)) > min(depth, max_elems)):
            p = {}
        while y > 1 and y * x > min(depth, max_elems):
            y -= 1
        rows = p.get("y_pad_0", 0) + y + p.get("y_pad_1", 0)
        cols = p.get("x_pad_0", 0) + x + p.get("x_pad_1", 0)
        if rows * cols > min(depth, max_elems):
            return None
        return isa.Load(mem=mem, sram_base=r.randint(0, depth - rows * cols), dram_base=base,
                        y_size=y, x_size=x, x_stride=stride, pad_value=_nonzero_int8(r), **p)

    def _feed_src(self) -> tuple[int, int] | None:
        """Output-area bytes a store wrote, to load back (a chained operator)."""
        if self.stored and self.rng.random() < 0.4:
            return self.rng.choice(self.stored[-4:])
        return None

    def operand_region(self, mem: isa.MemType, loaded: list[_Region]) -> _Region:
        """An inp/wgt region holding loaded data: loaded now, or one loaded before."""
        if loaded and self.rng.random() < 0.25:
            return self.rng.choice(loaded[-3:])
        depth = isa.sram_depth(self.cfg, mem)
        for _ in range(10):
            ins = self._dma(mem, depth, pads=True, max_elems=24, src=self._feed_src())
            if ins is not None:
                self.load(ins)
                reg = _Region(ins.sram_base, ins.sram_elems)
                loaded.append(reg)
                return reg
        raise AssertionError("no load fits")  # pragma: no cover

    def acc_region(self, n_max: int = 16) -> _Region:
        """An accumulator region whose out mirror exists, from a few recurring slots (so
        reset, overwrite and accumulate meet earlier values)."""
        r, d = self.rng, self.cfg.out_buff_depth
        n = r.randint(1, max(1, min(n_max, d // 4)))
        slots = max(1, (d - n) // 16)
        lo = min(d - n, 16 * r.randrange(min(slots, 4)) + r.choice((0, 0, 1, 3)))
        return _Region(lo, n)

    def plan(self, dst: _Region, window: int, src: _Region | None = None,
             wgt: _Region | None = None, *, alu_tensor: bool = False, cover: float = 0.5
             ) -> _Loop:
        """Micro-op loops whose indices stay in the regions and keep the hazard window.

        With probability ``cover`` (and as the fallback) one micro-op walks ``dst`` once per
        outer iteration (outer iterations reduce when ``dst`` is at least the window long);
        otherwise random micro-ops and factors, retried until legal.
        """
        c, r = self.cfg, self.rng
        regions = {"dst": dst, "src": src, "wgt": wgt}

        def pick(name: str, span: int) -> int:
            reg = regions[name]
            if reg is None:
                return 0
            return reg.lo + r.randint(0, reg.n - 1 - span)

        def fits(f: dict, name: str) -> int | None:
            reg = regions[name]
            if reg is None:
                return 0
            span = (f["iter_out"] - 1) * f[f"{name}_factor_out"] + \
                (f["iter_in"] - 1) * f[f"{name}_factor_in"]
            return span if span < reg.n else None

        for attempt in range(31):
            if attempt == 30 or r.random() < cover:  # walk dst
                it_o = r.randint(2, 4) if dst.n >= window else 1
                it_o = max(1, min(it_o, self.max_iters // dst.n))
                f = dict(iter_out=it_o, iter_in=dst.n, dst_factor_out=0, dst_factor_in=1,
                         src_factor_out=r.choice((0, 1, 2)), src_factor_in=r.choice((0, 1)),
                         wgt_factor_out=r.choice((0, 1)), wgt_factor_in=r.choice((0, 1)))
                n_u = 1
                for name in ("src", "wgt"):
                    while fits(f, name) is None:  # shrink the factors until in range
                        for k in (f"{name}_factor_out", f"{name}_factor_in"):
                            f[k] = max(0, f[k] - 1)
            else:
                n_u = r.randint(1, 4)
                it_o, it_i = r.randint(1, 4), r.randint(1, 3)
                while it_o * it_i * n_u > self.max_iters:
                    it_o, it_i, n_u = max(1, it_o - 1), max(1, it_i - 1), max(1, n_u - 1)
                steps = (0, 0, 1, 2, n_u, 5)
                f = dict(iter_out=it_o, iter_in=it_i, **{
                    f"{k}_factor_{w}": r.choice(steps) for k in ("dst", "src", "wgt")
                    for w in ("out", "in")})
            for name in ("src", "wgt"):  # operands it does not read index 0: in range
                if regions[name] is None:
                    f[f"{name}_factor_out"] = f[f"{name}_factor_in"] = 0
            spans = {k: fits(f, k) for k in ("dst", "src", "wgt")}
            if any(v is None for v in spans.values()):
                continue
            uops = [isa.Uop(dst=pick("dst", spans["dst"]), src=pick("src", spans["src"]),
                            wgt=pick("wgt", spans["wgt"])) for _ in range(n_u)]
            if attempt == 30 and alu_tensor:  # in place, iteration by iteration: no hazard
                uops = [dataclasses.replace(u, src=u.dst) for u in uops]
                f.update(src_factor_out=f["dst_factor_out"], src_factor_in=f["dst_factor_in"])
            d = self._seq(uops, f, "dst")
            s = self._seq(uops, f, "src") if alu_tensor else None
            if not _hazard_free(d, s, window):
                continue
            if wgt is None:
                f = {k: v for k, v in f.items() if not k.startswith("wgt")}
            return _Loop(tuple(isa.encode_uop(u, c) for u in uops), f)
        raise AssertionError("the walk of dst is always legal")  # pragma: no cover

    @staticmethod
    def _seq(uops: list[isa.Uop], f: dict, name: str) -> np.ndarray:
        base = np.array([getattr(u, name) for u in uops], np.int64)
        return (base[None, None, :]
                + np.arange(f["iter_out"])[:, None, None] * f[f"{name}_factor_out"]
                + np.arange(f["iter_in"])[None, :, None] * f[f"{name}_factor_in"]).reshape(-1)

    # ------------------------------------------------------------------ blocks
    def _shift_for(self, mag: float) -> int:
        """A right shift bringing values of log2 magnitude ``mag`` near the int8 range."""
        return int(min(31, max(0, round(mag) - 6 + self.rng.randint(-1, 1))))

    def _alu_imm(self, op: isa.AluOp, mag: float) -> int:
        r = self.rng
        if op in (isa.AluOp.SHR, isa.AluOp.RSHR):
            s = self._shift_for(mag)
            return s if s or r.random() < 0.5 else -r.randint(1, 2)
        if op == isa.AluOp.ADD:
            return r.choice((-1, 1)) * r.randint(1, 40)
        if op == isa.AluOp.MUL:
            return r.choice((-3, -2, 2, 3, 5))
        if op in (isa.AluOp.MIN, isa.AluOp.MAX):
            return r.randint(-60, 60)
        return r.randint(-120, 120)  # MOV

    def block(self) -> None:
        c, r = self.cfg, self.rng
        gw = timing.hazard_window(c, isa.Gemm())
        aw = timing.hazard_window(c, isa.Alu())
        a = self.acc_region()
        inp = self.operand_region(isa.MemType.INP, self.inp_loaded)
        wgt = self.operand_region(isa.MemType.WGT, self.wgt_loaded)
        init = r.choice(("accumulate", "gemm_reset", "alu_reset", "overwrite"))
        gemms = [self.plan(a, gw, inp, wgt, cover=0.6) for _ in range(r.randint(1, 2))]
        b = None
        n_alu = r.choice((0, 0, 1, 2, 3, 4))
        if n_alu and r.random() < 0.5:  # a tensor operand, loaded by compute
            b = self._acc_operand(a)
        alus = []
        for _ in range(n_alu):
            op = r.choice(isa.ALU_LANE_OPS)
            tensor = b is not None and r.random() < 0.6
            src = (b if r.random() < 0.8 else a) if tensor else None
            alus.append((op, tensor, self.plan(a, aw, src, alu_tensor=tensor, cover=0.7)))
        resets = [self.plan(a, gw if init == "gemm_reset" else aw, cover=1.0)]
        loops = resets + gemms + [lp for _, _, lp in alus]
        words = [w for lp in loops for w in lp.words]
        base = self.put_uops(words)
        at = {}
        for lp in loops:
            at[id(lp)] = base
            base += len(lp.words)

        def rng_of(lp: _Loop) -> dict:
            return dict(uop_bgn=at[id(lp)], uop_end=at[id(lp)] + len(lp.words), **lp.fields)

        if b is not None and b.load is not None:
            self.load(b.load)
        if init == "gemm_reset":
            self.loop(isa.Gemm(reset=True, **rng_of(resets[0])))
            self.mag[a.lo:a.hi] = 0
        elif init == "alu_reset":
            self.loop(isa.Alu(reset=True, alu_op=r.choice(isa.ALU_LANE_OPS), use_imm=True,
                              imm=r.randint(-5, 5), **rng_of(resets[0])))
            self.mag[a.lo:a.hi] = 0
        reps = max(1, gemms[0].fields["iter_out"])
        mag = math.log2(_PRODUCT_STD * math.sqrt(c.block_in * reps * len(gemms)))
        mag = max(mag, float(self.mag[a.lo:a.hi].max(initial=0)) if init == "accumulate" else 0)
        if r.random() < 0.6:
            self._out_mode(self._shift_for(mag), r.random() < 0.5)
        elif self.out_mode != (0, False) and r.random() < 0.4:
            self._out_mode(0, False)
        for k, lp in enumerate(gemms):
            self.loop(isa.Gemm(overwrite=init == "overwrite" and k == 0, **rng_of(lp)))
        self.mag[a.lo:a.hi] = mag
        for op, tensor, lp in alus:
            cur = float(self.mag[a.lo:a.hi].max(initial=0))
            if tensor:
                self.loop(isa.Alu(alu_op=op, use_imm=False, **rng_of(lp)))
            else:
                imm = self._alu_imm(op, cur)
                self.loop(isa.Alu(alu_op=op, use_imm=True, imm=imm, **rng_of(lp)))
                if op in (isa.AluOp.SHR, isa.AluOp.RSHR):
                    self.mag[a.lo:a.hi] = max(0.0, cur - imm)
                elif op == isa.AluOp.MOV:
                    self.mag[a.lo:a.hi] = 7
        self.store_region(a)

    def _acc_operand(self, a: _Region) -> _Region:
        """A region of acc loaded with ACC8 (small values) or ACC (int32) data, disjoint from
        ``a`` when it fits; ``load`` is the LOAD to emit (None: reuse what is there)."""
        c, r = self.cfg, self.rng
        mem = isa.MemType.ACC8 if r.random() < 0.75 else isa.MemType.ACC
        src = self._feed_src() if mem == isa.MemType.ACC8 else None
        for _ in range(10):
            ins = self._dma(mem, c.acc_buff_depth, pads=True, max_elems=24, src=src)
            if ins is None:
                continue
            lo = a.hi + r.randint(0, 8)
            if lo + ins.sram_elems > c.acc_buff_depth:
                lo = r.randint(0, c.acc_buff_depth - ins.sram_elems)
            ins = dataclasses.replace(ins, sram_base=lo)
            return _Operand(lo, ins.sram_elems, ins)
        return _Operand(a.lo, a.n, None)

    def _out_mode(self, shift: int, relu: bool) -> None:
        self.out_mode = (shift, relu)
        self.loop(isa.Alu(alu_op=isa.AluOp.OUTMODE, use_imm=True,
                          imm=isa.out_mode_imm(shift, relu)))

    def store_region(self, a: _Region) -> None:
        """Store ``a`` as one or two partial tiles of a strided matrix in the output area."""
        r = self.rng
        e = self.cfg.out_elem_bytes
        area = self.layout.out_bytes // e
        cut = r.randint(1, a.n - 1) if a.n > 1 and r.random() < 0.5 else a.n
        for lo, n in ((a.lo, cut), (a.lo + cut, a.n - cut)):
            if n == 0:
                continue
            y = r.choice([d for d in (1, 2, 3, 4) if n % d == 0])
            x = n // y
            stride = x + r.choice((0, 0, 1, 2, 5)) if y > 1 else x
            if y > 1 and r.random() < 0.1:
                stride = r.randint(0, x - 1) if x > 1 else 0  # overlapping rows: later win
            extent = (y - 1) * stride + x
            if extent > area:
                y, x, stride, extent = 1, n, n, n
            base = self.layout.out_addr // e + r.randint(0, area - extent)
            self.store(isa.Store(sram_base=lo, dram_base=base, y_size=y, x_size=x,
                                 x_stride=stride))

    # ------------------------------------------------------------------ stalls
    def _fetch_cycles(self) -> int:
        return timing.fetch_read_cycles(self.cfg) + timing.FETCH_DISPATCH_CYCLES

    def long_alu(self, cycles: int) -> None:
        """An ALU immediate op running at least ``cycles`` cycles (cheap for every model)."""
        c, r = self.cfg, self.rng
        w = max(timing.hazard_window(c, isa.Alu()), 2)
        a = self.acc_region()
        a = _Region(a.lo, max(a.n, min(w, c.out_buff_depth - a.lo)))
        if a.n < w:
            a = _Region(0, w)
        it_o = min((1 << isa.LOOP_ITER_BITS) - 1, -(-cycles // a.n))
        base = self.put_uops([isa.encode_uop(isa.Uop(dst=a.lo), c)])
        op = r.choice((isa.AluOp.MIN, isa.AluOp.MAX, isa.AluOp.ADD))
        self.loop(isa.Alu(alu_op=op, use_imm=True, imm=r.randint(-3, 3), uop_bgn=base,
                          uop_end=base + 1, iter_out=it_o, iter_in=a.n, dst_factor_in=1))

    def _hold(self, mod: str, cycles: int) -> None:
        """Keep ``mod`` from issuing for about ``cycles``: a long ALU on compute; load and
        store wait for a token compute pushes after it."""
        if mod == COMPUTE:
            self.long_alu(cycles)
            return
        q = self.queues[(COMPUTE, mod)]
        while q:  # the token that releases mod must be the one pushed after the long ALU
            self._pop_nop(mod, COMPUTE)
        self.long_alu(cycles)
        self._push_nop(COMPUTE, mod)
        self._pop_nop(mod, COMPUTE)

    def cmd_queue_episode(self) -> None:
        """Fill a command queue behind a held module: fetch stalls (head of line)."""
        mod = self.rng.choice(_MODS)
        depth = self.cfg.cmd_queue_depth
        self.quiet = True
        self._hold(mod, (depth + 4) * self._fetch_cycles())
        for _ in range(depth + 2):
            self._emit(mod, isa.Nop(module=_MOD[mod]), set(), rand_tokens=False)
        self.quiet = False

    def token_queue_episode(self) -> None:
        """Push more tokens than a queue holds while its consumer is busy: into compute
        (from load or store, compute busy with a long ALU), or out of compute (to load or
        store, busy with a long DMA)."""
        if self.rng.random() < 0.5 or not self._into_busy_dma():
            self._into_busy_compute()

    def _into_busy_compute(self) -> None:
        """The producer's last push waits for room, and the instructions queued behind it
        fill its command queue, so fetch stalls too: the full token queue shows in the cycle
        count even of a program whose pace fetch sets."""
        src = self.rng.choice((LOAD, STORE))
        depth, cmd = self.cfg.token_queue_depth, self.cfg.cmd_queue_depth
        self.quiet = True
        self.long_alu((depth + cmd + 6) * self._fetch_cycles())
        self._overfill(src, COMPUTE)
        for _ in range(cmd + 1):
            self._emit(src, isa.Nop(module=_MOD[src]), set(), rand_tokens=False)
        self.quiet = False

    def _overfill(self, src: str, dst: str) -> None:
        """Fill the queue src -> dst, let dst pop one, push once more."""
        q = self.queues[(src, dst)]
        while len(q) < self.cfg.token_queue_depth:
            self._push_nop(src, dst)
        self._pop_nop(dst, src)
        self._push_nop(src, dst)  # finds the queue full while dst is busy

    def _into_busy_dma(self) -> bool:
        """Compute overfills its queue to load or store while that module runs a long DMA
        (rows with stride 0: many SRAM elements, a few DRAM ones) placed where it needs no
        new ordering.  False when no such place is found."""
        c, r = self.cfg, self.rng
        dst = r.choice((LOAD, STORE))
        mem = isa.MemType.INP if dst == LOAD else isa.MemType.OUT
        e = isa.elem_bytes(c, mem)
        cycles = (c.token_queue_depth + 6) * self._fetch_cycles()
        x = r.randint(1, 4)
        y = -(-(cycles - c.dram_latency) // (timing.elem_cycles(c, e) * x))
        depth = isa.sram_depth(c, mem)
        if y * x > depth * 3 // 4 or y >= 1 << isa.MEM_SIZE_BITS:
            return False
        # SRAM elements whose last conflicting access dst already knows about
        last = self.inp_r if dst == LOAD else self.out_w
        known = self.clock[dst][COMPUTE]
        for _ in range(20):
            lo = r.randint(0, depth - y * x)
            if last[lo:lo + y * x].max(initial=0) > known:
                continue
            if dst == LOAD:
                ins = isa.Load(mem=mem, sram_base=lo, dram_base=r.randint(
                    0, self.layout.input_bytes // e - x), y_size=y, x_size=x, x_stride=0)
            else:
                base = self.layout.out_addr // e + r.randint(0, self.layout.out_bytes // e - x)
                ins = isa.Store(sram_base=lo, dram_base=base, y_size=y, x_size=x, x_stride=0)
                db = self._dram_bytes(ins)
                if (self.dram_r[LOAD][db].max(initial=0) > self.clock[STORE][LOAD]
                        or self.dram_r[COMPUTE][db].max(initial=0) > known):
                    continue
            self.quiet = True
            n = len(self.insns)
            (self.load if dst == LOAD else self.store)(ins)
            assert len(self.insns) == n + 1  # no ordering had to be added
            self._overfill(COMPUTE, dst)
            self.quiet = False
            return True
        return False

    def nop(self) -> None:
        mod = self.rng.choice(_MODS)
        self.emit(mod, isa.Nop(module=_MOD[mod]), {})

    def finish(self) -> None:
        self.emit(COMPUTE, isa.Finish(), {STORE: self.count[STORE]})


@dataclass(frozen=True)
class _Operand(_Region):
    load: isa.Load | None = None


def _hazard_free(dst: np.ndarray, src: np.ndarray | None, window: int) -> bool:
    for k in range(1, min(window, dst.size)):
        if (dst[k:] == dst[:-k]).any() or (src is not None and (src[k:] == dst[:-k]).any()):
            return False
    return True


def _layout(cfg: HwConfig) -> _Layout:
    e_max = max(cfg.inp_elem_bytes, cfg.wgt_elem_bytes, cfg.acc_elem_bytes, 64)
    input_bytes = 40 * e_max
    out_bytes = -(-64 * cfg.out_elem_bytes // e_max) * e_max
    out_addr = input_bytes
    return _Layout(input_bytes, out_addr, out_bytes, out_addr + out_bytes)


def random_bundle(cfg: HwConfig, seed: int, *, steps: int | None = None,
                  max_iters: int = 48) -> Bundle:
    """A random valid program for ``cfg`` (deterministic in ``seed``): ``steps`` blocks,
    stall episodes and NOPs (random when None)."""
    rng = random.Random(seed)
    layout = _layout(cfg)
    g = _Gen(cfg, rng, layout, max_iters)
    kinds = [(g.block, 8), (g.cmd_queue_episode, 1), (g.token_queue_episode, 1), (g.nop, 1)]
    funcs, weights = zip(*kinds, strict=True)
    n = steps if steps is not None else rng.randint(3, 9)
    g.block()
    for _ in range(n - 1):
        rng.choices(funcs, weights)[0]()
    g.finish()
    np_rng = np.random.default_rng(seed)
    image = bytearray(np_rng.integers(0, 256, layout.input_bytes, dtype=np.uint8).tobytes())
    image.extend(bytes(layout.out_bytes))
    image.extend(b"".join(w.to_bytes(isa.UOP_BYTES, "little") for w in g.uop_pool))
    insn_addr = -(-len(image) // isa.INSN_BYTES) * isa.INSN_BYTES
    image.extend(bytes(insn_addr - len(image)))
    image.extend(isa.encode_program(g.insns, cfg))
    return Bundle(cfg, bytes(image), insn_addr, len(g.insns),
                  {"input": Region(0, layout.input_bytes),
                   "output": Region(layout.out_addr, layout.out_bytes)},
                  {"generator": "random_programs", "seed": seed})


def bundles(cfg: HwConfig):
    """Hypothesis strategy of random valid bundles for ``cfg``."""
    from hypothesis import strategies as st

    return st.integers(min_value=0, max_value=2**32 - 1).map(lambda s: random_bundle(cfg, s))
