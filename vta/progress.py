"""Telling the user what a long wait is for, and how far along it is, on stderr.

On a terminal, ``waiting(message)`` shows the message with a spinner and the seconds elapsed,
redrawn by a background thread, and ends with the total time.  When stderr is not a terminal
(a log, CI, a test capturing output) it writes the message once, as one line, and nothing
else: no spinner frames in a log file.

:class:`ProgressBar` counts work whose size is known (the trials of a tuning run): on a
terminal one line redrawn as work is done -- a bar, done/total, a status the caller sets and
the time left at the rate so far; lines the caller prints with :meth:`ProgressBar.note`
appear above it.  Off a terminal only the notes are written.
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


def _clock(seconds: float) -> str:
    """``m:ss``, or ``h:mm:ss`` from an hour."""
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


class ProgressBar:
    """A count of ``total`` units of work (module docstring).

    ``advance(n)`` counts work done now (it sets the rate that predicts the time left);
    ``skip(n)`` counts work found already done (a resumed run: not timed); ``status`` is
    the text after the count.  Use it as a context manager, or call :meth:`close`."""

    def __init__(self, total: int, *, unit: str = "trials", stream: TextIO | None = None,
                 width: int = 24) -> None:
        self.total = max(0, int(total))
        self.unit = unit
        self.width = width
        self.done = 0
        self.status = ""
        self._out = stream if stream is not None else sys.stderr
        self._tty = bool(getattr(self._out, "isatty", lambda: False)())
        self._timed = 0  # units done since the clock started
        self._t0: float | None = None

    # ------------------------------------------------------------------ counting
    def skip(self, n: int) -> None:
        """``n`` units were already done (not timed)."""
        self.done += n
        self._draw()

    def advance(self, n: int = 1, status: str | None = None) -> None:
        """``n`` units done now; ``status`` replaces the status text."""
        if self._t0 is None:
            self._t0 = time.monotonic()
        self.done += n
        self._timed += n
        if status is not None:
            self.status = status
        self._draw()

    def start_clock(self) -> None:
        """Time from now (call before the first unit, so that it counts in the rate)."""
        if self._t0 is None:
            self._t0 = time.monotonic()

    def set_status(self, status: str) -> None:
        self.status = status
        self._draw()

    def seconds_left(self) -> float | None:
        """At the rate of the units timed so far; None before there is one."""
        if self._t0 is None or self._timed == 0:
            return None
        rate = (time.monotonic() - self._t0) / self._timed
        return max(0, self.total - self.done) * rate

    def line(self) -> str:
        """The bar as text: ``[#####-----] 12/40 trials  <status>  ~0:31 left``."""
        frac = min(1.0, self.done / self.total) if self.total else 1.0
        fill = int(round(frac * self.width))
        left = self.seconds_left()
        parts = [f"[{'#' * fill}{'-' * (self.width - fill)}] {self.done}/{self.total} "
                 f"{self.unit}"]
        if self.status:
            parts.append(self.status)
        if left is not None and self.done < self.total:
            parts.append(f"~{_clock(left)} left")
        return "  ".join(parts)

    # ------------------------------------------------------------------ output
    def note(self, text: str) -> None:
        """Print ``text`` as a line of its own (above the bar on a terminal)."""
        if self._tty:
            self._out.write(f"\r{text}\x1b[K\n")
            self._draw()
        else:
            print(text, file=self._out, flush=True)

    def _draw(self) -> None:
        if self._tty:
            self._out.write(f"\r{self.line()}\x1b[K")
            self._out.flush()

    def close(self) -> None:
        """End the bar's line (a terminal keeps the final count)."""
        if self._tty:
            self._out.write(f"\r{self.line()}\x1b[K\n")
            self._out.flush()
            self._tty = False

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["ProgressBar", "waiting"]
