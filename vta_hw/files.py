"""Files written whole or not at all.

Every artifact the toolkit writes for later reading (a compiled module, a cached synthesis
report, a design-space point, a calibration table, a plot) goes through :func:`atomic_path`:
it is written under a temporary name in its own directory and renamed into place when
complete, so a crash, a full disk or an interrupt never leaves a half-written file that a
later run would read (a rename within one directory is atomic on POSIX and Windows).
:func:`atomic_dir` does the same for a directory of files (a cached FPGA build), and
:func:`locked` makes a second process that would produce the same artifact wait for the
first instead of duplicating its work.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def _create_beside(path: Path, infix: str, make: Callable[[Path], None]) -> Path:
    """Create a fresh dot-named temporary beside ``path`` with ``make`` (which must fail
    with ``FileExistsError`` on a taken name, as ``O_EXCL`` and ``mkdir`` do), and return
    it.  Created by ``open``/``mkdir`` themselves, so the user's umask gives it the
    permissions any file they write has -- not ``tempfile``'s owner-only ones, and without
    reading the umask, which can only be read by setting it for the whole process."""
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}{infix}"
        try:
            make(tmp)
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path} after 100 tries")


def _new_file(tmp: Path) -> None:
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))


def _new_dir(tmp: Path) -> None:
    os.mkdir(tmp, 0o777)


@contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside ``path`` for the block to write; renamed onto ``path`` when
    the block succeeds, removed when it raises.  ``suffix``: the temporary name's ending
    (a plotting library picks the format from it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_beside(path, suffix, _new_file)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` whole or not at all."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    return Path(path)


@contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary directory beside ``path`` for the block to fill; renamed onto ``path``
    when the block succeeds (replacing an older ``path``), removed when it raises.  A reader
    sees the whole directory or none of it; a killed writer leaves only a dot-named
    temporary directory, which no reader looks at."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_beside(path, "", _new_dir)
    try:
        yield tmp
        if path.exists():  # an older entry of the same name: set it aside, then drop it
            old = _create_beside(path, ".old", _new_dir)
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def locked(path: str | os.PathLike, on_wait: Callable[[], None] | None = None
           ) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the block, waiting for
    another process that holds it (``on_wait`` is called first, to say so).  A lock dies
    with its process, so a killed holder never leaves a stale lock behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


__all__ = ["atomic_path", "atomic_dir", "write_atomic", "locked"]
