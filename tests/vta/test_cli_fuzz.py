"""The CLI fuzz test: every subcommand, every file parameter, every way a file can be wrong.

The commands and their file parameters come from the argparse parser itself (``vta.cli``
tags each path argument with ``path_kind``, see ``vta/commands/_common.py``), so a new
command or option is fuzzed as soon as it exists; ``test_every_path_argument_is_tagged``
catches a path option declared without the tag.  Each case puts one bad path in place of one
parameter, with valid values everywhere else, runs ``vta.cli.main`` in-process in an empty
working directory, and requires: exit status 2, exactly one ``error:`` line on stderr and no
traceback, within a time bound, and no file or directory left behind anywhere.

Bad inputs: missing, empty, truncated, random bytes, a directory, a valid file of another
kind.  Bad outputs: a missing directory, an empty path, a directory where a file goes (or a
file where a directory goes), a parent that is a file, an unsupported plot extension.

``test_devices_refuse_bad_programs`` runs a bundle of random instruction words (and one the
simulator rejects for a hazard) on every device, in a subprocess with a timeout: a device that
runs it forever fails the bound.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from compiler import Conv2d, default_schedule
from compiler.autotune.log import TuningRecord
from compiler.autotune.measure import MeasureResult
from compiler.autotune.workload import Workload
from tests.compiler.graph.lower_models import small_cnn
from tests.programs.corpus import CORPUS
from tests.runtime.models import build_cnn, images
from tests.toolchain import require_verilator
from vta.cli import build_parser, main
from vta.commands._common import PATH_KINDS
from vta_hw import isa
from vta_hw.bundle import Bundle, BundleBuilder
from vta_hw.config import TINY

ROOT = Path(__file__).resolve().parents[2]
CASE_SECONDS = 20  # in-process bound per case; every case that passes takes well under 1 s
DEVICE_SECONDS = 20  # per device run (subprocess: interpreter start + model start-up)

# Valid values for options that are not files, chosen for speed (a case whose output check
# failed to refuse would otherwise run the whole default-sized demo).
FAST_ARGS = {("demo",): ["--epochs", "1"],
             ("hw", "synth"): ["--no-progress"], ("hw", "bitstream"): ["--no-progress"],
             ("tune",): ["--trials", "2", "--workers", "0"], ("dse",): ["--workers", "0"]}

ASM = ("LOAD mem=inp y_size=1 x_size=4 x_stride=4 deps=push_next\n"
       "GEMM uop_end=1 iter_out=1 iter_in=1 deps=pop_prev\nFINISH\n")
SUFFIX = {"in:bundle": ".vtab", "in:asm": ".s", "in:words": ".bin", "in:config": ".json",
          "in:raw": ".raw", "in:program": ".vtam", "in:npz": ".npz", "in:onnx": ".onnx",
          "in:tuning-log": ".jsonl"}
OTHER_KIND = {"in:bundle": "in:config", "in:config": "in:bundle", "in:asm": "in:bundle",
              "in:words": "in:config", "in:program": "in:config", "in:npz": "in:bundle",
              "in:onnx": "in:config", "in:tuning-log": "in:config"}
INPUT_CASES = ("missing", "empty", "truncated", "random-bytes", "directory", "other-kind")
OUTPUT_CASES = ("missing-directory", "empty-path", "wrong-type", "parent-is-a-file",
                "unsupported-extension")


def leaf_commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """(command words, parser) of every runnable subcommand, found by walking subparsers."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield prefix, parser
        return
    for name, sub in subs[0].choices.items():
        yield from leaf_commands(sub, prefix + (name,))


def path_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if getattr(a, "path_kind", None)]


COMMANDS = dict(leaf_commands(build_parser()))


