"""Command queues (fetch -> module) and token queues (module <-> module).

Both follow the visibility rules of ``docs/timing.md``, which are those of
``amaranth.lib.fifo.SyncFIFO``: an entry pushed in cycle *p* is visible from *p + 1*; a slot
freed by a pop in cycle *q* is usable from *q + 1*; ``full``/``empty`` come from the level
register, so a push into a full queue waits even when the consumer pops in the same cycle.

A token queue carries no data, so it is an up/down counter with exactly those rules (no
memory at all); a command queue is a ``SyncFIFO`` of 128-bit instructions.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import fifo, wiring
from amaranth.lib.wiring import In, Out

from vta_hw import isa


class CmdPush(wiring.Signature):
    """Producer side of a command queue (the fetch unit's view).

    Members
    -------
    en : Out(1)     push ``data`` this cycle (taken only when ``rdy``)
    data : Out(128) the instruction
    rdy : In(1)     the queue has room
    """

    def __init__(self):
        super().__init__({"en": Out(1), "data": Out(isa.INSN_BITS), "rdy": In(1)})


class CmdPop(wiring.Signature):
    """Consumer side of a command queue (a module's view).

    Members
    -------
    valid : In(1)   an instruction is visible at the head
    data : In(128)  the head instruction (valid when ``valid``)
    en : Out(1)     pop the head this cycle
    """

    def __init__(self):
        super().__init__({"valid": In(1), "data": In(isa.INSN_BITS), "en": Out(1)})


class TokenPush(wiring.Signature):
    """Producer side of a token queue.

    Members
    -------
    push : Out(1)  push one token this cycle (the producer checks ``room`` first)
    room : In(1)   fewer than ``depth`` tokens are queued
    """

    def __init__(self):
        super().__init__({"push": Out(1), "room": In(1)})


class TokenPop(wiring.Signature):
    """Consumer side of a token queue.

    Members
    -------
    pop : Out(1)    pop one token this cycle (the consumer checks ``avail`` first)
    avail : In(1)   at least one token is visible
    """

    def __init__(self):
        super().__init__({"pop": Out(1), "avail": In(1)})


class CommandQueue(wiring.Component):
    """A ``SyncFIFO`` of instructions between fetch and one module.

    Members
    -------
    w : In(CmdPush)   fetch pushes here
    r : In(CmdPop)    the module pops here
    level : Out(n)    entries in the queue
    """

    def __init__(self, depth: int):
        self.depth = depth
        super().__init__({"w": In(CmdPush()), "r": In(CmdPop()),
                          "level": Out(range(depth + 1))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = q = fifo.SyncFIFO(width=isa.INSN_BITS, depth=self.depth)
        m.d.comb += [
            q.w_en.eq(self.w.en), q.w_data.eq(self.w.data), self.w.rdy.eq(q.w_rdy),
            self.r.valid.eq(q.r_rdy), self.r.data.eq(q.r_data), q.r_en.eq(self.r.en),
            self.level.eq(q.level),
        ]
        return m


class TokenQueue(wiring.Component):
    """A dependency-token queue: a counter with ``SyncFIFO`` visibility.

    Members
    -------
    w : In(TokenPush)   the producer module pushes here
    r : In(TokenPop)    the consumer module pops here
    level : Out(n)      tokens in the queue
    """

    def __init__(self, depth: int):
        self.depth = depth
        super().__init__({"w": In(TokenPush()), "r": In(TokenPop()),
                          "level": Out(range(depth + 1))})

    def elaborate(self, platform):
        m = Module()
        room = Signal()
        avail = Signal()
        m.d.comb += [room.eq(self.level != self.depth), avail.eq(self.level != 0),
                     self.w.room.eq(room), self.r.avail.eq(avail)]
        do_push = self.w.push & room
        do_pop = self.r.pop & avail
        with m.If(do_push & ~do_pop):
            m.d.sync += self.level.eq(self.level + 1)
        with m.If(do_pop & ~do_push):
            m.d.sync += self.level.eq(self.level - 1)
        return m


__all__ = ["CmdPush", "CmdPop", "TokenPush", "TokenPop", "CommandQueue", "TokenQueue"]
