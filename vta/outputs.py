"""The output paths of one CLI command: all checked before any work, written atomically after it.

A command declares every output first, inside ``with Outputs() as out:``:

* ``out.file(path, "--stats")`` checks at once that the file can be written: the path is not
  empty and not a directory, its directory exists, is a directory and is writable, it is not
  named by another output of the same command, and (``suffixes=``) its extension is one the
  writer supports.  It returns a *staging* path next to the target (same extension, so a
  plotting library still infers the format); the command writes there.
* ``out.directory(path, "-o")`` checks a directory (an existing one, or one that can be
  created: its nearest existing ancestor is a writable directory) and returns a fresh staging
  directory to fill.

A mistake therefore becomes one ``error:`` line (an :class:`OutputPathError`) before anything
runs.  When the ``with`` block ends normally every staged output is renamed into place (a
directory is created, or merged into the existing one); when it raises, every staged file and
directory is deleted.  So a failed, refused or interrupted command leaves no partial file and
no empty directory behind.  Special files (``/dev/stdout``, a named pipe) are written in place
at commit: renaming over them would replace the device node.

Long flows whose logs the user watches and keeps on failure (the FPGA flow) check their
directory with :func:`check_directory` and create it themselves once their own checks pass.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from vta_hw.errors import VtaError

PLOT_SUFFIXES = (".png", ".svg", ".pdf", ".jpg", ".jpeg")
"""Extensions the plot writers (matplotlib's Agg, SVG and PDF backends) produce without extra
programs; pgf/eps need LaTeX or Ghostscript, so they are not offered."""


class OutputPathError(VtaError):
    """An output path cannot be written (missing directory, a file where a directory is
    expected, an unsupported extension, ...); the message names the option."""


def _show(p: Path | str) -> str:
    return repr(str(p))


def _writable_dir(d: Path, what: str, target: str) -> None:
    if not os.access(d, os.W_OK | os.X_OK):
        raise OutputPathError(f"{what} {_show(target)}: directory {_show(d)} is not writable")


def _nonempty(path: str | os.PathLike, what: str) -> Path:
    if str(path) == "":
        raise OutputPathError(f"{what}: the path is empty")
    return Path(path)


def check_file(path: str | os.PathLike, what: str,
               suffixes: tuple[str, ...] | None = None) -> Path:
    """Raise OutputPathError unless ``path`` can be written as a file; returns it as a Path."""
    p = _nonempty(path, what)
    if p.is_dir():
        raise OutputPathError(f"{what} {_show(p)} is a directory; expected a file name")
    parent = p.parent
    if not parent.exists():
        raise OutputPathError(f"{what} {_show(p)}: directory {_show(parent)} does not exist")
    if not parent.is_dir():
        raise OutputPathError(f"{what} {_show(p)}: {_show(parent)} is not a directory")
    _writable_dir(parent, what, str(p))
    if suffixes is not None and p.suffix.lower() not in suffixes:
        raise OutputPathError(f"{what} {_show(p)}: unsupported extension "
                              f"{p.suffix or '(none)'!r}; use one of {', '.join(suffixes)}")
    return p


def check_directory(path: str | os.PathLike, what: str) -> Path:
    """Raise OutputPathError unless ``path`` is, or can be created as, a writable directory."""
    p = _nonempty(path, what)
    if p.exists():
        if not p.is_dir():
            raise OutputPathError(f"{what} {_show(p)} is a file; expected a directory")
        _writable_dir(p, what, str(p))
        return p
    ancestor = p.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputPathError(f"{what} {_show(p)}: {_show(ancestor)} is a file, so the "
                              "directory cannot be created")
    _writable_dir(ancestor, what, str(p))
    return p


def _is_special(p: Path) -> bool:
    """An existing target that is not a regular file (a device, a pipe): written in place."""
    try:
        return not stat.S_ISREG(p.stat().st_mode)
    except FileNotFoundError:
        return False


def _merge(src: Path, dst: Path) -> None:
    """Move the contents of directory ``src`` into existing directory ``dst`` (files replace)."""
    for entry in src.iterdir():
        target = dst / entry.name
        if entry.is_dir() and target.is_dir():
            _merge(entry, target)
        elif target.is_dir():
            raise OutputPathError(f"cannot write {_show(target)}: a directory of that name "
                                  "is in the way")
        else:
            os.replace(entry, target)


class Outputs:
    """Every output of one command; see the module docstring for the protocol."""

    def __init__(self) -> None:
        self._files: list[tuple[Path, Path]] = []  # (staging, target)
        self._diagnostics: set[Path] = set()  # staging paths kept when the work fails
        self._dirs: list[tuple[Path, Path]] = []
        self._claimed: dict[str, str] = {}  # real target path -> option that named it

    def _claim(self, p: Path, what: str) -> None:
        key = os.path.realpath(p)
        if key in self._claimed:
            raise OutputPathError(f"{self._claimed[key]} and {what} both name {_show(p)}")
        self._claimed[key] = what

    def file(self, path: str | os.PathLike | None, what: str, *,
             suffixes: tuple[str, ...] | None = None, diagnostic: bool = False) -> Path | None:
        """Check output file ``path`` now; returns the staging path to write (None for None).

        A ``diagnostic`` output (a waveform) is also kept when the work fails with a
        :class:`VtaError` (a deadlock, a timeout), if its writer finished it: that is when it
        is wanted most.  Other failures (a crash, Ctrl-C) discard it like every output.
        """
        if path is None:
            return None
        p = check_file(path, what, suffixes)
        self._claim(p, what)
        target = Path(os.path.realpath(p))  # through a symlink: replace what it points to
        if _is_special(target):
            staging = Path(tempfile.mkdtemp(prefix="vta-out-")) / f"staged{p.suffix}"
        else:
            fd, name = tempfile.mkstemp(prefix=f".{p.name}.", suffix=f".tmp{p.suffix}",
                                        dir=target.parent)
            os.close(fd)
            os.unlink(name)  # only the name is reserved; the writer creates the file
            staging = Path(name)
        self._files.append((staging, target))
        if diagnostic:
            self._diagnostics.add(staging)
        return staging

    def directory(self, path: str | os.PathLike | None, what: str) -> Path | None:
        """Check output directory ``path`` now; returns an empty staging directory to fill."""
        if path is None:
            return None
        p = check_directory(path, what)
        self._claim(p, what)
        ancestor = p if p.exists() else p.parent
        while not ancestor.exists():
            ancestor = ancestor.parent
        staging = Path(tempfile.mkdtemp(prefix=f".{p.name or 'out'}.", suffix=".tmp",
                                        dir=ancestor))
        self._dirs.append((staging, p))
        return staging

    # ------------------------------------------------------------------ commit / discard
    def commit(self) -> None:
        """Move every staged output into place (called when the ``with`` block succeeds)."""
        for staging, target in self._files:
            if staging.exists():  # else the command chose not to write this one
                self._commit_file(staging, target)
        for staging, target in self._dirs:
            if target.is_dir():
                _merge(staging, target)
                shutil.rmtree(staging, ignore_errors=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staging, target)
        self._files.clear()
        self._dirs.clear()
        self._diagnostics.clear()

    @staticmethod
    def _commit_file(staging: Path, target: Path) -> None:
        if _is_special(target):
            with open(target, "wb") as f:
                f.write(staging.read_bytes())
            shutil.rmtree(staging.parent, ignore_errors=True)
        else:
            os.replace(staging, target)

    def discard(self) -> None:
        """Delete every staged output (called when the ``with`` block raises)."""
        for staging, target in self._files:
            if _is_special(target):
                shutil.rmtree(staging.parent, ignore_errors=True)
            elif staging.is_dir():
                shutil.rmtree(staging, ignore_errors=True)
            else:
                staging.unlink(missing_ok=True)
        for staging, _ in self._dirs:
            shutil.rmtree(staging, ignore_errors=True)
        self._files.clear()
        self._dirs.clear()
        self._diagnostics.clear()

    def __enter__(self) -> Outputs:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            try:
                self.commit()
            except BaseException:
                self.discard()
                raise
            return
        if isinstance(exc, VtaError):
            kept = [(s, t) for s, t in self._files if s in self._diagnostics and s.exists()]
            for staging, target in kept:
                self._commit_file(staging, target)
                print(f"kept for the failed run: {target}", file=sys.stderr)
        self.discard()


def writes_outputs(command: Callable[[argparse.Namespace, Outputs], int]
                   ) -> Callable[[argparse.Namespace], int]:
    """Decorator for a CLI command ``f(args, outs)``: ``outs`` is an :class:`Outputs` that is
    committed when ``f`` returns and discarded when it raises."""
    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        with Outputs() as outs:
            return command(args, outs)
    return run


__all__ = ["Outputs", "writes_outputs", "OutputPathError", "PLOT_SUFFIXES", "check_file",
           "check_directory"]
