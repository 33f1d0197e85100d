"""Arguments and input handling shared by several subcommands.

File parameters are declared with :func:`path_arg` (or the helpers built on it), which tags
the argparse action with what the path holds (``action.path_kind``, one of ``PATH_KINDS``).
The CLI fuzz test walks the parser and tries bad files in place of every tagged parameter,
so a new command is covered as soon as it declares its paths this way.
"""

from __future__ import annotations

import argparse
import io
import zipfile
import zlib
from pathlib import Path

import numpy as np

from vta_hw.config import PRESETS, HwConfig, resolve
from vta_hw.errors import VtaError

PATH_KINDS = {
    "in:bundle": "a program bundle (.vtab)",
    "in:program": "a program bundle (.vtab) or a compiled module (.vtam)",
    "in:npz": "numpy arrays (.npz)",
    "in:asm": "assembly text (.s)",
    "in:words": "raw instruction words (.bin) or a bundle",
    "in:config": "a hardware config (JSON)",
    "in:onnx": "an ONNX model (.onnx)",
    "in:tuning-log": "a tuning log (.jsonl, written by vta tune)",
    "in:raw": "raw bytes (any content)",
    "out:file": "a file to write",
    "out:plot": "a plot to write (.png, .svg, .pdf, ...)",
    "out:dir": "a directory to create or fill",
}


class InputFileError(VtaError):
    """A file named on the command line is missing, unreadable, empty or of the wrong kind."""


class UsageError(VtaError):
    """An option has a value the command cannot use (a negative size, ...)."""


def path_arg(p: argparse.ArgumentParser | argparse._MutuallyExclusiveGroup, *flags: str,
             kind: str, **kwargs) -> argparse.Action:
    """``add_argument`` for a file parameter, tagged with ``kind`` (a key of PATH_KINDS)."""
    if kind not in PATH_KINDS:
        raise ValueError(f"unknown path kind {kind!r}")
    action = p.add_argument(*flags, **kwargs)
    action.path_kind = kind  # type: ignore[attr-defined]
    return action


def add_output_arg(p: argparse.ArgumentParser, help: str, *, kind: str = "out:file",
                   required: bool = False, default: str | None = None) -> argparse.Action:
    """The one spelling of an output path: ``-o/--output``."""
    return path_arg(p, "-o", "--output", kind=kind, required=required, default=default,
                    metavar="DIR" if kind == "out:dir" else "FILE", help=help)


def add_config_args(p: argparse.ArgumentParser) -> None:
    """``--preset P | --config F``: every command that takes a config accepts either."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--preset", help=f"hardware preset ({', '.join(PRESETS)}; default "
                                    "'default')")
    path_arg(g, "--config", kind="in:config", metavar="FILE",
             help="hardware config JSON file (`vta config show` output is accepted)")


def config_from_args(args: argparse.Namespace) -> HwConfig:
    return resolve(getattr(args, "preset", None), getattr(args, "config", None))


def config_given(args: argparse.Namespace) -> bool:
    return getattr(args, "preset", None) is not None or getattr(args, "config", None) is not None


def _whole_number(text: str, least: int) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < least:
        raise argparse.ArgumentTypeError(f"{text} must be at least {least}")
    return v


def positive_int(text: str) -> int:
    """argparse type of counts such as ``--max-cycles``: a whole number >= 1."""
    return _whole_number(text, 1)


def non_negative_int(text: str) -> int:
    """argparse type of counts where 0 means none, such as ``--workers`` (0: in this
    process) or ``--tune-trials``: a whole number >= 0."""
    return _whole_number(text, 0)


def positive_seconds(text: str) -> float:
    """argparse type of time limits such as ``--timeout``: a number of seconds > 0."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"{text} must be positive")
    return v


