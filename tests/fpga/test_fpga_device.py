"""The runtime's FPGA device against a Python model of the SoC's protocol engine.

The model answers frames exactly as the gateware bridge does (tests/fpga/test_bridge.py
checks the gateware; test_soc_cosim.py runs the device against the real SoC in Verilator).
Here the host side is exercised where a real link misbehaves: corrupted replies, silence,
refusals, a config mismatch, a run that never finishes.
"""

from __future__ import annotations

import os
import struct

import pytest

from runtime.device import DeviceError
from runtime.devices import run_bundle
from runtime.fpga_device import (
    DeviceSpec,
    FpgaDevice,
    FpgaDeviceError,
    FpgaProtocolError,
    FpgaTimeoutError,
    Transport,
    open_fpga_device,
    parse_device_spec,
)
from tests.programs.corpus import CORPUS
from vta_hw.config import TINY, WIDE
from vta_hw.errors import VtaError
from vta_hw.soc import protocol as P
from vta_sim import simulate
from vta_sim.workloads import blocked_matmul


class ModelSoc(Transport):
    """A byte-level model of the SoC: the bridge's protocol, the simulator as the core."""

    def __init__(self, cfg=TINY, dram_bytes=4096, *, hang=False, corrupt_replies=0,
                 silent=False):
        self.cfg = cfg
        self.mem = bytearray(dram_bytes)
        self.info = P.SocInfo(P.PROTOCOL_VERSION, dram_bytes, 64, cfg.dram_bytes_per_cycle,
                              cfg.config_hash(), 100_000_000, 4)
        self.out = bytearray()
        self.hang = hang
        self.corrupt = corrupt_replies
        self.silent = silent
        self.running = False
        self.cycles = 0
        self.done = False
        self.log: list[int] = []
        self.aborts = 0

    # -- transport
    def write(self, data: bytes) -> None:
        assert data[0] == P.REQ_SYNC and P.crc8(data[1:-1]) == data[-1]
        cmd, n = data[1], int.from_bytes(data[2:4], "little")
        self.log.append(cmd)
        if self.silent:
            return
        status, payload = self.execute(cmd, data[4:4 + n])
        frame = bytearray(P.reply(status, payload))
        if self.corrupt:
            self.corrupt -= 1
            frame[-1] ^= 0xFF
        self.out += frame

    def read(self, n: int, timeout: float) -> bytes:
        data, self.out = bytes(self.out[:n]), self.out[n:]
        return data

    def discard_input(self) -> None:
        self.out.clear()

    def reply_timeout(self, nbytes: int) -> float:
        return 0.01

    # -- the bridge
    def execute(self, cmd: int, p: bytes) -> tuple[int, bytes]:
        host_ok = not self.running
        if cmd == P.Cmd.INFO:
            return P.Status.OK, self.info.to_payload()
        if cmd == P.Cmd.WRITE:
            addr, data = struct.unpack("<I", p[:4])[0], p[4:]
            if not host_ok:
                return P.Status.BUSY, b""
            self.mem[addr:addr + len(data)] = data
            return P.Status.OK, b""
        if cmd == P.Cmd.READ:
            addr, count = struct.unpack("<IH", p)
            if addr + count > len(self.mem):
                return P.Status.RANGE, b""
            return (P.Status.OK, bytes(self.mem[addr:addr + count])) if host_ok else \
                (P.Status.BUSY, b"")
        if cmd == P.Cmd.START:
            addr, count = struct.unpack("<II", p)
            from vta_sim import simulate_image

            r = simulate_image(self.cfg, bytes(self.mem), addr, count)
            self.result = r
            self.running, self.done, self.cycles = True, False, 0
            return P.Status.OK, b""
        if cmd == P.Cmd.STATUS:
            if self.running and not self.hang:
                self.mem[:len(self.result.dram)] = self.result.dram
                self.running, self.done, self.cycles = False, True, self.result.cycles
            flags = (self.running * P.FLAG_RUNNING | self.done * P.FLAG_DONE
                     | (not self.running) * P.FLAG_IDLE)
            return P.Status.OK, struct.pack(P.STATUS_FORMAT, flags, self.cycles)
        if cmd == P.Cmd.ABORT:
            self.aborts += 1
            self.running = False
            return P.Status.OK, b""
        return P.Status.BAD_CMD, b""


def test_run_matches_the_simulator_and_buffers_round_trip():
    b = CORPUS["matmul_vt2"](TINY)
    dev = FpgaDevice(ModelSoc(), TINY)
    res = run_bundle(dev, b)
    ref = simulate(b)
    assert res.cycles == ref.cycles and res.dram == ref.dram
    buf = dev.allocate(300)
    assert buf.handle >= len(b.dram) and buf.handle % 64 == 0
    dev.copy_in(buf, bytes(range(256)) + bytes(44))
    assert dev.copy_out(buf)[:256] == bytes(range(256))


def test_config_mismatch_is_refused_at_open():
    with pytest.raises(FpgaDeviceError, match="built for config hash"):
        FpgaDevice(ModelSoc(cfg=WIDE), TINY)


