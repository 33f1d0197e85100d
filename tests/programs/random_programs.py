"""Random valid programs: deadlock-free, race-free, hazard-free and in range, by construction.

The generator emits instructions for randomly chosen modules with random operands, and
tracks a vector clock per module (how many instructions of each module happen before its
next one, through the token queues).  Before an instruction touches an SRAM element that
another module last wrote (or last read, for a write), it makes that access happen-before:
it pops a token carrying a late enough clock, emitting NOPs that push or drain tokens when
none is pending.  Random extra pushes and pops are added on top.  Two rules keep every
program deadlock-free: each pop matches a push earlier in program order, and a push never
makes a queue hold more than its depth of tokens counted in program order.

Load and store share no buffer, and DRAM is split into an input area (read by loads and
fetch) and an output area (written by stores), so the three modules only race through
inp/wgt (load/compute) and out (compute/store), which the clocks order.
"""

from __future__ import annotations

import dataclasses
import random
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from vta_hw import isa, timing
from vta_hw.bundle import Bundle, Region
from vta_hw.config import HwConfig

LOAD, COMPUTE, STORE = "load", "compute", "store"
_MOD = {LOAD: isa.Module.LOAD, COMPUTE: isa.Module.COMPUTE, STORE: isa.Module.STORE}
_NEIGHBOURS = {  # (from, to) -> (push flag on 'from', pop flag on 'to'), from the ISA's table
    (a, b): (isa.push_flag(_MOD[a], _MOD[b]), isa.pop_flag(_MOD[a], _MOD[b]))
    for a in _MOD for b in _MOD if (_MOD[a], _MOD[b]) in isa.TOKEN_QUEUES
}


@dataclass
class _Layout:
    input_bytes: int
    uop_addr: int
    uop_capacity: int
    out_addr: int
    out_bytes: int


