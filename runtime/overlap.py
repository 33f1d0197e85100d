"""Two samples in flight: the accelerator works on one while the host runs the other.

Why: a batch run one sample after another leaves the host idle while the accelerator (or
its simulation) runs a program, and the accelerator idle while the host packs, unpacks
and runs its CPU steps.  Here each sample is a *job*: a generator that runs the sample's
host work and, for every accelerator program, yields a request and receives its result.
:func:`run_overlapped` serves the requests on one worker thread (the accelerator: a
request is one serialized unit -- copy in, launch, synchronize, copy out -- so the device
is never used from two threads, and its one activation arena holds one program at a
time) in the order they were made, while the calling thread advances the other job in
flight.  :func:`run_sequential` drives the same jobs one after another on the calling
thread: the reference the overlapped run must match exactly.

A job is started with its *slot* (0 or 1): the host buffers it may use, distinct from
those of the other job in flight.  The worker thread lives only for one call (a
``with ThreadPoolExecutor``): nothing outlives a run.  An error in a request (a
:class:`~runtime.device.DeviceError`) or in a job is raised in the caller as it is, after
the requests already submitted have finished and the other jobs are closed.

The interpreter lock: the simulator is Python and holds the GIL while it runs; a host
kernel (a ctypes call) releases it, but on return waits for it up to the interpreter's
switch interval (5 ms by default) -- with tens of kernel calls per sample that waiting
ate the overlap (a batch ran slower overlapped than sequentially).  While jobs are in
flight the switch interval is lowered to ``switch_interval`` (0.5 ms) and restored after.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
Job = Generator[Any, Any, T]
"""Yields accelerator requests, receives each one's result, returns the sample's value."""


def run_sequential(starts: Sequence[Callable[[int], Job[T]]],
                   serve: Callable[[Any], Any]) -> list[T]:
    """Each job to its end in turn (slot 0), its requests served on this thread."""
    out: list[T] = []
    for start in starts:
        gen = start(0)
        try:
            req = next(gen)
            while True:
                req = gen.send(serve(req))
        except StopIteration as done:
            out.append(done.value)
    return out


SWITCH_INTERVAL = 0.0005
"""Seconds: the interpreter's switch interval while jobs are in flight (see above)."""


def run_overlapped(starts: Sequence[Callable[[int], Job[T]]],
                   serve: Callable[[Any], Any], slots: int = 2,
                   switch_interval: float | None = SWITCH_INTERVAL) -> list[T]:
    """The jobs with up to ``slots`` in flight, their requests served in order by one
    worker thread while this thread advances the job that is not waiting;
    ``switch_interval``: the interpreter's during the run (None: left as it is)."""
    before = sys.getswitchinterval()
    if switch_interval is not None:
        sys.setswitchinterval(switch_interval)
    try:
        return _drive(starts, serve, slots)
    finally:
        sys.setswitchinterval(before)


def _drive(starts: Sequence[Callable[[int], Job[T]]], serve: Callable[[Any], Any],
           slots: int) -> list[T]:
    results: list[Any] = [None] * len(starts)
    free = list(range(slots))
    flight: deque[tuple[int, int, Job[T], Future[Any]]] = deque()
    waiting: Job[T] | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="accelerator") as pool:

        def advance(k: int, slot: int, gen: Job[T], send: Any, first: bool) -> None:
            try:
                req = next(gen) if first else gen.send(send)
            except StopIteration as done:
                results[k] = done.value
                free.append(slot)
                free.sort()
                return
            flight.append((k, slot, gen, pool.submit(serve, req)))

        try:
            nxt = 0
            while nxt < len(starts) or flight:
                while free and nxt < len(starts):
                    slot = free.pop(0)
                    advance(nxt, slot, starts[nxt](slot), None, True)
                    nxt += 1
                if not flight:
                    continue
                k, slot, waiting, fut = flight.popleft()
                res = fut.result()  # the worker's exception, raised here as it is
                gen, waiting = waiting, None
                advance(k, slot, gen, res, False)
        except BaseException:
            for _, _, _, fut in flight:
                fut.cancel()
            for _, _, gen, fut in flight:
                if not fut.cancelled():
                    fut.exception()  # wait: the device is idle when the error surfaces
                gen.close()
            if waiting is not None:
                waiting.close()
            raise
    return results


__all__ = ["run_overlapped", "run_sequential"]
