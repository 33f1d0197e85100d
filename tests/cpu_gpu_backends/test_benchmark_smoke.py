"""The CPU backend benchmark runs end to end in its reduced form and prints its summary,
including the int8-against-onnxruntime-int8 ratios."""

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
                        r"conv_fp32_speed=[\d.]+ conv_int8_speed=[\d.]+ "
                        r"gemm_int8_vs_ort_int8=[\d.]+ conv_int8_vs_ort_int8=[\d.]+ "
                        r"gemm_int8_vs_ort_s8s8=[\d.]+ conv_int8_vs_ort_s8s8=[\d.]+ "
                        r"conv_int8_requant_cost=[\d.]+", last), last
    # every onnxruntime int8 variant was checked against our output and timed
    for op in ("MatMulInteger s8*s8", "MatMulInteger u8(zp128)*s8", "ConvInteger s8*s8",
               "ConvInteger u8(zp128)*s8", "QLinearConv u8(zp128)*s8 ->u8"):
        assert op in proc.stdout, op
