"""vta.outputs: outputs checked before the work, committed atomically after it."""

from __future__ import annotations

import io
import os

import pytest

from vta.outputs import OutputPathError, Outputs, check_directory, check_file
from vta.progress import ProgressBar, waiting


def test_checks_name_the_option_and_the_problem(tmp_path):
    (tmp_path / "f").write_text("x")
    for path, message in [("", "the path is empty"),
                          (tmp_path, "is a directory; expected a file name"),
                          (tmp_path / "nodir" / "x", "directory .*nodir' does not exist"),
                          (tmp_path / "f" / "x", "is not a directory")]:
        with pytest.raises(OutputPathError, match=f"--stats.*{message}|--stats: {message}"):
            check_file(path, "--stats")
    with pytest.raises(OutputPathError, match="unsupported extension '.txt'; use one of .png"):
        check_file(tmp_path / "t.txt", "--timeline", (".png", ".svg"))
    with pytest.raises(OutputPathError, match="is a file; expected a directory"):
        check_directory(tmp_path / "f", "-o")
    with pytest.raises(OutputPathError, match="is a file, so the directory cannot be created"):
        check_directory(tmp_path / "f" / "a" / "b", "-o")
    assert check_directory(tmp_path / "new" / "deep", "-o") == tmp_path / "new" / "deep"


def test_commit_moves_staged_files_and_directories_into_place(tmp_path):
    (tmp_path / "old.txt").write_text("old")
    with Outputs() as out:
        a = out.file(tmp_path / "a.txt", "--a")
        old = out.file(tmp_path / "old.txt", "--old")
        unused = out.file(tmp_path / "unused.txt", "--unused")
        d = out.directory(tmp_path / "x" / "y", "-o")
        assert a != tmp_path / "a.txt" and a.parent == tmp_path and a.suffix == ".txt"
        a.write_text("A")
        old.write_text("new")
        (d / "sub").mkdir()
        (d / "sub" / "f").write_text("F")
        assert not (tmp_path / "a.txt").exists() and not (tmp_path / "x").exists()
    assert out.file(None, "--none") is None and unused is not None
    assert (tmp_path / "a.txt").read_text() == "A" and (tmp_path / "old.txt").read_text() == "new"
    assert (tmp_path / "x" / "y" / "sub" / "f").read_text() == "F"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "old.txt", "x"]


def test_an_existing_directory_is_merged_into(tmp_path):
    (tmp_path / "o" / "keep").mkdir(parents=True)
    (tmp_path / "o" / "keep" / "mine").write_text("mine")
    (tmp_path / "o" / "report.json").write_text("stale")
    with Outputs() as out:
        d = out.directory(tmp_path / "o", "-o")
        (d / "report.json").write_text("fresh")
        (d / "keep").mkdir()
        (d / "keep" / "new").write_text("new")
    assert (tmp_path / "o" / "report.json").read_text() == "fresh"
    assert sorted(p.name for p in (tmp_path / "o" / "keep").iterdir()) == ["mine", "new"]
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["keep", "report.json"]


def test_an_error_discards_everything(tmp_path):
    (tmp_path / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), Outputs() as out:
        out.file(tmp_path / "old.txt", "--old").write_text("half-written")
        d = out.directory(tmp_path / "new_dir", "-o")
        (d / "f").write_text("f")
        raise RuntimeError("the work failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.txt"]
    assert (tmp_path / "old.txt").read_text() == "old"


def test_a_diagnostic_output_survives_a_diagnosed_failure(tmp_path, capsys):
    """A waveform of a deadlocked run is kept; the other outputs of the run are not."""
    from vta_hw.errors import VtaError

    with pytest.raises(VtaError), Outputs() as out:
        out.file(tmp_path / "w.vcd", "--wave", diagnostic=True).write_text("$enddefinitions")
        out.file(tmp_path / "d.bin", "--dram-out").write_bytes(b"x")
        raise VtaError("the RTL made no progress")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.vcd"]
    assert capsys.readouterr().err == f"kept for the failed run: {tmp_path / 'w.vcd'}\n"
    with pytest.raises(KeyboardInterrupt), Outputs() as out:
        out.file(tmp_path / "w2.vcd", "--wave", diagnostic=True).write_text("$enddef")
        raise KeyboardInterrupt  # the simulator was killed mid-write: not kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.vcd"]


