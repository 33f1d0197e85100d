"""Run a program bundle: decode, check, time and execute, and return what happened."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from threadpoolctl import threadpool_limits

from vta_hw import isa
from vta_hw.bundle import Bundle
from vta_hw.config import HwConfig
from vta_sim.engine import Engine, InsnRecord, check_program
from vta_sim.errors import CycleLimitError, IllegalInstructionError
from vta_sim.state import MachineState
from vta_sim.stats import SimStats

if TYPE_CHECKING:
    from vta_sim.races import RaceReport


@dataclass(frozen=True)
class SimResult:
    """The outcome of one run.

    cycles: total cycles (the retire cycle of FINISH + 1), as the RTL's cycle counter reads.
    dram: the final DRAM image.  state: final on-chip buffers (for inspection and tests).
    records: when every instruction issued and retired (for traces and timelines).
    """

    cycles: int
    dram: bytes
    stats: SimStats
    records: tuple[InsnRecord, ...]
    state: MachineState
    fetch_records: tuple[tuple[int, int], ...] = ()  # (read start, dispatch) per instruction
    races: RaceReport | None = None  # the race check's report (check_races=True), race-free

    def read(self, bundle: Bundle, name: str) -> bytes:
        """Bytes of the bundle's symbol ``name`` in the final DRAM."""
        return bundle.read(name, self.dram)


# Instruction words already decoded, per config: a model's program repeats most of its
# GEMM/ALU words, and the same words come back at every load and launch (linking changes
# only the DMA addresses).  Decoding is a pure function of the word.
_WORDS: dict[HwConfig, dict[bytes, isa.Insn]] = {}
_WORDS_KEPT = 1 << 16


def decode_stream(cfg: HwConfig, dram: bytes, insn_addr: int, insn_count: int
                  ) -> list[isa.Insn]:
    n = isa.INSN_BYTES
    data = bytes(dram[insn_addr:insn_addr + insn_count * n])
    if len(data) != insn_count * n:
        raise IllegalInstructionError(f"{insn_count} instructions at {insn_addr} run past the "
                                      f"{len(dram)}-byte DRAM image")
    if cfg not in _WORDS and len(_WORDS) >= 8:
        _WORDS.clear()
    words = _WORDS.setdefault(cfg, {})
    if len(words) >= _WORDS_KEPT:
        words.clear()
    out = []
    for i in range(0, len(data), n):
        w = data[i:i + n]
        insn = words.get(w)
        if insn is None:
            try:
                insn = words[w] = isa.decode(w, cfg, i // n)
            except isa.DecodeError as e:
                raise IllegalInstructionError(str(e)) from e
        out.append(insn)
    return out


# Decoded and checked instruction streams by their bytes: a resident program launched once
# per inference (a model's chained program) is decoded and checked once, not per launch.
_PROGRAMS: dict[tuple[HwConfig, bytes], tuple[isa.Insn, ...]] = {}
_PROGRAMS_KEPT = 16


def _checked_program(cfg: HwConfig, dram: bytes, insn_addr: int, insn_count: int
                     ) -> list[isa.Insn]:
    """:func:`decode_stream` and :func:`check_program`, remembered for the same bytes."""
    key = (cfg, bytes(dram[insn_addr:insn_addr + insn_count * isa.INSN_BYTES]))
    insns = _PROGRAMS.get(key)
    if insns is None:
        decoded = decode_stream(cfg, dram, insn_addr, insn_count)
        check_program(decoded, cfg)
        if len(_PROGRAMS) >= _PROGRAMS_KEPT:
            _PROGRAMS.pop(next(iter(_PROGRAMS)))
        insns = _PROGRAMS[key] = tuple(decoded)
    return list(insns)


def simulate_image(cfg: HwConfig, dram: bytes, insn_addr: int, insn_count: int, *,
                   check_races: bool = False, max_cycles: int | None = None,
                   timing_only: bool = False) -> SimResult:
    """Run the ``insn_count`` instructions at ``insn_addr`` of ``dram`` on ``cfg``.

    check_races: also reject a program whose modules race on SRAM or DRAM
    (:class:`vta_sim.races.RaceError`): its outcome would depend on timing, so the result
    below is only one of the possible ones.
    max_cycles: raise :class:`CycleLimitError` instead of running past this many cycles.
    timing_only: skip the data effects (``Engine``'s ``effects``): the same cycles, records
    and stats, but ``dram`` comes back as it went in (nothing is computed).
    """
    insns = _checked_program(cfg, dram, insn_addr, insn_count)
    state = MachineState.fresh(cfg, dram)
    engine = Engine(cfg, state, insns, max_cycles=max_cycles, effects=not timing_only)
    # Each GEMM is a small BLAS product: threading them only adds synchronisation, and on a
    # busy machine OpenBLAS's spinning threads made them 50x slower.
    with threadpool_limits(limits=1, user_api="blas"):
        engine.run()
    assert engine.finish_retire is not None
    cycles = engine.finish_retire + 1
    last = max((r.retire for r in engine.records), default=0) + 1
    if max_cycles is not None and last > max_cycles:
        raise CycleLimitError(f"the run takes {last} cycles, more than its bound of "
                              f"{max_cycles} cycles (--max-cycles)")
    races = None
    if check_races:
        from vta_sim.races import check_races as _check_races

        races = _check_races(insns, cfg, dram, insn_addr=insn_addr)
    return SimResult(cycles=cycles, dram=state.dram.tobytes(), stats=engine.stats(cycles),
                     records=tuple(engine.records), state=state,
                     fetch_records=tuple(engine.fetch_log), races=races)


def simulate(bundle: Bundle, cfg: HwConfig | None = None, *, check_races: bool = False,
             max_cycles: int | None = None) -> SimResult:
    """Run ``bundle``; with ``cfg`` given, first check the bundle was built for it.
    ``check_races`` and ``max_cycles``: see :func:`simulate_image`."""
    if cfg is not None:
        bundle.check_config(cfg)
    return simulate_image(bundle.config, bundle.dram, bundle.insn_addr, bundle.insn_count,
                          check_races=check_races, max_cycles=max_cycles)
