"""The pipelined schedule of a batch: the accelerator on sample i while the host runs i-1.

The graph executor runs a batch one sample after another, and the simulator is not a
concurrent device, so the *measured* wall time is sequential.  What a deployment would
see is modelled here from each sample's stages, in the order its steps ran:

* ``host`` stages: host steps, and the packing (unpacking) of a program's feeds (results)
  into (out of) their blocked layouts -- durations *measured* on this host;
* ``accelerator`` stages: one per program launch -- copy the feeds in over the device's
  link, run, copy the results out; durations *modelled*: the run's cycles at the config's
  ``target_clock_mhz`` and each copy at the link's ``latency + bytes / bandwidth``
  (:mod:`runtime.links`).  The copies hold the accelerator: the module's programs share one
  activation arena (no double buffering), so the next sample's inputs cannot enter device
  memory while a program runs.  The link is therefore not a resource of its own.

:func:`list_schedule` places the stages of every sample on the two resources: a stage
starts once its sample's previous stage has ended (each sample's own steps stay in order)
and its resource is free; among the stages that could start, the earliest goes first (ties:
the lower sample).  That is a non-delay list schedule: it never leaves both resources idle
while a stage waits, so the batch takes at most the sequential time, and at least the
busiest resource's total.  :func:`check_schedule` verifies exactly those properties on any
schedule (a schedule that ignored a sample's own order, or ran two stages on one resource
at once, is refused), and the executor checks its own schedule with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vta_hw.errors import VtaError

HOST, ACCELERATOR = "host", "accelerator"
RESOURCES = (HOST, ACCELERATOR)
_EPS = 1e-12  # seconds: float slack when comparing the ends and starts of stages


class ScheduleError(VtaError, RuntimeError):
    """A schedule that breaks a sample's order or overlaps two stages on one resource."""


