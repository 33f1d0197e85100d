"""Telling the user what a long, silent wait is for (a Verilator build, ...), on stderr.

On a terminal, ``waiting(message)`` shows the message with a spinner and the seconds elapsed,
redrawn by a background thread, and ends with the total time.  When stderr is not a terminal
(a log, CI, a test capturing output) it writes the message once, as one line, and nothing
else: no spinner frames in a log file.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

_FRAMES = "|/-\\"


@contextmanager
def waiting(message: str, *, stream: TextIO | None = None, interval: float = 0.25
            ) -> Iterator[None]:
    """Announce ``message`` for the duration of the ``with`` block (see the module doc)."""
    out = stream if stream is not None else sys.stderr
    tty = bool(getattr(out, "isatty", lambda: False)())
    if not tty:
        print(f"{message}...", file=out, flush=True)
        yield
        return
    t0 = time.monotonic()
    stop = threading.Event()

    def draw() -> None:
        i = 0
        while not stop.wait(interval):
            i += 1
            out.write(f"\r{_FRAMES[i % len(_FRAMES)]} {message}... "
                      f"{time.monotonic() - t0:.0f} s\x1b[K")
            out.flush()

    out.write(f"\r{_FRAMES[0]} {message}...\x1b[K")
    out.flush()
    spinner = threading.Thread(target=draw, name="vta-progress", daemon=True)
    spinner.start()
    ok = False
    try:
        yield
        ok = True
    finally:
        stop.set()
        spinner.join()
        result = "done" if ok else "failed"
        out.write(f"\r{message}: {result} in {time.monotonic() - t0:.1f} s\x1b[K\n")
        out.flush()


class Bar:
    """A progress bar over ``total`` items on ``stream`` (stderr): on a terminal one line
    redrawn as items finish (``[#####.....] 3/50 note, elapsed``); elsewhere one line per
    item, so a log shows each."""

    def __init__(self, total: int, label: str, *, stream: TextIO | None = None,
                 width: int = 30) -> None:
        self.total = max(0, total)
        self.label = label
        self.done = 0
        self.width = width
        self.out = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.out, "isatty", lambda: False)())
        self.t0 = time.monotonic()

    def advance(self, note: str = "") -> None:
        self.done += 1
        elapsed = time.monotonic() - self.t0
        if self.tty:
            fill = self.width * self.done // max(1, self.total)
            self.out.write(f"\r{self.label} [{'#' * fill}{'.' * (self.width - fill)}] "
                           f"{self.done}/{self.total} {note} {elapsed:.0f} s\x1b[K")
            if self.done >= self.total:
                self.out.write("\n")
        else:
            self.out.write(f"{self.label}: {self.done}/{self.total} {note} "
                           f"({elapsed:.0f} s)\n")
        self.out.flush()


__all__ = ["waiting", "Bar"]