def _applies(kind: str, case: str) -> bool:
    """Whether ``case`` is a mistake for a parameter of ``kind`` (raw data accepts any bytes;
    a missing output directory is created, parents too; only plots constrain extensions)."""
    if kind == "in:raw" and case in ("truncated", "random-bytes", "other-kind"):
        return False
    if case == "missing-directory" and kind == "out:dir":
        return False
    return case != "unsupported-extension" or kind == "out:plot"


def _cases():
    for words, parser in COMMANDS.items():
        for action in path_actions(parser):
            kind = action.path_kind
            name = action.option_strings[-1] if action.option_strings else action.dest
            for case in (INPUT_CASES if kind.startswith("in:") else OUTPUT_CASES):
                if _applies(kind, case):
                    yield pytest.param(words, action.dest, case,
                                       id=f"{' '.join(words)}:{name}:{case}")


# ---------------------------------------------------------------------------- valid samples
@pytest.fixture(scope="module")
def valid_files(tmp_path_factory) -> dict[str, bytes]:
    """One valid file per input kind (tiny preset); the config is `vta config show`'s output;
    the program is a small compiled module and the npz its inputs."""
    d = tmp_path_factory.mktemp("valid")
    with contextlib.redirect_stdout(io.StringIO()) as shown:
        assert main(["config", "show", "--preset", "tiny"]) == 0
    module = build_cnn(TINY, size=4)
    npz = io.BytesIO()
    np.savez(npz, image=images(2, size=4))
    return {"in:bundle": CORPUS["gemm_basic"](TINY).save(d / "b.vtab").read_bytes(),
            "in:program": module.save(d / "m.vtam").read_bytes(),
            "in:npz": npz.getvalue(),
            "in:asm": ASM.encode(),
            "in:words": isa.encode_program(isa.assemble(ASM, TINY), TINY),
            "in:config": shown.getvalue().encode(),
            "in:raw": bytes(range(64)),
            "in:onnx": small_cnn().SerializeToString(),
            "in:tuning-log": _one_record_log()}


def _one_record_log() -> bytes:
    """A tuning log of one record (truncated, its only line is torn: no measurements)."""
    op = Conv2d(1, 4, 4, 4, 4, 3, 3, (1, 1), (1, 1), name="c")
    w = Workload.of(op, TINY)
    rec = TuningRecord.of(w, MeasureResult(default_schedule(w.op, TINY, w.options), 100))
    return (json.dumps(rec.to_json()) + "\n").encode()


def _value(action: argparse.Action, path: str) -> str:
    """How a path is spelled for ``action`` (``--data NAME=FILE`` takes a name too)."""
    return f"x={path}" if action.metavar == "NAME=FILE" else path


def _argv(words, parser, fuzzed: str | None, bad: str | None, inputs: Path,
          valid: dict[str, bytes]) -> list[str]:
    """Valid arguments for every required parameter, ``bad`` in place of ``fuzzed``."""
    positional: list[str] = []
    options: list[str] = []
    has_preset = any("--preset" in a.option_strings for a in parser._actions)
    for action in parser._actions:
        kind = getattr(action, "path_kind", None)
        if action.dest == fuzzed:
            value = _value(action, bad)
        elif kind and (action.required or not action.option_strings):
            if kind.startswith("in:"):
                f = inputs / f"valid{SUFFIX[kind]}"
                f.write_bytes(valid[kind])
                value = _value(action, str(f))
            else:
                value = "fresh_output_dir" if kind == "out:dir" else "fresh_output.bin"
        elif action.required and not set(action.option_strings) & set(
                FAST_ARGS.get(tuple(words), [])):
            raise AssertionError(f"vta {' '.join(words)}: required {action.dest!r} has no "
                                 "sample value in this test: add one")
        else:
            continue
        if action.option_strings:
            options += [action.option_strings[-1], value]
        else:
            positional.append(value)
    if has_preset and fuzzed != "config":
        options += ["--preset", "tiny"]
    return [*words, *positional, *options, *FAST_ARGS.get(tuple(words), [])]