def scheduler_address(text: str) -> str:
    """argparse type of ``--dask``: a non-empty scheduler address (``tcp://host:port``)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("the scheduler address is empty (tcp://host:port)")
    return text


def add_runner_args(p: argparse.ArgumentParser, *, title: str, workers_default: int | None,
                    workers_help: str, timeout_default: float, timeout_help: str,
                    dask_help: str) -> None:
    """Where a command's jobs run, the options ``compiler.autotune.measure.make_runner``
    takes: ``--workers N | --dask ADDRESS`` (mutually exclusive) and ``--timeout S``.

    One declaration for ``vta tune`` and ``vta dse``, so a bad value (``--workers -1``,
    ``--timeout 0``, both ``--workers`` and ``--dask``) is refused by argparse the same way
    in both (one ``error:`` line, exit 2); each command keeps its own defaults and help.
    """
    g = p.add_argument_group(title, "--workers or --dask, not both")
    one = g.add_mutually_exclusive_group()
    # The default goes in as text, which argparse converts like a typed value: an int
    # default would be the very object `--workers 2` parses to (small ints are shared), and
    # argparse, which tells a given option from a default by identity, would then let
    # `--workers 2 --dask ADDRESS` through.
    one.add_argument("--workers", type=non_negative_int, metavar="N", help=workers_help,
                     default=None if workers_default is None else str(workers_default))
    one.add_argument("--dask", type=scheduler_address, metavar="ADDRESS", help=dask_help)
    g.add_argument("--timeout", type=positive_seconds, default=timeout_default, metavar="S",
                   help=timeout_help)


def read_input(path: str, what: str, *, text: bool) -> bytes | str:
    """The contents of input file ``path``: an error names ``what`` it should have been when it
    is missing, a directory, unreadable, empty or (``text``) not UTF-8."""
    p = Path(path)
    if str(path) == "":
        raise InputFileError(f"{what}: the path is empty")
    if p.is_dir():
        raise InputFileError(f"{what} {path!r} is a directory, not a file")
    if not p.exists():
        raise InputFileError(f"{what} {path!r} does not exist")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise InputFileError(f"{what} {path!r} cannot be read: {e.strerror}") from None
    if not data:
        raise InputFileError(f"{what} {path!r} is empty")
    if not text:
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputFileError(f"{what} {path!r} is not UTF-8 text (byte 0x{data[e.start]:02x} "
                             f"at offset {e.start})") from None


def read_npz(path: str, what: str) -> dict[str, np.ndarray]:
    """The arrays of npz file ``path``; InputFileError naming ``what`` if it is not one."""
    data = read_input(path, what, text=False)
    try:
        z = np.load(io.BytesIO(data), allow_pickle=False)
        if not hasattr(z, "files"):
            raise ValueError("a single .npy array, not an .npz archive")
        with z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error,
            NotImplementedError) as e:
        raise InputFileError(f"{what} {path!r} is not a readable .npz file "
                             f"({str(e) or type(e).__name__})") from None
    odd = sorted(k for k, v in arrays.items() if not isinstance(v, np.ndarray))
    if odd:
        raise InputFileError(f"{what} {path!r} is not a .npz file of arrays (members {odd} "
                             "are not .npy arrays)")
    return arrays


def prepare_device(spec: str, cfg: HwConfig, *, trace: bool = False) -> None:
    """Build (or find cached) the simulation model device ``spec`` needs, saying so on stderr.

    The first run of ``rtl`` or ``fpga:sim`` for a config compiles a Verilator model (tens of
    seconds); without this the command would sit silent.  Other devices need nothing.
    """
    from vta.progress import waiting

    kind, _, arg = spec.partition(":")
    if kind == "rtl" and arg in ("", "verilator"):
        from vta_hw.cosim import verilator

        if not verilator.is_built(cfg, trace=trace):
            with waiting(f"building the Verilator model of the core for config {cfg.name!r} "
                         f"(first run for this config, ~15-40 s; cached in "
                         f"{verilator.cache_root()})"):
                verilator.build(cfg, trace=trace)
    elif kind == "fpga" and arg == "sim":
        from vta_hw.soc import sim as soc_sim

        if not soc_sim.is_built(cfg):
            from vta_hw.cosim.verilator import cache_root

            with waiting(f"building the Verilator model of the SoC for config {cfg.name!r} "
                         f"(first run for this config, ~30 s; cached in {cache_root()})"):
                soc_sim.build(cfg)
