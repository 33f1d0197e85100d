"""The ResNet-18 layer benchmark runs end to end in its reduced form."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_benchmark_quick(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "resnet18_layers.py"),
                           "--quick", "--out", str(tmp_path)], capture_output=True, text=True,
                          timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert re.fullmatch(r"resnet18_layers: compute_bound_min_util=[\d.]+ mean_util=[\d.]+ "
                        r"mean_util_no_latency_hiding=[\d.]+", lines[-1]), lines[-1]
    assert any(line.startswith("C11 ") for line in lines)
    assert (tmp_path / "resnet18_roofline.png").stat().st_size > 1000
    util = float(re.search(r"compute_bound_min_util=([\d.]+)", lines[-1]).group(1))
    assert util > 0.9  # C8 and C11 keep the GEMM core busy
