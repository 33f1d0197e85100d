"""``vta compile`` of a model that does not fit the configured DRAM: one ``error:`` line with
the sizes (needed, available, the biggest contributors), exit status 2, no ``.vtam``."""

from __future__ import annotations

import re

import numpy as np
import onnx

from tests.compiler.graph.lower_models import calib, small_cnn
from vta.cli import main
from vta_hw.config import TINY


def test_a_model_too_large_for_dram_is_one_error_line(tmp_path, capsys):
    onnx.save(small_cnn(), tmp_path / "cnn.onnx")
    np.savez(tmp_path / "calib.npz", **calib())
    cfg = tmp_path / "tiny-4k.json"
    cfg.write_text(TINY.replace(name="tiny-4k", log_dram_bytes=12).to_json())
    out = tmp_path / "out" / "m.vtam"
    out.parent.mkdir()
    argv = ["compile", str(tmp_path / "cnn.onnx"), "-o", str(out), "--config", str(cfg),
            "--calib", str(tmp_path / "calib.npz"), "--targets", "vta"]
    assert main(argv) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    m = re.search(r"needs (\d+) bytes of accelerator DRAM \((\d+) resident programs and "
                  r"weights \+ (\d+) activation arena\), config 'tiny-4k' has 4096", lines[0])
    assert m and int(m[1]) == int(m[2]) + int(m[3]) > 4096, lines[0]
    assert "biggest: program " in lines[0]
    assert list(out.parent.iterdir()) == []
    # the same model fits the default 32 MiB
    assert main([*argv[:4], "--preset", "tiny", *argv[6:]]) == 0
    assert out.exists()
    capsys.readouterr()