def _bad_input(kind: str, case: str, inputs: Path, valid: dict[str, bytes]) -> str:
    f = inputs / f"bad{SUFFIX[kind]}"
    if case == "missing":
        return str(inputs / f"missing{SUFFIX[kind]}")
    if case == "directory":
        d = inputs / f"a_directory{SUFFIX[kind]}"
        d.mkdir()
        return str(d)
    data = {"empty": b"", "truncated": valid[kind][:-5],
            "random-bytes": np.random.default_rng(19).bytes(333),
            "other-kind": valid.get(OTHER_KIND.get(kind, ""), b"")}[case]
    f.write_bytes(data)
    return str(f)


def _bad_output(kind: str, case: str, inputs: Path) -> str:
    name = "out" if kind == "out:dir" else ("plot.png" if kind == "out:plot" else "out.bin")
    if case == "missing-directory":
        return f"no_such_dir/{name}"
    if case == "empty-path":
        return ""
    if case == "wrong-type":
        if kind == "out:dir":
            f = inputs / "a_file"
            f.write_text("not a directory")
            return str(f)
        d = inputs / "a_directory"
        d.mkdir()
        return str(d)
    if case == "parent-is-a-file":
        f = inputs / "a_file"
        f.write_text("not a directory")
        return str(f / name)
    assert case == "unsupported-extension"
    return "plot.txt"


def _tree(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): (p.stat().st_size if p.is_file() else -1)
            for p in root.rglob("*")}


class _CaseTimeout(Exception):
    pass


