"""Deliberately broken simulators: does the random corpus notice wrong data or wrong timing?

Each :class:`Mutant` is a named, self-describing patch of one data effect
(``vta_sim.effects``) or one timing rule (``vta_hw.timing``, the engine's queues), applied
only inside ``with mutant.applied():`` and restored on exit, even on error.  Nothing in the
production simulator changes; the patches replace module attributes the simulator looks up
at call time:

* ``vta_sim.effects``: ``apply_load``, ``apply_store``, ``apply_gemm``, ``apply_alu``,
  ``requantize8`` (wrapped, never re-implemented);
* ``vta_hw.timing``: ``dma_cost``, ``gemm_cost``, ``alu_initiation_interval``,
  ``fetch_read_cycles``;
* ``vta_sim.engine``: ``Engine.__init__`` (queue depths after construction) and
  ``_TOKEN_QUEUE`` (the flag-to-queue map the engine derived from the ISA).

A mutant is *killed* by a program when the program's final DRAM bytes or cycle count differ
from the unmutated simulator's, or when the mutated run raises.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass

import numpy as np

from vta_hw import isa, timing
from vta_sim import effects, engine


@contextmanager
def patched(owner: object, name: str, value: object) -> Iterator[None]:
    """``owner.name = value`` inside the context; the old value back on exit, even on error."""
    old = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, old)


@dataclass(frozen=True)
class Mutant:
    """One broken rule: ``name`` (an identifier), what it breaks, data or timing, and the
    patches that break it."""

    name: str
    description: str
    kind: str  # "data" or "timing"
    patches: Callable[[], list[AbstractContextManager]]

    @contextmanager
    def applied(self) -> Iterator[None]:
        with ExitStack() as stack:
            for p in self.patches():
                stack.enter_context(p)
            yield


def _wrap(owner: object, name: str, make: Callable[[Callable], Callable]
          ) -> Callable[[], list[AbstractContextManager]]:
    """Patches replacing ``owner.name`` by ``make(original)``, the original read at entry."""
    return lambda: [patched(owner, name, make(getattr(owner, name)))]


def _mirror_plain(state, idx: np.ndarray) -> None:
    """out[i] = saturate(acc[i]) for written accumulators below the out depth."""
    idx = idx[idx < state.cfg.out_buff_depth]
    state.out[idx] = effects.requantize8(state.acc[idx], 0, False)


def _dst(state, insn: isa.Gemm | isa.Alu, index: int) -> np.ndarray:
    return np.unique(effects.loop_indices(state, insn, index)["dst"])


# ---------------------------------------------------------------------------- data mutants
def _gemm_negated_weight(orig):
    def apply_gemm(state, insn, index):
        saved = state.wgt.copy()
        state.wgt[...] = -state.wgt.astype(np.int16)  # -(-128) wraps to -128, as int8 would
        try:
            orig(state, insn, index)
        finally:
            state.wgt[...] = saved
    return apply_gemm


def _gemm_nothing(orig):
    def apply_gemm(state, insn, index):
        if insn.reset:
            orig(state, insn, index)
    return apply_gemm


def _gemm_overwrite_ignored(orig):
    return lambda state, insn, index: orig(state, dataclasses.replace(insn, overwrite=False),
                                           index)


def _reset_ignored(orig):
    def apply(state, insn, index):
        if not insn.reset:
            orig(state, insn, index)
    return apply


def _with_uops(rewrite: Callable[[np.ndarray, dict], np.ndarray], only: type):
    """Run the instruction on rewritten micro-op words (restored afterwards)."""
    def make(orig):
        def apply(state, insn, index):
            if not isinstance(insn, only) or insn.n_uops == 0:
                return orig(state, insn, index)
            sl = slice(insn.uop_bgn, insn.uop_end)
            saved = state.uop[sl].copy()
            fields = {n: (lsb, (1 << w) - 1)
                      for n, (lsb, w) in isa.uop_format(state.cfg).offsets.items()}
            state.uop[sl] = rewrite(saved.astype(np.int64), fields).astype(np.uint32)
            try:
                orig(state, insn, index)
            finally:
                state.uop[sl] = saved
        return apply
    return make


def _get(words, fields, name):
    lsb, mask = fields[name]
    return (words >> lsb) & mask


def _set(words, fields, name, value):
    lsb, mask = fields[name]
    return (words & ~(mask << lsb)) | ((value & mask) << lsb)


def _acc_index_flipped(words, fields):
    return _set(words, fields, "dst", _get(words, fields, "dst") ^ 1)


def _dst_src_swapped(words, fields):
    d, s = _get(words, fields, "dst"), _get(words, fields, "src")
    return _set(_set(words, fields, "dst", s), fields, "src", d)


def _alu_off_by_one(op: isa.AluOp):
    def make(orig):
        def apply_alu(state, insn, index):
            orig(state, insn, index)
            if insn.alu_op == op and not insn.reset and insn.n_iters:
                dst = _dst(state, insn, index)
                state.acc[dst] = effects.wrap32(state.acc[dst].astype(np.int64) + 1)
                _mirror_plain(state, dst)
        return apply_alu
    return make


def _out_mode_broken(shift: bool):
    def make(orig):
        def apply_alu(state, insn, index):
            orig(state, insn, index)
            if insn.alu_op == isa.AluOp.OUTMODE:
                if shift:
                    state.out_shift = 0
                else:
                    state.out_relu = False
        return apply_alu
    return make


def _requant_truncates(orig):
    def requantize8(x, shift, relu):
        if shift:
            x = x.astype(np.int64) >> shift
            return orig(x, 0, relu)
        return orig(x, shift, relu)
    return requantize8


def _saturation_wraps(orig):
    def requantize8(x, shift, relu):
        if shift or relu:
            return orig(x, shift, relu)
        return np.asarray(x).astype(np.int64).astype(np.int8)
    return requantize8


def _pad_value_off(orig):
    def apply_load(state, insn, index):
        if insn.sram_elems > insn.dram_elems:
            insn = dataclasses.replace(insn, pad_value=insn.pad_value ^ 1)
        orig(state, insn, index)
    return apply_load


def _acc8_zero_extended(orig):
    def apply_load(state, insn, index):
        orig(state, insn, index)
        if insn.mem == isa.MemType.ACC8 and insn.sram_elems:
            idx = np.arange(insn.sram_base, insn.sram_base + insn.sram_elems)
            state.acc[idx] &= 0xFF
            _mirror_plain(state, idx)
    return apply_load


def _store_stride_ignored(orig):
    return lambda state, insn, index: orig(state, dataclasses.replace(insn, x_stride=insn.x_size),
                                           index)


# ---------------------------------------------------------------------------- timing mutants
def _dram_latency_plus_one(orig):
    def dma_cost(cfg, insn):
        c = orig(cfg, insn)
        if not c.dram_latency:
            return c
        return dataclasses.replace(c, total=c.total + 1, dram_latency=c.dram_latency + 1)
    return dma_cost


def _pad_free(orig):
    def dma_cost(cfg, insn):
        c = orig(cfg, insn)
        return dataclasses.replace(c, total=c.total - c.pad, pad=0)
    return dma_cost


def _gemm_pipeline_minus_one(orig):
    def gemm_cost(cfg, insn):
        c = orig(cfg, insn)
        return dataclasses.replace(c, total=c.total - 1, compute=c.compute - 1)
    return gemm_cost


def _fetch_one_faster(orig):
    return lambda cfg: orig(cfg) - 1


def _queues_deeper(attr: str):
    def make(orig):
        def __init__(self, *args, **kwargs):
            orig(self, *args, **kwargs)
            for q in getattr(self, attr).values():
                q.depth += 1
        return __init__
    return make


def _compute_pops_swapped(table: dict) -> dict:
    """compute's pop_prev reads store->compute and pop_next load->compute."""
    t = dict(table)
    t["compute", "pop_prev"], t["compute", "pop_next"] = (table["compute", "pop_next"],
                                                         table["compute", "pop_prev"])
    return t