@dataclass(frozen=True)
class Stage:
    """One stage of one sample: ``seconds`` on ``resource`` (measured on the host, modelled
    on the accelerator).  ``events``: its trace slices, ``ts`` (microseconds) relative to
    the stage's start."""

    name: str
    resource: str
    seconds: float
    events: tuple[dict[str, Any], ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if self.resource not in RESOURCES:
            raise ScheduleError(f"stage {self.name!r}: unknown resource {self.resource!r}; "
                                f"expected one of {RESOURCES}")
        if not self.seconds >= 0:
            raise ScheduleError(f"stage {self.name!r}: duration {self.seconds} s is negative")


@dataclass(frozen=True)
class Slot:
    """Stage ``index`` of sample ``sample``, placed at ``start`` seconds."""

    sample: int
    index: int
    stage: Stage
    start: float

    @property
    def end(self) -> float:
        return self.start + self.stage.seconds


def list_schedule(samples: Sequence[Sequence[Stage]]) -> tuple[Slot, ...]:
    """The non-delay list schedule of every sample's stage chain (see the module
    docstring), in the order the stages start."""
    free = dict.fromkeys(RESOURCES, 0.0)
    ready = [0.0] * len(samples)
    nxt = [0] * len(samples)
    out: list[Slot] = []
    while True:
        best: tuple[float, int] | None = None
        for k, chain in enumerate(samples):
            if nxt[k] < len(chain):
                start = max(ready[k], free[chain[nxt[k]].resource])
                if best is None or start < best[0]:
                    best = (start, k)
        if best is None:
            return tuple(out)
        start, k = best
        slot = Slot(k, nxt[k], samples[k][nxt[k]], start)
        out.append(slot)
        ready[k] = free[slot.stage.resource] = slot.end
        nxt[k] += 1


def sequential_schedule(samples: Sequence[Sequence[Stage]]) -> tuple[Slot, ...]:
    """Every stage of every sample one after the other (no overlap): the executor's
    measured order, and the baseline the pipelined batch is compared with."""
    out, t = [], 0.0
    for k, chain in enumerate(samples):
        for j, st in enumerate(chain):
            out.append(Slot(k, j, st, t))
            t += st.seconds
    return tuple(out)


def check_schedule(samples: Sequence[Sequence[Stage]], slots: Sequence[Slot]) -> None:
    """Raise ScheduleError unless ``slots`` places each stage of ``samples`` exactly once,
    after its sample's previous stage, never two at once on one resource, within the
    bounds of a non-delay schedule (at least the busiest resource's total, at most the
    sequential total)."""
    placed = {(s.sample, s.index): s for s in slots}
    want = {(k, j) for k, chain in enumerate(samples) for j in range(len(chain))}
    if len(placed) != len(slots) or set(placed) != want:
        raise ScheduleError(f"the schedule places {len(slots)} stages ({len(placed)} "
                            f"distinct), the batch has {len(want)}")
    for (k, j), s in placed.items():
        if s.stage != samples[k][j]:
            raise ScheduleError(f"sample {k} stage {j}: the schedule has {s.stage.name!r}, "
                                f"the sample {samples[k][j].name!r}")
        if s.start < -_EPS:
            raise ScheduleError(f"sample {k} {s.stage.name!r} starts before 0")
        if j and s.start < placed[k, j - 1].end - _EPS:
            prev = placed[k, j - 1]
            raise ScheduleError(f"sample {k}: {s.stage.name!r} starts at {s.start:.9f} s, "
                                f"before its previous stage {prev.stage.name!r} ends at "
                                f"{prev.end:.9f} s")
    for r in RESOURCES:
        on = sorted((s for s in slots if s.stage.resource == r), key=lambda s: s.start)
        for a, b in zip(on, on[1:], strict=False):
            if b.start < a.end - _EPS:
                raise ScheduleError(f"{r}: sample {b.sample} {b.stage.name!r} starts at "
                                    f"{b.start:.9f} s while sample {a.sample} "
                                    f"{a.stage.name!r} runs until {a.end:.9f} s")
    span = makespan(slots)
    busiest = max(busy_seconds(slots).values(), default=0.0)
    total = sum(s.stage.seconds for s in slots)
    if not busiest - _EPS <= span <= total * (1 + 1e-9) + _EPS:
        raise ScheduleError(f"the batch takes {span:.9f} s, outside [{busiest:.9f}, "
                            f"{total:.9f}] s (busiest resource, sequential)")


def makespan(slots: Sequence[Slot]) -> float:
    return max((s.end for s in slots), default=0.0)


def busy_seconds(slots: Sequence[Slot]) -> dict[str, float]:
    """Seconds each resource is busy over the batch."""
    out = dict.fromkeys(RESOURCES, 0.0)
    for s in slots:
        out[s.stage.resource] += s.stage.seconds
    return out


def pipeline_totals(samples: Sequence[Sequence[Stage]], slots: Sequence[Slot]
                    ) -> dict[str, Any]:
    """The profile's modelled figures: ``latency_ms`` (one sample end to end, alone: the
    mean of its stages' sum), ``sequential_ms`` and ``pipelined_ms`` (the batch without and
    with overlap), ``throughput_samples_per_s`` (pipelined) and ``busy_ms`` per resource."""
    seq = sum(st.seconds for chain in samples for st in chain)
    span = makespan(slots)
    n = len(samples)
    return {"latency_ms": seq / n * 1e3 if n else 0.0, "sequential_ms": seq * 1e3,
            "pipelined_ms": span * 1e3,
            "throughput_samples_per_s": n / span if span > 0 else 0.0,
            "busy_ms": {r: v * 1e3 for r, v in busy_seconds(slots).items()}}


def trace_events(slots: Sequence[Slot]) -> list[dict[str, Any]]:
    """Each slot's trace slices moved to its start (microseconds), sample-tagged."""
    out = []
    for s in slots:
        us = s.start * 1e6
        out += [{**ev, "ts": us + ev["ts"], "args": {"sample": s.sample, **ev.get("args", {})}}
                for ev in s.stage.events]
    return out


__all__ = ["Stage", "Slot", "ScheduleError", "HOST", "ACCELERATOR", "RESOURCES",
           "list_schedule", "sequential_schedule", "check_schedule", "makespan",
           "busy_seconds", "pipeline_totals", "trace_events"]
