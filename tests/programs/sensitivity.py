"""What a corpus of programs exercises, measured on the simulator, and which mutants it kills.

Everything here is read from the simulator's own results -- its final DRAM, its accumulators
around each GEMM, its statistics and its instruction records -- never from what the program
generator meant to do, so the figures hold for any corpus.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from tests.programs.mutants import Mutant, patched
from vta_hw import isa
from vta_hw.bundle import Bundle
from vta_sim import effects, simulate
from vta_sim.simulator import SimResult, decode_stream

STALL_KINDS = ("cmd_queue_full", "token_queue_full", "store_overlaps_work",
               "stores_back_to_back", "store_feeds_load")


@dataclass(frozen=True)
class ProgramProfile:
    """nonzero_gemm: some GEMM changed an accumulator (a non-zero product reached acc);
    nonzero_output: the output area of the final DRAM holds a non-zero byte; stalls: which
    of :data:`STALL_KINDS` occurred; full_queues: the token queues (``"load->compute"``, ...)
    some push found full."""

    nonzero_gemm: bool
    nonzero_output: bool
    stalls: frozenset[str]
    full_queues: frozenset[str] = frozenset()  # token queues a push found full


@contextmanager
def _gemm_products(seen: list[bool]) -> Iterator[None]:
    """Record whether any GEMM (not reset) wrote a non-zero product to an accumulator."""
    orig = effects.apply_gemm

    def apply_gemm(state, insn, index):
        before = state.acc.copy() if not insn.reset else None
        orig(state, insn, index)
        if before is None or insn.n_iters == 0:
            return
        dst = np.unique(effects.loop_indices(state, insn, index)["dst"])
        base = 0 if insn.overwrite else before[dst]
        if np.any(state.acc[dst] != base):
            seen.append(True)

    with patched(effects, "apply_gemm", apply_gemm):
        yield


def _dram_bytes(cfg, insn: isa.Load | isa.Store) -> np.ndarray:
    e = isa.elem_bytes(cfg, insn.mem)
    if insn.dram_elems == 0:
        return np.zeros(0, np.int64)
    rows = (insn.dram_base + np.arange(insn.y_size) * insn.x_stride) * e
    return np.unique((rows[:, None] + np.arange(insn.x_size * e)[None, :]).reshape(-1))


def stalls_of(bundle: Bundle, res: SimResult) -> frozenset[str]:
    """The stall kinds a run shows in its statistics and instruction records."""
    kinds = set()
    st = res.stats.modules
    if sum(st["fetch"].stall_full.values()):
        kinds.add("cmd_queue_full")
    if any(sum(st[m].stall_full.values()) for m in ("load", "compute", "store")):
        kinds.add("token_queue_full")
    insns = decode_stream(bundle.config, bundle.dram, bundle.insn_addr, bundle.insn_count)
    stores = [r for r in res.records if isinstance(insns[r.index], isa.Store)
              and insns[r.index].dram_elems]
    work = [r for r in res.records if r.module != "store" and r.body.total > 0]
    for prev, cur in zip(stores, stores[1:], strict=False):
        if cur.issue == prev.retire + 1:
            kinds.add("stores_back_to_back")
    if any(w.issue <= s.retire and s.issue <= w.retire for s in stores for w in work):
        kinds.add("store_overlaps_work")
    loads = [r for r in res.records if isinstance(insns[r.index], isa.Load)
             and insns[r.index].dram_elems]
    for s in stores:
        written = _dram_bytes(bundle.config, insns[s.index])
        for ld in loads:
            if ld.issue > s.retire and np.intersect1d(
                    written, _dram_bytes(bundle.config, insns[ld.index])).size:
                kinds.add("store_feeds_load")
                break
    return frozenset(kinds)


def instruction_forms(bundle: Bundle) -> frozenset[str]:
    """The instruction forms a program contains, read from its decoded instruction words."""
    cfg = bundle.config
    forms = set()
    for ins in decode_stream(cfg, bundle.dram, bundle.insn_addr, bundle.insn_count):
        if isinstance(ins, isa.Alu):
            if ins.reset:
                forms.add("alu_reset")
            elif ins.alu_op == isa.AluOp.OUTMODE:
                shift, relu = isa.out_mode_fields(ins.imm)
                forms.update(["outmode_shift"] * (shift > 0) + ["outmode_relu"] * relu)
            elif ins.n_iters:
                forms.add(f"alu_{ins.alu_op.name.lower()}_{'imm' if ins.use_imm else 'tensor'}")
        elif isinstance(ins, isa.Gemm) and ins.n_iters:
            forms.add("gemm_reset" if ins.reset else
                      "gemm_overwrite" if ins.overwrite else "gemm_accumulate")
        elif isinstance(ins, isa.Load):
            forms.add(f"load_{ins.mem.name.lower()}")
            if ins.sram_elems > ins.dram_elems and ins.pad_value != 0:
                forms.add("load_nonzero_padding")
        elif isinstance(ins, isa.Store) and ins.dram_elems:
            forms.add("store_partial_tile" if ins.y_size > 1 and ins.x_stride > ins.x_size
                      else "store")
    return frozenset(forms)


ALL_FORMS = frozenset(
    [f"alu_{op.name.lower()}_{k}" for op in isa.ALU_LANE_OPS for k in ("imm", "tensor")]
    + ["alu_reset", "outmode_shift", "outmode_relu", "gemm_reset", "gemm_overwrite",
       "gemm_accumulate", "load_nonzero_padding", "store_partial_tile", "store"]
    + [f"load_{m.name.lower()}" for m in isa.MemType if m != isa.MemType.OUT])


def profile(bundle: Bundle) -> tuple[ProgramProfile, SimResult]:
    """Run ``bundle`` once on the simulator and measure what it exercised."""
    seen: list[bool] = []
    with _gemm_products(seen):
        res = simulate(bundle)
    out = bundle.read("output", res.dram)
    full = frozenset(q for m in ("load", "compute", "store")
                     for q, n in res.stats.modules[m].stall_full.items() if n)
    return ProgramProfile(bool(seen), any(out), stalls_of(bundle, res), full), res


def killed_by(mutant: Mutant, bundle: Bundle, reference: SimResult) -> bool:
    """Whether the mutated simulator gives other bytes or cycles on ``bundle`` (or raises)."""
    try:
        with mutant.applied():
            res = simulate(bundle)
    except Exception:  # noqa: BLE001 - any failure of the mutated run is a detection
        return True
    return res.cycles != reference.cycles or res.dram != reference.dram


def kills(mutants: Iterable[Mutant], bundles: list[Bundle], references: list[SimResult],
          *, first_only: bool = True) -> dict[str, int]:
    """For each mutant, how many programs kill it (with ``first_only``: 1 at the first)."""
    out = {}
    for m in mutants:
        n = 0
        for b, ref in zip(bundles, references, strict=True):
            if killed_by(m, b, ref):
                n += 1
                if first_only:
                    break
        out[m.name] = n
    return out
