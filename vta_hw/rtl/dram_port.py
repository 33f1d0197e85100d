"""The DRAM port: a request/response memory interface with back-pressure.

Every module that touches DRAM (fetch, load, compute, store) has its own port, so ports never
contend.  The data bus is ``dram_bytes_per_cycle`` bytes wide (one *beat* per cycle); a DMA
assembles or splits SRAM elements into beats.  The protocol is AXI-like but narrower, and can
be bridged to an AXI4 / Wishbone / SDRAM controller by an SoC (see ``docs/rtl.md``):

* **request** ``req_valid``/``req_ready`` carry one burst: byte address ``req_addr``, number
  of beats ``req_len`` (>= 1), beat size ``2**req_size`` bytes (<= the bus width) and
  direction ``req_write``.  Beat *k* covers bytes ``[addr + k*2**size, addr + (k+1)*2**size)``;
  a beat narrower than the bus uses its low bytes.
* **read data** ``rd_valid``/``rd_ready``/``rd_data``: the beats of the read bursts, in
  request order.  A master may have **several read bursts in flight** (requested, not every
  beat taken); the memory queues them and serves them one after another.
* **write data** ``wr_valid``/``wr_ready``/``wr_data``: the beats of a write burst, in order;
  a master presents the request no later than the first beat (the same cycle is allowed) and
  the memory may accept beats in the same cycle as the request.  A master requests its next
  write burst only after the previous one's last beat, but need not wait for its
  acknowledge: several write bursts may be in flight.  A port never mixes reads and writes
  (store only writes; fetch, load and compute only read).
* **write acknowledge** ``wr_ack``: a one-cycle pulse once every beat of a write burst is
  in memory, one per burst, in request order; the master always accepts it.

The *timing contract* that the timing model (``docs/timing.md``) assumes is defined once, as
``vta_hw.timing.DramTiming`` (``timing.dram_timing(cfg)``): read requests queued, a read
burst's beats from ``read_start`` (``L = dram_latency`` after its request, after the previous
burst's last beat: the latency is paid once per stream of rows, not once per row), write beats
in consecutive cycles and an acknowledge ``L`` cycles after the last one.  The masters space
their requests for it: a DMA requests a row at most ``L`` cycles before it takes its first
beat, one request per cycle at most.

A memory that is slower (``req_ready``/``wr_ready`` low, gaps in ``rd_valid``, a late
``wr_ack``) produces the same data, later: the RTL never assumes the contract for correctness.
"""

from __future__ import annotations

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from vta_hw import isa, timing
from vta_hw.config import HwConfig

ADDR_BITS = 32  # byte addresses; DRAM images are far smaller than 4 GiB
SIZE_BITS = 3  # log2 of the beat size in bytes (beats of 1..128 bytes)


def max_elem_beats(cfg: HwConfig) -> int:
    """The most beats any element (or an instruction) takes on the bus."""
    sizes = [isa.elem_bytes(cfg, m) for m in isa.MemType] + [isa.INSN_BYTES]
    return max(timing.elem_cycles(cfg, e) for e in sizes)


def len_bits(cfg: HwConfig) -> int:
    """Width of ``req_len``: a row of up to 2**16 - 1 elements of the widest element."""
    return isa.MEM_SIZE_BITS + (max_elem_beats(cfg) - 1).bit_length()


def beat_size_log2(cfg: HwConfig, elem_bytes: int) -> int:
    """``req_size`` for elements of ``elem_bytes``: a full bus beat, or the whole element."""
    return min(elem_bytes, cfg.dram_bytes_per_cycle).bit_length() - 1


class DramPort(wiring.Signature):
    """One module's port to DRAM, from the module's (master's) side.

    Members
    -------
    req_valid : Out(1)   a burst request is presented
    req_ready : In(1)    the memory accepts it this cycle
    req_addr : Out(32)   byte address of the first beat
    req_len : Out(n)     number of beats (>= 1)
    req_size : Out(3)    log2 of the bytes per beat
    req_write : Out(1)   1 for a write burst, 0 for a read burst
    rd_valid : In(1)     a read beat is presented
    rd_ready : Out(1)    the master takes it this cycle
    rd_data : In(8*bw)   read beat (narrow beats in the low bytes)
    wr_valid : Out(1)    a write beat is presented
    wr_ready : In(1)     the memory takes it this cycle
    wr_data : Out(8*bw)  write beat (narrow beats in the low bytes)
    wr_ack : In(1)       pulse: the current write burst is complete
    """

    def __init__(self, cfg: HwConfig):
        self.cfg = cfg
        bits = 8 * cfg.dram_bytes_per_cycle
        super().__init__({
            "req_valid": Out(1),
            "req_ready": In(1),
            "req_addr": Out(ADDR_BITS),
            "req_len": Out(len_bits(cfg)),
            "req_size": Out(SIZE_BITS),
            "req_write": Out(1),
            "rd_valid": In(1),
            "rd_ready": Out(1),
            "rd_data": In(bits),
            "wr_valid": Out(1),
            "wr_ready": In(1),
            "wr_data": Out(bits),
            "wr_ack": In(1),
        })

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DramPort) and other.cfg == self.cfg

    def __hash__(self) -> int:
        return hash(("DramPort", self.cfg))

    def __repr__(self) -> str:
        return f"DramPort({self.cfg.name})"


__all__ = ["DramPort", "ADDR_BITS", "SIZE_BITS", "len_bits", "beat_size_log2",
           "max_elem_beats"]
