"""The simulator and RTL benchmarks run (small instances) and end with their summary line."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(script: str, *args: str) -> str:
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args],
                         capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def test_sim_speed_quick():
    line = run("sim_speed.py", "--quick", "--runs", "1")
    assert re.fullmatch(r"sim_speed: layer_wall_s=\S+ cycles=\d+ cycles_per_s=\d+ "
                        r"insns_per_s=\d+ golden_s=[\d.]+ golden=extrapolated", line)


def test_sim_speed_golden_full_is_measured_on_the_same_layer():
    # exit status 0 includes: the golden model's output equals the simulator's
    line = run("sim_speed.py", "--quick", "--runs", "1", "--golden", "full")
    assert re.search(r" golden_s=[\d.]+ golden=measured$", line), line


@pytest.mark.cosim
@pytest.mark.usefixtures("needs_verilator")
def test_rtl_vs_sim_quick():
    line = run("rtl_vs_sim.py", "--quick", "--runs", "1")
    assert re.fullmatch(r"rtl_vs_sim: cycles_equal=1 sim_cycles_per_s=\d+ rtl_cycles_per_s=\d+ "
                        r"speedup=\S+", line)


def test_cosim_corpus_quick():
    line = run("cosim_corpus.py", "--quick")
    m = re.fullmatch(r"cosim_corpus: programs=10 nonzero_gemm_frac=(\S+) "
                     r"nonzero_output_frac=(\S+) mutants=(\d+) killed=(\d+)", line)
    assert m, line
    assert float(m[1]) >= 0.9 and float(m[2]) >= 0.9
    assert int(m[3]) >= 15 and int(m[4]) <= int(m[3])


def test_models_quick():
    # exit status 0 includes: both models equal the integer reference bit for bit
    line = run("models.py", "--quick")
    m = re.match(r"models: resnet18_compile_s=([\d.]+) resnet18_sim_s=([\d.]+) "
                 r"resnet18_rss_mb=(\d+) resnet18_cycles=(\d+) resnet18_acc_mac_frac=([\d.]+) "
                 r"mobilenetv2_cycles=(\d+)( \w+=\S+)*$", line)
    assert m, line
    assert int(m[4]) > 0 and int(m[6]) > 0
    assert float(m[5]) >= 0.9
    assert line.endswith(" exact=1")


def test_hetero_quick():
    # issue 21's benchmark: the CPU part (hetero_cpu: exit status 0 includes fp32 within 1e-4
    # of onnxruntime and int8 equal to the integer reference bit for bit), the cost model
    # and the encoder, in one run; the summary holds every figure the issue names
    line = run("hetero.py", "--quick")
    keys = ["resnet18_fp32_vs_ort", "mobilenetv2_fp32_vs_ort", "resnet18_int8_vs_ort_int8",
            "resnet18_int8_vs_ort_fp32", "cost_rank_corr_acc", "cost_rank_corr_cpu",
            "partition_vs_best", "encoder_acc_mac_frac"]
    assert line.startswith("hetero: "), line
    got = {k: float(v) for k, v in (kv.split("=") for kv in line.removeprefix("hetero: ").split())}
    assert list(got) == keys, line
    assert all(got[k] > 0 for k in keys[:4]), line
    assert -1 <= got["cost_rank_corr_acc"] <= 1 and -1 <= got["cost_rank_corr_cpu"] <= 1, line
    assert got["partition_vs_best"] >= 1.0 and got["encoder_acc_mac_frac"] >= 0.9, line


def test_tuning_quick():
    # issue 22's benchmark on two small workloads (exit status 0 includes: the tuned schedule
    # is never slower than the default)
    line = run("tuning.py", "--quick", "--seeds", "3")
    keys = ["trials_to_5pct_model", "trials_to_5pct_random", "min_speedup_vs_default",
            "mean_speedup_vs_default", "cost_model_rank_corr", "transfer_trials_to_5pct"]
    assert line.startswith("tuning: "), line
    got = {k: float(v) for k, v in (kv.split("=") for kv in line.removeprefix("tuning: ").split())}
    assert list(got) == keys, line
    assert got["trials_to_5pct_model"] >= 1 and got["trials_to_5pct_random"] >= 1, line
    assert 1.0 <= got["min_speedup_vs_default"] <= got["mean_speedup_vs_default"], line
    assert -1 <= got["cost_model_rank_corr"] <= 1 and got["transfer_trials_to_5pct"] >= 1, line


def test_dse_quick():
    # a small CNN over 8 points, and the estimate against Yosys on one config outside the
    # calibration table (cached by config hash: ~2-4 min the first time)
    line = run("dse.py", "--quick")
    m = re.fullmatch(r"dse: points=(\d+) wall_s=[\d.]+ est_lut_err=([\d.]+) est_ff_err=([\d.]+) "
                     r"est_bram_exact=([01]) est_dsp_exact=([01]) pareto_points=(\d+)", line)
    assert m, line
    assert int(m[1]) == 8 and int(m[6]) >= 1
    assert float(m[2]) < 0.10 and float(m[3]) < 0.10 and m[4] == "1" and m[5] == "1"


def test_dse_estimate_only():
    # part 2 alone: the estimate against Yosys on the same held-out config, no sweep
    line = run("dse.py", "--estimate-only", "--quick")
    m = re.fullmatch(r"dse-estimate: configs=1 est_lut_err=([\d.]+) est_ff_err=([\d.]+) "
                     r"est_bram_exact=([01]) est_dsp_exact=([01])", line)
    assert m, line
    assert float(m[1]) < 0.10 and float(m[2]) < 0.10 and m[3] == "1" and m[4] == "1"


# ResNet-18's convolutions (C1..C11 weighted by occurrence): 1.81 G MACs, 2 operations each
RESNET18_CONV_GOP = 2 * 1_813_561_344 / 1e9


def _fpga_default_figures(line: str) -> tuple[int, float, float]:
    m = re.fullmatch(r"fpga_default: config=default-85f fmax_mhz=63\.18 peak_gops=32\.3 "
                     r"resnet18_cycles=(\d+) resnet18_ms=([\d.]+) effective_gops=([\d.]+) "
                     r"built=0", line)
    assert m, line
    return int(m[1]), float(m[2]), float(m[3])


def test_fpga_default_throughput_from_a_recorded_fmax(tmp_path):
    """No build: the ResNet-18 conv cycles of default-85f (compiler + simulator) at the Fmax
    of a recorded summary.json, and the latency and effective GOP/s they give."""
    from vta_hw.config import DEFAULT_85F

    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"config": DEFAULT_85F.name, "fmax_mhz": 63.18,
                                   "config_hash": DEFAULT_85F.config_hash()}))
    cycles, ms, gops = _fpga_default_figures(run("fpga_default.py", "--summary", str(summary)))
    ideal = RESNET18_CONV_GOP * 1e9 / 2 / DEFAULT_85F.macs_per_cycle
    assert ideal <= cycles <= 1.05 * ideal  # 98.5% utilization measured
    assert ms == pytest.approx(cycles / 63.18e3, abs=0.05)
    assert gops == pytest.approx(RESNET18_CONV_GOP / (cycles / 63.18e6), abs=0.05)


def test_fpga_default_refuses_a_summary_of_another_config(tmp_path):
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"config": "tiny", "fmax_mhz": 73.7,
                                   "config_hash": "0123456789abcdef"}))
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fpga_default.py"),
                          "--summary", str(summary)], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert out.returncode != 0
    assert "is of config 'tiny' (0123456789abcdef), not of 'default-85f'" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("fmax", ["0", "-3", "fast", "nan"])
def test_fpga_default_rejects_a_bad_fmax(fmax):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fpga_default.py"),
                          "--fmax", fmax], capture_output=True, text=True, timeout=300,
                         cwd=ROOT)
    assert out.returncode == 2 and "--fmax" in out.stderr and "Traceback" not in out.stderr