def test_bundle_for_another_config_or_too_big_is_refused():
    dev = FpgaDevice(ModelSoc(dram_bytes=512), TINY)
    with pytest.raises(FpgaDeviceError, match="was built for config"):
        dev.load(CORPUS["finish_only"](WIDE))
    with pytest.raises(FpgaDeviceError, match="DRAM image is"):
        dev.load(CORPUS["matmul_vt2"](TINY))
    with pytest.raises(FpgaDeviceError, match="expected a vta_hw.bundle.Bundle"):
        dev.load(b"not a bundle")


def test_corrupted_replies_are_retried():
    soc = ModelSoc(corrupt_replies=2)
    dev = FpgaDevice(soc, TINY)
    assert dev.info.dram_bytes == 4096
    assert soc.log[:3] == [P.Cmd.INFO] * 3


def test_persistent_corruption_is_a_protocol_error():
    with pytest.raises(FpgaProtocolError, match="CRC"):
        FpgaDevice(ModelSoc(corrupt_replies=100), TINY)


def test_silence_is_a_timeout_naming_the_likely_cause():
    with pytest.raises(FpgaTimeoutError, match="bitstream loaded"):
        FpgaDevice(ModelSoc(silent=True), TINY)


def test_a_run_that_never_finishes_times_out_and_aborts():
    soc = ModelSoc(hang=True)
    dev = FpgaDevice(soc, TINY)
    with pytest.raises(FpgaTimeoutError, match="did not finish within") as e:
        dev.launch(dev.load(CORPUS["finish_only"](TINY)), timeout=0.05)
    assert soc.aborts == 1 and "ABORT" in str(e.value)
    assert isinstance(e.value, VtaError) and isinstance(e.value, DeviceError)


def test_async_launch_then_synchronize():
    dev = FpgaDevice(ModelSoc(), TINY)
    h = dev.load(CORPUS["gemm_basic"](TINY))
    assert dev.launch(h, wait=False) is None
    with pytest.raises(FpgaDeviceError, match="in progress"):
        dev.copy_out(dev.allocate(4))
    res = dev.synchronize()
    assert res.cycles == simulate(CORPUS["gemm_basic"](TINY)).cycles and res.device == "fpga"
    assert dev.synchronize() is res  # nothing more ran


def test_buffer_errors():
    dev = FpgaDevice(ModelSoc(dram_bytes=1024), TINY)
    with pytest.raises(FpgaDeviceError, match="out of DRAM"):
        dev.allocate(2048)
    buf = dev.allocate(16)
    with pytest.raises(FpgaDeviceError, match="16-byte buffer"):
        dev.copy_in(buf, bytes(17))
    dev.free(buf)
    with pytest.raises(FpgaDeviceError, match="not a live buffer"):
        dev.copy_out(buf)


@pytest.mark.parametrize("spec, want", [
    ("fpga:/dev/ttyUSB0", DeviceSpec("fpga", "/dev/ttyUSB0")),
    ("fpga:/dev/ttyUSB1@115200", DeviceSpec("fpga", "/dev/ttyUSB1", 115200)),
    ("fpga:COM3", DeviceSpec("fpga", "COM3")),
    ("fpga:sim", DeviceSpec("fpga", "sim")),
    ("sim", DeviceSpec("sim", "")),
    ("cpu:4", DeviceSpec("cpu", "4")),
])
def test_parse_device_spec(spec, want):
    assert parse_device_spec(spec) == want


@pytest.mark.parametrize("spec, match", [
    ("fpga:", "needs a serial port"), ("fpga:/dev/ttyUSB0@fast", "not a positive integer"),
    ("", "empty"),
])
def test_bad_device_specs(spec, match):
    with pytest.raises(FpgaDeviceError, match=match):
        parse_device_spec(spec)


def test_missing_serial_port_is_a_clear_error():
    with pytest.raises(FpgaDeviceError, match="cannot open serial port"):
        open_fpga_device("fpga:/dev/does-not-exist-vta", TINY)


@pytest.mark.board
def test_gemm_on_a_real_board():
    port = os.environ.get("VTA_BOARD")
    if not port:
        pytest.skip("needs a ULX3S-85F programmed with the tiny bitstream: set "
                    "VTA_BOARD=/dev/ttyUSB0 (optionally @BAUD) and run pytest -m board")
    w = blocked_matmul(TINY, 16, 16, 32)
    with open_fpga_device(f"fpga:{port}", TINY) as dev:
        h = dev.load(w.bundle)
        res = dev.launch(h, timeout=10)
        out = dev.copy_out(h.buffer(w.output))
    ref = simulate(w.bundle)
    assert res.cycles == ref.cycles and out == ref.read(w.bundle, w.output)


def test_the_runtime_device_imports_without_amaranth():
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys; sys.modules['amaranth'] = None; "
            "import runtime.fpga_device, vta_hw.soc.protocol; print('ok')")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr
