import json
import subprocess
import sys

import pytest

from vta_hw.config import DEFAULT, PRESETS, TINY, WIDE, ConfigError, HwConfig, preset, resolve


def test_default_is_vtas_configuration():
    c = DEFAULT
    assert (c.batch, c.block_in, c.block_out) == (1, 16, 16)
    assert (c.inp_width, c.wgt_width, c.acc_width, c.out_width) == (8, 8, 32, 8)
    assert c.uop_buff_bytes == 32 * 1024
    assert c.inp_buff_bytes == 32 * 1024
    assert c.wgt_buff_bytes == 256 * 1024
    assert c.acc_buff_bytes == 128 * 1024
    assert c.macs_per_cycle == 256


def test_presets_include_a_non_square_core():
    assert any(c.block_in != c.block_out for c in PRESETS.values())
    assert TINY.block_in == 4 and WIDE.block_in != WIDE.block_out


@pytest.mark.parametrize("cfg", list(PRESETS.values()), ids=list(PRESETS))
def test_json_round_trip_and_hash(cfg):
    again = HwConfig.from_json(cfg.to_json())
    assert again == cfg
    assert again.config_hash() == cfg.config_hash()
    assert len(cfg.config_hash()) == 16


def test_hash_ignores_name_but_not_hardware():
    assert DEFAULT.replace(name="other").config_hash() == DEFAULT.config_hash()
    assert DEFAULT.replace(dram_latency=33).config_hash() != DEFAULT.config_hash()
    assert DEFAULT.replace(log_dram_bytes=20).config_hash() != DEFAULT.config_hash()
    assert len({c.config_hash() for c in PRESETS.values()}) == len(PRESETS)


def test_an_integer_clock_is_the_same_config_and_hash_as_its_float():
    whole = HwConfig.from_json(DEFAULT.to_json().replace('"target_clock_mhz": 100.0',
                                                         '"target_clock_mhz": 100'))
    assert whole == DEFAULT and whole.config_hash() == DEFAULT.config_hash()
    assert DEFAULT.replace(target_clock_mhz=60).config_hash() == \
        DEFAULT.replace(target_clock_mhz=60.0).config_hash()


def test_dram_capacity_is_the_ulx3s_sdram_by_default():
    assert DEFAULT.dram_bytes == 32 * 2**20
    assert DEFAULT.replace(log_dram_bytes=16).dram_bytes == 65536
    assert HwConfig.from_json(DEFAULT.replace(log_dram_bytes=12).to_json()).dram_bytes == 4096


def test_hash_is_stable_across_processes():
    code = "from vta_hw.config import DEFAULT; print(DEFAULT.config_hash())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == DEFAULT.config_hash()


@pytest.mark.parametrize("changes, fragment", [
    ({"log_block_in": 0}, "log_block_in"),
    ({"log_acc_width": 4}, "int32"),
    ({"log_out_buff_depth": 12}, "out buffer"),
    ({"dram_latency": 0}, "dram_latency"),
    ({"log_dram_bytes": 9}, "log_dram_bytes"),
    ({"log_dram_bytes": 33}, "log_dram_bytes"),
    ({"log_acc_buff_depth": 14}, "micro-op"),
    ({"gemm_pipeline_depth": 1}, "gemm_pipeline_depth"),
    ({"target_clock_mhz": 0}, "target_clock_mhz"),
    ({"log_batch": -1}, ">= 0"),
    ({"log_uop_buff_depth": 16, "log_acc_buff_depth": 12, "log_inp_buff_depth": 12,
      "log_wgt_buff_depth": 8, "log_out_buff_depth": 12}, "bits"),
])
def test_inconsistent_configs_are_rejected_naming_the_field(changes, fragment):
    with pytest.raises(ConfigError, match=fragment):
        DEFAULT.replace(**changes)


def test_unknown_fields_and_bad_json(tmp_path):
    with pytest.raises(ConfigError, match="unknown config field"):
        HwConfig.from_dict({"log_block": 4})
    with pytest.raises(ConfigError, match="not valid JSON"):
        HwConfig.from_json("{")
    with pytest.raises(ConfigError, match="does not exist"):
        HwConfig.from_file(tmp_path / "missing.json")


def test_preset_and_resolve():
    assert preset("tiny") is TINY
    with pytest.raises(ConfigError, match="known presets"):
        preset("huge")
    with pytest.raises(ConfigError, match="not both"):
        resolve("tiny", "x.json")


def test_cli_config_show(tmp_path, capsys):
    from vta.cli import main

    assert main(["config", "show", "--preset", "wide"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["config"]["name"] == "wide"
    assert shown["derived"]["block_in"] == 8
    assert shown["config_hash"] == WIDE.config_hash()
    f = tmp_path / "c.json"
    f.write_text(TINY.replace(name="mine", dram_latency=9).to_json())
    assert main(["config", "show", "--config", str(f)]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["dram_latency"] == 9
    f.write_text('{"log_block_in": 9}')
    assert main(["config", "show", "--config", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "log_block_in" in err and err.count("\n") == 1
