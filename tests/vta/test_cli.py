"""The `vta` command line as a new user meets it: flags, help, messages, no leftovers."""

from __future__ import annotations

import json
from importlib.metadata import version

import pytest

from tests.vta.test_cli_fuzz import COMMANDS
from vta.cli import main
from vta_hw.config import PRESETS, TINY


def test_version_comes_from_the_package_metadata(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out == f"vta {version('vta-codesign')}\n"


def test_every_preset_option_lists_every_preset():
    for words, parser in COMMANDS.items():
        for a in parser._actions:
            if "--preset" in a.option_strings:
                missing = [n for n in PRESETS if n not in a.help]
                assert not missing, f"vta {' '.join(words)} --preset help lacks {missing}"


def test_every_output_path_is_spelled_dash_o_output():
    for words, parser in COMMANDS.items():
        for a in parser._actions:
            if a.dest in ("out", "output") or "--out" in a.option_strings:
                assert a.option_strings == ["-o", "--output"], f"vta {' '.join(words)}"


@pytest.mark.parametrize("argv, message", [
    (["asm", "{empty}"], "assembly source '{empty}' is empty"),
    (["disasm", "{empty}"], "instruction file '{empty}' is empty"),
    (["asm", "{comments}"], "the program has no instructions"),
    (["demo", "--batch", "7"], "--batch 7: the 360 held-out images must split"),
    (["demo", "--targets", "vta,tpu"], "tpu"),
    (["demo", "--targets", "vta,gpu"], "the demo runs on the accelerator and the CPU"),
    (["hw", "verilog", "--preset", "tiny", "-o", "{empty}"], "is a file; expected a directory"),
    (["demo", "--preset", "tiny", "-o", "{empty}"], "is a file; expected a directory"),
    (["sim", "{bundle}", "--timeline", "t.txt"], "unsupported extension '.txt'"),
    (["sim", "{bundle}", "--stats", "s.json", "--timeline", "nodir/t.png"],
     "directory 'nodir' does not exist"),
    (["config", "show", "--config", "{latin1}"], "is not UTF-8 text"),
    (["asm", "{latin1}"], "is not UTF-8 text (byte 0xe9 at offset 1)"),
])
def test_mistakes_are_one_error_line_and_leave_nothing(argv, message, tmp_path, monkeypatch,
                                                       capsys):
    monkeypatch.chdir(tmp_path)
    files = {"empty": "empty.s", "comments": "comments.s", "latin1": "latin1.s",
             "bundle": "b.vtab"}
    (tmp_path / "empty.s").write_bytes(b"")
    (tmp_path / "comments.s").write_text("# only a comment\n\n")
    (tmp_path / "latin1.s").write_bytes("d\u00e9j\u00e0".encode("latin-1"))
    from tests.programs.corpus import CORPUS

    CORPUS["finish_only"](TINY).save(tmp_path / "b.vtab")
    before = sorted(p.name for p in tmp_path.iterdir())
    argv = [a.format(**files) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message.format(**files) in err, err
    assert err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_config_show_output_is_verified_when_read_back(tmp_path, capsys):
    assert main(["config", "show", "--preset", "tiny"]) == 0
    shown = json.loads(capsys.readouterr().out)
    f = tmp_path / "my.json"
    edited = dict(shown, config=dict(shown["config"], dram_latency=9))
    f.write_text(json.dumps(edited))
    assert main(["config", "show", "--config", str(f)]) == 2
    assert "config_hash" in capsys.readouterr().err  # edited after `show`: the hash says so
    del edited["config_hash"]
    f.write_text(json.dumps(edited))
    assert main(["config", "show", "--config", str(f)]) == 0  # derived values still agree
    assert json.loads(capsys.readouterr().out)["config"]["dram_latency"] == 9
    edited["derived"] = dict(edited["derived"], block_in=8)
    f.write_text(json.dumps(edited))
    assert main(["config", "show", "--config", str(f)]) == 2
    err = capsys.readouterr().err
    assert "derived value block_in=8 disagrees with the config fields, which give 4" in err
    f.write_text(json.dumps(dict(shown, extra=1)))
    assert main(["config", "show", "--config", str(f)]) == 2
    assert "unknown top-level field(s) ['extra']" in capsys.readouterr().err


def test_demo_writes_its_directory_only_when_it_succeeds(tmp_path, monkeypatch, capsys):
    """The output directory appears, complete, at the end; a failure (here after the model
    and module were written to the staging directory) leaves none."""
    import runtime.executor

    monkeypatch.chdir(tmp_path)

    def broken(*args, **kwargs):
        from vta_hw.errors import VtaError

        raise VtaError("the device gave up")

    with monkeypatch.context() as m:
        m.setattr(runtime.executor.Executor, "run", broken)
        assert main(["demo", "--epochs", "1"]) == 2
    assert "the device gave up" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    assert main(["demo", "--epochs", "1", "--batch", "120"]) == 0
    out = capsys.readouterr().out
    assert "vta_out/demo/digits.vtam" in out
    written = {p.name for p in (tmp_path / "vta_out" / "demo").iterdir()}
    assert {"digits.onnx", "digits.vtam", "inputs.npz", "labels.npy", "layers.png",
            "profile.json", "program_trace.json", "roofline.png", "timeline.png",
            "trace.json"} <= written
    assert all(name in out for name in written)  # the demo says where each went
    assert [p.name for p in tmp_path.iterdir()] == ["vta_out"]  # no staging leftovers


@pytest.mark.parametrize("command", [
    ["tune", "m.onnx", "--log", "t.jsonl", "--trials", "4"],
    ["dse", "m.onnx", "--space", "s.json", "-o", "out"],
])
@pytest.mark.parametrize("extra, message", [
    (["--workers", "-1"], "argument --workers: -1 must be at least 0"),
    (["--workers", "x"], "argument --workers: 'x' is not a whole number"),
    (["--timeout", "0"], "argument --timeout: 0 must be positive"),
    (["--timeout", "-1"], "argument --timeout: -1 must be positive"),
    (["--timeout", "soon"], "argument --timeout: 'soon' is not a number of seconds"),
    (["--dask", " "], "argument --dask: the scheduler address is empty (tcp://host:port)"),
    (["--workers", "2", "--dask", "tcp://x:1"], "argument --dask: not allowed with argument "
                                                "--workers"),
])
def test_tune_and_dse_refuse_bad_runner_options_alike(tmp_path, monkeypatch, capsys, command,
                                                      extra, message):
    """``--workers | --dask`` and ``--timeout`` are declared once (add_runner_args): argparse
    refuses a bad value before the command reads any file, one error line, exit 2."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main([*command, *extra])
    assert e.value.code == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert errors == [f"vta {command[0]}: error: {message}"], err
    assert list(tmp_path.iterdir()) == []
