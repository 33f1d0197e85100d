"""Files written whole or not at all.

Every artifact the toolkit writes for later reading (a compiled module, a cached synthesis
report, a design-space point, a calibration table, a plot) goes through :func:`atomic_path`:
it is written under a temporary name in its own directory and renamed into place when
complete, so a crash, a full disk or an interrupt never leaves a half-written file that a
later run would read (a rename within one directory is atomic on POSIX and Windows).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside ``path`` for the block to write; renamed onto ``path`` when
    the block succeeds, removed when it raises.  ``suffix``: the temporary name's ending
    (a plotting library picks the format from it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
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


__all__ = ["atomic_path", "write_atomic"]
