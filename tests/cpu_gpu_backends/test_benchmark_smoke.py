"""The CPU backend benchmark runs end to end in its reduced form and prints its summary."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_benchmark_quick_prints_summary():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "cpu_backend.py"),
                           "--quick"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"cpu_backend: gemm_fp32_speed=[\d.]+ gemm_int8_speed=[\d.]+ "
                        r"conv_fp32_speed=[\d.]+ conv_int8_speed=[\d.]+", last), last
