"""Command queues (fetch -> module) and token queues (module <-> module).

Both follow the visibility rules of ``docs/timing.md``, which are those of
``amaranth.lib.fifo.SyncFIFO``: an entry pushed in cycle *p* is visible from *p + 1*; a slot
freed by a pop in cycle *q* is usable from *q + 1*; ``full``/``empty`` come from the level
register, so a push into a full queue waits even when the consumer pops in the same cycle.

A token queue carries no data, so it is an up/down counter with exactly those rules (no
memory at all); a command queue is a FIFO of 128-bit instructions with the same rules and a
registered head.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from vta_hw import isa


def _level(m: Module, level: Signal, depth: int, push, pop):
    """The occupancy counter of a queue with ``SyncFIFO``'s rules.  Returns ``(room, avail)``
    = ``(level != depth, level != 0)``, kept in registers updated with ``level`` (so a
    module's issue decision starts from flip-flops)."""
    room = Signal(init=1)
    avail = Signal()
    do_push = push & room
    do_pop = pop & avail
    new = Signal.like(level)
    m.d.comb += new.eq(level)
    with m.If(do_push & ~do_pop):
        m.d.comb += new.eq(level + 1)
    with m.If(do_pop & ~do_push):
        m.d.comb += new.eq(level - 1)
    m.d.sync += [level.eq(new), room.eq(new != depth), avail.eq(new != 0)]
    return room, avail


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
    """A FIFO of instructions between fetch and one module, with ``SyncFIFO``'s rules and a
    registered head.

    ``level`` gives ``rdy = level != depth`` and ``valid = level != 0`` exactly as in
    ``SyncFIFO``; unlike ``SyncFIFO`` (whose head is read combinationally from its LUT RAM)
    the head instruction sits in a register, loaded at the end of the cycle that makes it
    the head (a push into an empty queue, or a pop that reveals the next entry).  So the
    module decodes its command, and the compute module addresses its first micro-op, straight
    from flip-flops.

    Members
    -------
    w : In(CmdPush)   fetch pushes here
    r : In(CmdPop)    the module pops here
    level : Out(n)    entries in the queue
    """

    def __init__(self, depth: int):
        assert depth >= 2 and depth & (depth - 1) == 0, depth
        self.depth = depth
        super().__init__({"w": In(CmdPush()), "r": In(CmdPop()),
                          "level": Out(range(depth + 1))})

    def elaborate(self, platform):
        m = Module()
        d = self.depth
        # every entry is written to the storage; the head register mirrors storage[rptr]
        m.submodules.storage = mem = Memory(shape=isa.INSN_BITS, depth=d, init=[])
        wp = mem.write_port()
        rp = mem.read_port(domain="comb")
        wptr = Signal(range(d))
        nxt = Signal(range(d), init=1)  # rptr + 1: the entry behind the head
        head = Signal(isa.INSN_BITS)
        room, avail = _level(m, self.level, d, self.w.en, self.r.en)
        m.d.comb += [self.w.rdy.eq(room), self.r.valid.eq(avail), self.r.data.eq(head),
                     wp.addr.eq(wptr), wp.data.eq(self.w.data), rp.addr.eq(nxt)]
        do_push = self.w.en & room
        do_pop = self.r.en & avail
        m.d.comb += wp.en.eq(do_push)
        with m.If(do_push):
            m.d.sync += wptr.eq(wptr + 1)
        with m.If(do_pop):
            m.d.sync += nxt.eq(nxt + 1)
            with m.If(self.level >= 2):
                m.d.sync += head.eq(rp.data)
            with m.Elif(do_push):
                m.d.sync += head.eq(self.w.data)
        with m.Elif(do_push & ~avail):
            m.d.sync += head.eq(self.w.data)
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
        room, avail = _level(m, self.level, self.depth, self.w.push, self.r.pop)
        m.d.comb += [self.w.room.eq(room), self.r.avail.eq(avail)]
        return m


__all__ = ["CmdPush", "CmdPop", "TokenPush", "TokenPop", "CommandQueue", "TokenQueue"]