@contextlib.contextmanager
def _time_bound(seconds: float):
    """Raise _CaseTimeout in the main thread after ``seconds`` (a subprocess it waits for is
    killed by subprocess.run's own clean-up)."""
    def on_alarm(signum, frame):
        raise _CaseTimeout(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# ---------------------------------------------------------------------------- the tests
def test_there_is_something_to_fuzz():
    names = {" ".join(w) for w in COMMANDS}
    assert {"sim", "run", "rtl-sim", "asm", "disasm", "demo", "hw verilog", "hw synth",
            "config show", "docs isa"} <= names
    kinds = {a.path_kind for p in COMMANDS.values() for a in path_actions(p)}
    assert kinds == set(PATH_KINDS), f"no parameter of kind {set(PATH_KINDS) - kinds}"


def test_every_path_argument_is_tagged():
    """A positional or an option whose metavar names a file must say what kind of path it is,
    or the fuzz test would not see it."""
    for words, parser in COMMANDS.items():
        for a in parser._actions:
            if isinstance(a, argparse._HelpAction | argparse._VersionAction):
                continue
            looks_like_path = (not a.option_strings and a.choices is None) or any(
                m in str(a.metavar or "") for m in ("FILE", "DIR", "PATH"))
            if looks_like_path:
                assert getattr(a, "path_kind", None) in PATH_KINDS, \
                    f"vta {' '.join(words)} {a.dest}: declare it with path_arg(kind=...)"


@pytest.mark.parametrize("words, dest, case", list(_cases()))
def test_bad_path_is_one_error_line(words, dest, case, tmp_path, monkeypatch, capsys,
                                    valid_files):
    parser = COMMANDS[words]
    action = next(a for a in parser._actions if a.dest == dest)
    inputs, work = tmp_path / "inputs", tmp_path / "work"
    inputs.mkdir()
    work.mkdir()
    if action.path_kind.startswith("in:"):
        bad = _bad_input(action.path_kind, case, inputs, valid_files)
    else:
        bad = _bad_output(action.path_kind, case, inputs)
    argv = _argv(words, parser, dest, bad, inputs, valid_files)
    monkeypatch.chdir(work)
    before = _tree(tmp_path)
    with _time_bound(CASE_SECONDS):
        try:
            rc = main(argv)
        except SystemExit as e:  # argparse refused the command line itself
            rc = e.code
    err = capsys.readouterr().err
    assert rc == 2, f"vta {' '.join(argv)}: exit {rc}\n{err}"
    assert err.startswith("error: "), f"vta {' '.join(argv)}: stderr {err!r}"
    assert sum(line.startswith("error:") for line in err.splitlines()) == 1, err
    assert "Traceback" not in err, err
    assert _tree(tmp_path) == before, f"vta {' '.join(argv)} left files behind"


# ---------------------------------------------------------------------------- devices
def _random_words_bundle() -> Bundle:
    """A valid bundle file whose instruction words are random bytes."""
    b = CORPUS["gemm_basic"](TINY)
    dram = bytearray(b.dram)
    n = b.insn_count * isa.INSN_BYTES
    dram[b.insn_addr:b.insn_addr + n] = np.random.default_rng(7).bytes(n)
    return Bundle(b.config, bytes(dram), b.insn_addr, b.insn_count, b.symbols, b.meta)


def _hazard_bundle() -> Bundle:
    """Decodable, in range, but a GEMM reads an accumulator still in its pipeline."""
    bb = BundleBuilder(TINY)
    bb.add_uops("uops", [isa.Uop()])
    bb.set_program([isa.Load(mem=isa.MemType.UOP, y_size=1, x_size=1, x_stride=1),
                    isa.Gemm(uop_bgn=0, uop_end=1, iter_out=3, iter_in=1), isa.Finish()])
    return bb.build()


DEVICE_RUNS = {
    "sim": ["sim"],
    "run --device sim": ["run", "--device", "sim"],
    "run --device rtl": ["run", "--device", "rtl"],
    "run --device rtl:amaranth": ["run", "--device", "rtl:amaranth"],
    "run --device fpga:sim": ["run", "--device", "fpga:sim"],
    "rtl-sim": ["rtl-sim"],
    "run --device fpga:BOARD": ["run", "--device", f"fpga:{os.environ.get('VTA_BOARD', '')}"],
}
BOARD = pytest.mark.skipif(not os.environ.get("VTA_BOARD"), reason=(
    "needs a ULX3S running the SoC bitstream on a serial port: set VTA_BOARD=/dev/ttyUSB0"))


@pytest.fixture(scope="module")
def device_models():
    """Build the Verilator models first, so a run's time bound does not include a build."""
    from vta_hw.cosim import verilator

    require_verilator()
    from vta_hw.soc import sim as soc_sim

    verilator.build(TINY)
    soc_sim.build(TINY)


@pytest.mark.parametrize("command, program", [
    pytest.param(c, p, marks=[BOARD] if c.endswith("BOARD") else [])
    for c in DEVICE_RUNS for p in ("random-words", "hazard")])
def test_devices_refuse_bad_programs(command, program, tmp_path, request):
    if DEVICE_RUNS[command][-1] != "sim" and not command.endswith("BOARD"):
        request.getfixturevalue("device_models")
    bundle = (_random_words_bundle if program == "random-words" else _hazard_bundle)()
    path = bundle.save(tmp_path / "bad.vtab")
    argv = [sys.executable, "-m", "vta.cli", *DEVICE_RUNS[command][:1], str(path),
            *DEVICE_RUNS[command][1:]]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=DEVICE_SECONDS,
                              cwd=tmp_path, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"vta {command} ran a bad program for more than {DEVICE_SECONDS} s")
    assert proc.returncode == 2, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.vtab"]


def test_config_show_round_trips(tmp_path, capsys):
    """What `vta config show` prints is accepted back by --config, for every preset."""
    from vta_hw.config import PRESETS

    for name, cfg in PRESETS.items():
        assert main(["config", "show", "--preset", name]) == 0
        shown = capsys.readouterr().out
        f = tmp_path / f"{name}.json"
        f.write_text(shown)
        assert main(["config", "show", "--config", str(f)]) == 0
        assert capsys.readouterr().out == shown
        assert json.loads(shown)["config_hash"] == cfg.config_hash()