def test_two_options_cannot_name_one_file(tmp_path):
    with pytest.raises(OutputPathError, match="--stats and --trace both name"), Outputs() as out:
        out.file(tmp_path / "s.json", "--stats")
        out.file(tmp_path / "." / "s.json", "--trace")
    assert list(tmp_path.iterdir()) == []


def test_special_files_are_written_in_place(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        with Outputs() as out:
            out.file(fifo, "--dram-out").write_bytes(b"through the pipe")
        assert os.read(reader, 100) == b"through the pipe"
    finally:
        os.close(reader)
    assert fifo.is_fifo()  # still the pipe, not replaced by a regular file


def test_a_symlink_target_is_replaced_not_the_link(tmp_path):
    (tmp_path / "real.txt").write_text("old")
    (tmp_path / "link.txt").symlink_to(tmp_path / "real.txt")
    with Outputs() as out:
        out.file(tmp_path / "link.txt", "-o").write_text("new")
    assert (tmp_path / "link.txt").is_symlink()
    assert (tmp_path / "real.txt").read_text() == "new"


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_waiting_is_one_line_when_not_a_terminal():
    s = io.StringIO()
    with waiting("building the model", stream=s):
        pass
    assert s.getvalue() == "building the model...\n"


def test_waiting_counts_seconds_on_a_terminal():
    import time

    s = _Tty()
    with waiting("building the model", stream=s, interval=0.01):
        time.sleep(0.1)
    text = s.getvalue()
    assert text.count("building the model...") >= 3  # redrawn while waiting
    assert " s\x1b[K" in text and text.endswith("s\x1b[K\n")
    assert "building the model: done in 0." in text
    s = _Tty()
    with pytest.raises(ValueError), waiting("x", stream=s, interval=0.01):
        raise ValueError
    assert "x: failed in" in s.getvalue()


def test_progress_bar_off_a_terminal_writes_only_the_notes():
    s = io.StringIO()
    with ProgressBar(10, stream=s) as bar:
        bar.skip(3)
        bar.advance(2, "conv1: best 1,200 cycles")
        bar.note("conv1 done")
        bar.advance(5)
    assert s.getvalue() == "conv1 done\n"
    assert bar.done == 10


def test_progress_bar_counts_and_predicts_the_time_left(monkeypatch):
    import vta.progress

    now = [100.0]
    monkeypatch.setattr(vta.progress.time, "monotonic", lambda: now[0])
    s = _Tty()
    bar = ProgressBar(40, stream=s, width=10)
    bar.skip(10)  # resumed from a log: done, but not timed
    assert bar.seconds_left() is None
    assert bar.line() == "[##--------] 10/40 trials"
    bar.start_clock()
    now[0] += 20.0
    bar.advance(10, "conv2: best 3,456 cycles")  # 2 s per trial, 20 to go
    assert bar.seconds_left() == 40.0
    assert bar.line() == "[#####-----] 20/40 trials  conv2: best 3,456 cycles  ~0:40 left"
    bar.note("conv1: 1.2x")
    bar.advance(20)
    bar.close()
    text = s.getvalue()
    assert "\rconv1: 1.2x\x1b[K\n" in text  # a note is a line of its own, above the bar
    assert text.endswith("\r[##########] 40/40 trials  conv2: best 3,456 cycles\x1b[K\n")
    assert "left" not in text.rsplit("\r", 1)[1]  # nothing left at the end


def test_the_rtl_device_says_what_it_builds(monkeypatch, capsys):
    """The first `vta run --device rtl` announces the Verilator build on stderr."""
    from vta.commands._common import prepare_device
    from vta_hw.config import TINY
    from vta_hw.cosim import verilator

    built = []
    monkeypatch.setattr(verilator, "is_built", lambda cfg, trace=False: False)
    monkeypatch.setattr(verilator, "build", lambda cfg, trace=False: built.append(cfg))
    prepare_device("rtl", TINY)
    assert built == [TINY]
    err = capsys.readouterr().err
    assert err.startswith("building the Verilator model of the core for config 'tiny'")
    assert err.count("\n") == 1
    monkeypatch.setattr(verilator, "is_built", lambda cfg, trace=False: True)
    prepare_device("rtl", TINY)
    prepare_device("sim", TINY)
    assert capsys.readouterr().err == "" and built == [TINY]
