"""Weights and micro-op kernels stay on the device: loading a program sends them once, and
each run sends only its inputs.  On the board they would cross the UART once, not per
inference; here the same bytes go to the SoC simulated by Verilator (``fpga:sim``) through
a transport that counts every frame the host writes."""

from __future__ import annotations

import numpy as np
import pytest

from compiler import Conv2d, Dense, Epilogue, Requant, compile_op
from opset import reference as ref
from runtime.fpga_device import FpgaDevice, SimulatedSocTransport, Transport
from runtime.sim_device import SimDevice
from vta.api import load_compiled
from vta_hw.config import TINY
from vta_hw.soc import protocol as P

RNG = np.random.default_rng(5)
FRAME_BYTES = P.HEADER_BYTES + 1  # sync, cmd, length (2), ..., CRC
WRITE_ADDR_BYTES = 4


def i8(*shape):
    return RNG.integers(-128, 128, shape, dtype=np.int8)


class CountingTransport(Transport):
    """A transport that counts what the host sends: all bytes, and the data bytes of WRITE
    requests (the DRAM bytes copied to the device)."""

    def __init__(self, inner: Transport):
        self.inner = inner
        self.poll_interval = inner.poll_interval
        self.sent = 0
        self.written = 0

    def write(self, data: bytes) -> None:
        self.sent += len(data)
        if data[1] == P.Cmd.WRITE:
            self.written += len(data) - FRAME_BYTES - WRITE_ADDR_BYTES
        self.inner.write(data)

    def read(self, n: int, timeout: float) -> bytes:
        return self.inner.read(n, timeout)

    def discard_input(self) -> None:
        self.inner.discard_input()

    def reply_timeout(self, nbytes: int) -> float:
        return self.inner.reply_timeout(nbytes)

    def close(self) -> None:
        self.inner.close()


def _conv():
    """Weights (64x16x3x3 = 9 KiB) much larger than the input (16x4x4 = 256 bytes)."""
    return compile_op(Conv2d(1, 16, 4, 4, 64, 3, 3, 1, 1,
                             Epilogue(requant=Requant(shift=10), relu=True)), TINY)


def _fed_bytes(loaded) -> int:
    return sum(t.layout.nbytes for t in loaded.compiled.fed_tensors(loaded.fed))


def test_a_run_copies_in_only_its_inputs():
    """On any device: the fed tensors are the only ones a run writes."""
    conv = _conv()
    dev = SimDevice(TINY)
    op = load_compiled(conv, dev, {"w": i8(64, 16, 3, 3)})
    assert [t.name for t in conv.fed_tensors(op.fed)] == ["x"]
    assert op.bundle.read("w") != bytes(len(op.bundle.read("w")))  # weights in the image
    assert op.bundle.read("x") == bytes(len(op.bundle.read("x")))  # the input is not


@pytest.mark.cosim
def test_weights_cross_the_link_once_not_per_inference():
    conv = _conv()
    dense = compile_op(Dense(1, 64, 16, Epilogue(requant=Requant(shift=8))), TINY)
    wc, wd = i8(64, 16, 3, 3), i8(16, 64)
    link = CountingTransport(SimulatedSocTransport(TINY))
    with FpgaDevice(link, TINY, timeout=60) as dev:
        before = link.written
        a = load_compiled(conv, dev, {"w": wc})
        b = load_compiled(dense, dev, {"w": wd})  # a second program, resident beside it
        loaded = link.written - before
        assert loaded == len(a.bundle.dram) + len(b.bundle.dram)
        weights = len(a.bundle.read("w")) + len(a.bundle.read("uops"))
        for _ in range(2):
            x, v = i8(1, 16, 4, 4), i8(1, 64)
            sent0, written0 = link.sent, link.written
            y = a.run({"x": x})
            # exactly the packed input went to DRAM; all other traffic (START, STATUS
            # polls, the READ request) is small next to the weights
            assert link.written - written0 == _fed_bytes(a)
            assert link.sent - sent0 < weights // 4
            np.testing.assert_array_equal(y.output, ref.conv2d(x, wc, conv.op))
            written1 = link.written
            z = b.run({"x": v})
            assert link.written - written1 == _fed_bytes(b)
            np.testing.assert_array_equal(z.output, ref.dense(v, wd, dense.op))
            assert y.result.device == "fpga" and y.cycles > 0


def test_a_chained_program_keeps_its_weights_resident():
    """Two convs chained into one program, loaded once: each run copies in only ``x`` and
    gives what the stand-alone bundle of the same inputs gives on the simulator."""
    from compiler import chain
    from vta_sim import simulate

    op1 = Conv2d(1, 16, 6, 6, 16, 3, 3, 1, 1, Epilogue(requant=Requant(shift=9), relu=True))
    op2 = Conv2d(1, 16, 6, 6, 16, 1, 1, 1, 0, Epilogue(requant=Requant(shift=7)))
    ch = chain([compile_op(op1, TINY), compile_op(op2, TINY)], [{"y": "t"}, {"x": "t"}])
    w1, w2 = i8(16, 16, 3, 3), i8(16, 16, 1, 1)
    dev = SimDevice(TINY)
    h = dev.load(ch.bundle([{"w": w1}, {"w": w2}], fed=["0.x"]))
    for _ in range(2):
        x = i8(1, 16, 6, 6)
        dev.copy_in(h.buffer("0.x"), ch.pack_tensor("0.x", {"x": x}))
        res = dev.launch(h)
        alone = ch.bundle([{"x": x, "w": w1}, {"w": w2}])
        want = simulate(alone)
        got = ch.ops[1].unpack_output(dev.copy_out(h.buffer("1.y")))
        np.testing.assert_array_equal(got, ch.read(want, alone, 1))
        np.testing.assert_array_equal(got, ref.conv2d(ref.conv2d(x, w1, op1), w2, op2))
        assert res.cycles == want.cycles
    with pytest.raises(Exception, match=r"cannot feed \['0.uops', 't'\]: not input"):
        ch.bundle([{"x": x, "w": w1}, {"w": w2}], fed=["t", "0.uops"])