MUTANTS: tuple[Mutant, ...] = (
    Mutant("gemm_weight_negated", "GEMM multiplies by -wgt", "data",
           _wrap(effects, "apply_gemm", _gemm_negated_weight)),
    Mutant("gemm_does_nothing", "a GEMM (not reset) leaves the accumulators unchanged", "data",
           _wrap(effects, "apply_gemm", _gemm_nothing)),
    Mutant("gemm_overwrite_ignored", "GEMM overwrite accumulates instead", "data",
           _wrap(effects, "apply_gemm", _gemm_overwrite_ignored)),
    Mutant("gemm_reset_ignored", "GEMM reset leaves the accumulators unchanged", "data",
           _wrap(effects, "apply_gemm", _reset_ignored)),
    Mutant("gemm_acc_index_flipped", "GEMM writes acc[dst ^ 1] (micro-op dst bit 0 flipped)",
           "data", _wrap(effects, "apply_gemm", _with_uops(_acc_index_flipped, isa.Gemm))),
    Mutant("alu_reset_ignored", "ALU reset leaves the accumulators unchanged", "data",
           _wrap(effects, "apply_alu", _reset_ignored)),
    Mutant("alu_uop_dst_src_swapped", "ALU reads the micro-op's dst and src fields swapped",
           "data", _wrap(effects, "apply_alu", _with_uops(_dst_src_swapped, isa.Alu))),
    *(Mutant(f"alu_{op.name.lower()}_off_by_one", f"ALU {op.name} results are one too high",
             "data", _wrap(effects, "apply_alu", _alu_off_by_one(op)))
      for op in isa.ALU_LANE_OPS),
    Mutant("outmode_shift_ignored", "OUTMODE sets ReLU but never the rounding shift", "data",
           _wrap(effects, "apply_alu", _out_mode_broken(shift=True))),
    Mutant("outmode_relu_dropped", "OUTMODE sets the shift but never ReLU", "data",
           _wrap(effects, "apply_alu", _out_mode_broken(shift=False))),
    Mutant("requant_truncates", "the OUTMODE shift truncates instead of rounding", "data",
           _wrap(effects, "requantize8", _requant_truncates)),
    Mutant("out_mirror_wraps", "the plain out mirror wraps to int8 instead of saturating",
           "data", _wrap(effects, "requantize8", _saturation_wraps)),
    Mutant("load_pad_value_off", "LOAD pads with pad_value ^ 1", "data",
           _wrap(effects, "apply_load", _pad_value_off)),
    Mutant("acc8_zero_extended", "ACC8 loads zero-extend instead of sign-extending", "data",
           _wrap(effects, "apply_load", _acc8_zero_extended)),
    Mutant("store_row_stride_ignored", "STORE packs rows x_size apart, ignoring x_stride",
           "data", _wrap(effects, "apply_store", _store_stride_ignored)),
    Mutant("dram_latency_plus_one", "DMA pays one more cycle of DRAM latency", "timing",
           _wrap(timing, "dma_cost", _dram_latency_plus_one)),
    Mutant("pad_cycles_free", "LOAD padding costs no cycles", "timing",
           _wrap(timing, "dma_cost", _pad_free)),
    Mutant("gemm_pipeline_minus_one", "GEMM pipeline one cycle shorter", "timing",
           _wrap(timing, "gemm_cost", _gemm_pipeline_minus_one)),
    Mutant("alu_tensor_ii_one", "ALU tensor ops at one iteration per cycle", "timing",
           lambda: [patched(timing, "alu_initiation_interval", lambda insn: 1)]),
    Mutant("fetch_one_cycle_faster", "fetch reads an instruction one cycle faster", "timing",
           _wrap(timing, "fetch_read_cycles", _fetch_one_faster)),
    Mutant("token_queues_one_deeper", "token queues hold one more token than configured",
           "timing", _wrap(engine.Engine, "__init__", _queues_deeper("tokens"))),
    Mutant("cmd_queues_one_deeper", "command queues hold one more instruction than configured",
           "timing", _wrap(engine.Engine, "__init__", _queues_deeper("cmd"))),
    Mutant("token_queue_cross_wired", "compute's pop_prev and pop_next read each other's queue",
           "timing", _wrap(engine, "_TOKEN_QUEUE", _compute_pops_swapped)),
)
"""Every mutant, by name order of kind: data first, then timing."""

BY_NAME: dict[str, Mutant] = {m.name: m for m in MUTANTS}
