"""Issue / body / retire control shared by the load, compute and store modules.

Implements the module rules of ``docs/timing.md``:

* **issue** in the first cycle (not before the cycle after the previous retire) in which the
  head command is visible and, for each pop flag, a token is visible; the command and the
  tokens are popped in that cycle and ``start`` tells the module's execution unit to begin;
* **body**: the unit runs and raises ``body_last`` in its final body cycle (instructions with
  no body -- FINISH, NOP, empty DMAs -- go straight to retire, flagged by ``zero_body``);
* **retire** in the first cycle after the body in which every token queue the instruction
  pushes to has room; the pushes happen in that cycle.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from vta_hw.rtl.queues import TokenPop, TokenPush


class IssueControl(wiring.Component):
    """The issue/retire state machine of one module.

    Members
    -------
    cmd_valid : In(1)     the module's command queue has a visible head
    cmd_pop : Out(1)      pop the head (the issue cycle)
    pop_prev, pop_next, push_prev, push_next : In(1)   dependency flags of the head command
    zero_body : In(1)     the head command has no body (B = 0)
    prev_in, next_in : Out(TokenPop)    token queues this module pops (prev / next module)
    prev_out, next_out : Out(TokenPush) token queues this module pushes
    start : Out(1)        issue of an instruction with a body: the unit latches the head command
    body_last : In(1)     the unit's final body cycle
    issue : Out(1)        any issue this cycle
    retire : Out(1)       retire this cycle (the pushes happen now)
    busy : Out(1)         an instruction is issued and not yet retired
    active : Out(1)       issuing, in a body, or retiring this cycle (for no-progress checks)
    """

    def __init__(self):
        super().__init__({
            "cmd_valid": In(1), "cmd_pop": Out(1),
            "pop_prev": In(1), "pop_next": In(1), "push_prev": In(1), "push_next": In(1),
            "zero_body": In(1),
            "prev_in": Out(TokenPop()), "next_in": Out(TokenPop()),
            "prev_out": Out(TokenPush()), "next_out": Out(TokenPush()),
            "start": Out(1), "body_last": In(1),
            "issue": Out(1), "retire": Out(1), "busy": Out(1), "active": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        push_prev = Signal()
        push_next = Signal()
        can_issue = (self.cmd_valid & (~self.pop_prev | self.prev_in.avail)
                     & (~self.pop_next | self.next_in.avail))
        can_retire = ((~push_prev | self.prev_out.room) & (~push_next | self.next_out.room))
        with m.FSM(name="state"):
            with m.State("IDLE"):
                with m.If(can_issue):
                    m.d.comb += [self.cmd_pop.eq(1), self.issue.eq(1), self.active.eq(1),
                                 self.prev_in.pop.eq(self.pop_prev),
                                 self.next_in.pop.eq(self.pop_next)]
                    m.d.sync += [push_prev.eq(self.push_prev), push_next.eq(self.push_next)]
                    with m.If(self.zero_body):
                        m.next = "RETIRE"
                    with m.Else():
                        m.d.comb += self.start.eq(1)
                        m.next = "BODY"
            with m.State("BODY"):
                m.d.comb += [self.busy.eq(1), self.active.eq(1)]
                with m.If(self.body_last):
                    m.next = "RETIRE"
            with m.State("RETIRE"):
                m.d.comb += self.busy.eq(1)
                with m.If(can_retire):
                    m.d.comb += [self.retire.eq(1), self.active.eq(1),
                                 self.prev_out.push.eq(push_prev),
                                 self.next_out.push.eq(push_next)]
                    m.next = "IDLE"
        return m


def token_port(flag: str) -> str:
    """The IssueControl (and module) member a dependency flag drives: ``pop_prev`` pops
    ``prev_in``, ``push_next`` pushes ``next_out`` and so on."""
    op, side = flag.split("_")
    return f"{side}_{'in' if op == 'pop' else 'out'}"


__all__ = ["IssueControl", "token_port"]