@dataclass
class _Gen:
    cfg: HwConfig
    rng: random.Random
    layout: _Layout
    max_iters: int
    insns: list[isa.Insn] = field(default_factory=list)
    count: dict[str, int] = field(default_factory=lambda: {LOAD: 0, COMPUTE: 0, STORE: 0})
    clock: dict[str, dict[str, int]] = field(default_factory=dict)
    queues: dict[tuple[str, str], deque] = field(default_factory=dict)
    uop_pool: list[int] = field(default_factory=list)
    uops: list[int] = field(default_factory=list)  # known uop SRAM contents
    loaded: list[tuple[int, int]] = field(default_factory=list)  # uop ranges loaded so far

    def __post_init__(self) -> None:
        c = self.cfg
        self.clock = {m: {LOAD: 0, COMPUTE: 0, STORE: 0} for m in (LOAD, COMPUTE, STORE)}
        self.queues = {k: deque() for k in _NEIGHBOURS}
        self.uops = [0] * c.uop_buff_depth
        # last access per SRAM element: (instruction count of the module) + 1, 0 = never
        self.inp_w = np.zeros(c.inp_buff_depth, np.int64)
        self.inp_r = np.zeros(c.inp_buff_depth, np.int64)
        self.wgt_w = np.zeros(c.wgt_buff_depth, np.int64)
        self.wgt_r = np.zeros(c.wgt_buff_depth, np.int64)
        self.out_w = np.zeros(c.out_buff_depth, np.int64)
        self.out_r = np.zeros(c.out_buff_depth, np.int64)

    # ------------------------------------------------------------------ tokens
    def _emit(self, mod: str, insn: isa.Insn, pops: set[str], rand_tokens: bool) -> None:
        """Append ``insn`` for ``mod`` popping from the modules in ``pops``; add pushes."""
        flags: dict[str, bool] = {}
        for src in (LOAD, COMPUTE, STORE):
            q = (src, mod)
            if q not in _NEIGHBOURS:
                continue
            pending = self.queues[q]
            if src in pops or (rand_tokens and pending and self.rng.random() < 0.25):
                tok = pending.popleft()
                for k, v in tok.items():
                    self.clock[mod][k] = max(self.clock[mod][k], v)
                flags[_NEIGHBOURS[q][1]] = True
        self.count[mod] += 1
        self.clock[mod][mod] = self.count[mod]
        for dst in (LOAD, COMPUTE, STORE):
            q = (mod, dst)
            if q not in _NEIGHBOURS:
                continue
            if rand_tokens and len(self.queues[q]) < self.cfg.token_queue_depth and \
                    self.rng.random() < 0.25:
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

    def _require(self, mod: str, other: str, need: int) -> bool:
        """Make ``other``'s first ``need`` instructions happen before ``mod``'s next one.

        Returns True when the next instruction must pop the head token from ``other``.
        """
        if need <= self.clock[mod][other]:
            return False
        q = self.queues[(other, mod)]
        while q and q[0][other] < need:
            self._pop_nop(mod, other)
        if not q:
            self._push_nop(other, mod)
        return True

    def emit(self, mod: str, insn: isa.Insn, needs: dict[str, int]) -> None:
        pops = set()
        for other, need in needs.items():
            if other != mod and self._require(mod, other, need):
                pops.add(other)
        # A requirement handled after another may have drained the first's token: recheck.
        for other in list(pops):
            if not self.queues[(other, mod)]:
                pops.discard(other)
                if self._require(mod, other, needs[other]):
                    pops.add(other)
        self._emit(mod, insn, pops, rand_tokens=True)

    # ------------------------------------------------------------------ instructions
    def _pads(self) -> dict[str, int]:
        if self.rng.random() < 0.5:
            return {}
        return {k: self.rng.choice((0, 0, 1, 2, 3)) for k in ("y_pad_0", "y_pad_1", "x_pad_0",
                                                               "x_pad_1")}

    def _dma_geometry(self, mem: isa.MemType, depth: int, area_elems: int, pads: bool
                      ) -> dict[str, int] | None:
        r = self.rng
        p = self._pads() if pads else {}
        y, x = r.randint(1, 4), r.randint(1, 6)
        if r.random() < 0.1:
            x = 0 if r.random() < 0.5 else x
        stride = x + r.choice((0, 0, 1, 3)) if x else r.randint(0, 3)
        rows = p.get("y_pad_0", 0) + y + p.get("y_pad_1", 0)
        cols = p.get("x_pad_0", 0) + x + p.get("x_pad_1", 0)
        if rows * cols > depth:
            return None
        extent = (y - 1) * stride + x
        if extent > area_elems:
            return None
        return dict(sram_base=r.randint(0, depth - rows * cols),
                    dram_base=r.randint(0, area_elems - extent), y_size=y, x_size=x,
                    x_stride=stride, **p)

    def gen_load(self) -> bool:
        c, r = self.cfg, self.rng
        mem = r.choice((isa.MemType.INP, isa.MemType.WGT))
        depth = isa.sram_depth(c, mem)
        e = isa.elem_bytes(c, mem)
        g = self._dma_geometry(mem, depth, self.layout.input_bytes // e, pads=True)
        if g is None:
            return False
        ins = isa.Load(mem=mem, pad_value=r.randint(-128, 127), **g)
        lo, hi = ins.sram_base, ins.sram_base + ins.sram_elems
        reads = self.inp_r if mem == isa.MemType.INP else self.wgt_r
        self.emit(LOAD, ins, {COMPUTE: int(reads[lo:hi].max(initial=0))})
        (self.inp_w if mem == isa.MemType.INP else self.wgt_w)[lo:hi] = self.count[LOAD]
        return True

    def _out_war(self, idx: np.ndarray) -> int:
        idx = idx[idx < self.cfg.out_buff_depth]
        return int(self.out_r[idx].max(initial=0)) if idx.size else 0

    def _note_out_write(self, idx: np.ndarray) -> None:
        idx = idx[idx < self.cfg.out_buff_depth]
        self.out_w[idx] = self.count[COMPUTE]

    def gen_acc_load(self) -> bool:
        c, r = self.cfg, self.rng
        mem = r.choice((isa.MemType.ACC, isa.MemType.ACC8))
        e = isa.elem_bytes(c, mem)
        g = self._dma_geometry(mem, c.acc_buff_depth, self.layout.input_bytes // e, pads=True)
        if g is None:
            return False
        ins = isa.Load(mem=mem, pad_value=r.randint(-128, 127), **g)
        idx = np.arange(ins.sram_base, ins.sram_base + ins.sram_elems)
        self.emit(COMPUTE, ins, {STORE: self._out_war(idx)})
        self._note_out_write(idx)
        return True

    def gen_uop_load(self) -> bool:
        c, r = self.cfg, self.rng
        n = r.randint(1, 8)
        if len(self.uop_pool) + n > self.layout.uop_capacity:
            return False
        base = r.randint(0, c.uop_buff_depth - n)
        lim_src = min(c.inp_buff_depth, c.acc_buff_depth)
        words = [isa.encode_uop(isa.Uop(dst=r.randrange(c.acc_buff_depth),
                                        src=r.randrange(lim_src),
                                        wgt=r.randrange(c.wgt_buff_depth)), c)
                 for _ in range(n)]
        addr = self.layout.uop_addr // 4 + len(self.uop_pool)
        self.uop_pool.extend(words)
        self.uops[base:base + n] = words
        self.loaded.append((base, base + n))
        self.emit(COMPUTE, isa.Load(mem=isa.MemType.UOP, sram_base=base, dram_base=addr,
                                    y_size=1, x_size=n, x_stride=n), {})
        return True

    def _loop_indices(self, ins: isa.Gemm | isa.Alu) -> dict[str, np.ndarray]:
        c = self.cfg
        words = np.array(self.uops[ins.uop_bgn:ins.uop_end], dtype=np.int64)
        out = {}
        for name, (lsb, w) in isa.uop_format(c).offsets.items():
            if name == "wgt" and isinstance(ins, isa.Alu):
                continue
            base = (words >> lsb) & ((1 << w) - 1)
            fo, fi = getattr(ins, f"{name}_factor_out"), getattr(ins, f"{name}_factor_in")
            idx = (base[None, None, :] + np.arange(ins.iter_out)[:, None, None] * fo
                   + np.arange(ins.iter_in)[None, :, None] * fi)
            out[name] = idx.reshape(-1)
        return out

    @staticmethod
    def _hazard_free(dst: np.ndarray, src: np.ndarray | None, window: int) -> bool:
        for k in range(1, min(window, dst.size)):
            if (dst[k:] == dst[:-k]).any() or (src is not None and (src[k:] == dst[:-k]).any()):
                return False
        return True

    def _loop_params(self) -> dict[str, int]:
        r = self.rng
        if self.loaded and r.random() < 0.85:  # mostly micro-ops this program loaded
            lo, hi = r.choice(self.loaded)
            bgn = r.randrange(lo, hi)
            n = r.randint(1, hi - bgn)
        else:
            bgn = r.randrange(self.cfg.uop_buff_depth)
            n = r.randint(1, min(6, self.cfg.uop_buff_depth - bgn))
        it_o, it_i = r.randint(1, 4), r.randint(1, 3)
        while it_o * it_i * n > self.max_iters:
            it_o = max(1, it_o - 1)
            it_i = max(1, it_i - 1)
            n = max(1, n - 1)
        f = lambda: r.choice((0, 0, 1, 2, 5, 7))  # noqa: E731
        return dict(uop_bgn=bgn, uop_end=bgn + n, iter_out=it_o, iter_in=it_i,
                    dst_factor_out=f(), dst_factor_in=f(), src_factor_out=f(),
                    src_factor_in=f())

    def gen_gemm(self) -> bool:
        c, r = self.cfg, self.rng
        for _ in range(20):
            lp = self._loop_params()
            reset = r.random() < 0.2
            ins = isa.Gemm(reset=reset, overwrite=not reset and r.random() < 0.25,
                           wgt_factor_out=r.choice((0, 1, 2)),
                           wgt_factor_in=r.choice((0, 1, 3)), **lp)
            ix = self._loop_indices(ins)
            if ix["dst"].max() >= c.acc_buff_depth:
                continue
            if not ins.reset:
                if ix["src"].max() >= c.inp_buff_depth or ix["wgt"].max() >= c.wgt_buff_depth:
                    continue
                if not self._hazard_free(ix["dst"], None, timing.hazard_window(c, ins)):
                    continue
            needs = {STORE: self._out_war(ix["dst"])}
            if not ins.reset:
                needs[LOAD] = max(int(self.inp_w[ix["src"]].max()),
                                  int(self.wgt_w[ix["wgt"]].max()))
            self.emit(COMPUTE, ins, needs)
            if not ins.reset:
                self.inp_r[ix["src"]] = self.count[COMPUTE]
                self.wgt_r[ix["wgt"]] = self.count[COMPUTE]
            self._note_out_write(ix["dst"])
            return True
        return False

    def gen_alu(self) -> bool:
        c, r = self.cfg, self.rng
        for _ in range(20):
            lp = self._loop_params()
            op = r.choice(list(isa.AluOp))
            use_imm = r.random() < 0.5 or op == isa.AluOp.OUTMODE
            if op in (isa.AluOp.SHR, isa.AluOp.RSHR) and use_imm:
                imm = r.randint(-40, 40)
            elif op == isa.AluOp.OUTMODE and r.random() < 0.8:  # modes GEMM results show
                imm = isa.out_mode_imm(r.choice((0, 1, 2, 4, 7, 9, 13)), r.random() < 0.5)
            else:
                imm = r.choice((r.randint(-32768, 32767), r.randint(-4, 4), -32768, 32767))
            ins = isa.Alu(reset=r.random() < 0.1, alu_op=op, use_imm=use_imm, imm=imm, **lp)
            ix = self._loop_indices(ins)
            tensor = not ins.use_imm and not ins.reset
            if ix["dst"].max() >= c.acc_buff_depth or (tensor and
                                                       ix["src"].max() >= c.acc_buff_depth):
                continue
            if not ins.reset and not self._hazard_free(ix["dst"], ix["src"] if tensor else None,
                                                       timing.hazard_window(c, ins)):
                continue
            self.emit(COMPUTE, ins, {STORE: self._out_war(ix["dst"])})
            self._note_out_write(ix["dst"])
            return True
        return False

    def gen_store(self) -> bool:
        c = self.cfg
        e = c.out_elem_bytes
        g = self._dma_geometry(isa.MemType.OUT, c.out_buff_depth, self.layout.out_bytes // e,
                               pads=False)
        if g is None:
            return False
        g["dram_base"] += self.layout.out_addr // e
        written = np.flatnonzero(self.out_w)
        if written.size and self.rng.random() < 0.7:  # mostly results compute produced
            g["sram_base"] = min(int(self.rng.choice(written)),
                                 c.out_buff_depth - g["y_size"] * g["x_size"])
        ins = isa.Store(**g)
        lo, hi = ins.sram_base, ins.sram_base + ins.dram_elems
        self.emit(STORE, ins, {COMPUTE: int(self.out_w[lo:hi].max(initial=0))})
        self.out_r[lo:hi] = self.count[STORE]
        return True

    def gen_nop(self) -> bool:
        mod = self.rng.choice((LOAD, COMPUTE, STORE))
        self.emit(mod, isa.Nop(module=_MOD[mod]), {})
        return True

    def finish(self) -> None:
        self.emit(COMPUTE, isa.Finish(), {STORE: self.count[STORE]})


def random_bundle(cfg: HwConfig, seed: int, *, steps: int | None = None,
                  max_iters: int = 48) -> Bundle:
    """A random valid program for ``cfg`` (deterministic in ``seed``)."""
    rng = random.Random(seed)
    e_max = max(cfg.inp_elem_bytes, cfg.wgt_elem_bytes, cfg.acc_elem_bytes, 64)
    input_bytes = 40 * e_max
    uop_capacity = 128
    uop_addr = input_bytes
    out_addr = -(-(uop_addr + 4 * uop_capacity) // e_max) * e_max
    out_bytes = 48 * cfg.out_elem_bytes
    layout = _Layout(input_bytes, uop_addr, uop_capacity, out_addr, out_bytes)
    g = _Gen(cfg, rng, layout, max_iters)
    kinds = [(g.gen_load, 4), (g.gen_acc_load, 2), (g.gen_uop_load, 2), (g.gen_gemm, 4),
             (g.gen_alu, 4), (g.gen_store, 3), (g.gen_nop, 1)]
    funcs, weights = zip(*kinds, strict=True)
    g.gen_uop_load()
    for _ in range(steps if steps is not None else rng.randint(4, 24)):
        for _attempt in range(5):
            if rng.choices(funcs, weights)[0]():
                break
    g.finish()
    np_rng = np.random.default_rng(seed)
    image = bytearray(np_rng.integers(0, 256, out_addr + out_bytes, dtype=np.uint8).tobytes())
    pool = b"".join(w.to_bytes(4, "little") for w in g.uop_pool)
    image[uop_addr:uop_addr + len(pool)] = pool
    image[out_addr:out_addr + out_bytes] = bytes(out_bytes)
    insn_addr = -(-len(image) // isa.INSN_BYTES) * isa.INSN_BYTES
    image.extend(bytes(insn_addr - len(image)))
    image.extend(isa.encode_program(g.insns, cfg))
    return Bundle(cfg, bytes(image), insn_addr, len(g.insns),
                  {"input": Region(0, input_bytes), "output": Region(out_addr, out_bytes)},
                  {"generator": "random_programs", "seed": seed})


def bundles(cfg: HwConfig):
    """Hypothesis strategy of random valid bundles for ``cfg``."""
    from hypothesis import strategies as st

    return st.integers(min_value=0, max_value=2**32 - 1).map(lambda s: random_bundle(cfg, s))
