"""Programs are linked at load into memory the device allocated: a program runs the same at
a non-zero base as at 0 (bytes and cycles), several programs stay resident on one device
without touching each other, and every device's launch returns one result type."""

from __future__ import annotations

import numpy as np
import pytest

from compiler import Conv2d, Dense, Epilogue, Requant, compile_op
from opset import reference as ref
from runtime.device import DeviceError, LaunchResult
from runtime.devices import open_device, run_bundle
from runtime.sim_device import SimDevice
from tests.programs.compiled_ops import cases_for
from tests.programs.corpus import CORPUS
from vta.api import load_compiled, run_compiled
from vta_hw import isa
from vta_hw.bundle import Bundle, link_align
from vta_hw.config import TINY
from vta_sim import simulate

RNG = np.random.default_rng(20)


def i8(*shape):
    return RNG.integers(-128, 128, shape, dtype=np.int8)


def data_bytes(b: Bundle, image: bytes) -> bytes:
    """An image after a run without its instruction words (which linking rewrites)."""
    end = b.insn_addr + b.insn_count * isa.INSN_BYTES
    return image[:b.insn_addr] + image[end:]


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_every_corpus_program_runs_the_same_at_a_non_zero_base(name):
    b = CORPUS[name](TINY)
    want = simulate(b)
    dev = SimDevice(TINY)
    dev.allocate(1000)  # something else lives at the bottom of memory
    got = run_bundle(dev, b)
    h_base = len(dev.dram) - len(b.dram)
    assert h_base > 0 and h_base % link_align(TINY) == 0
    assert got.cycles == want.cycles
    assert data_bytes(b, got.dram) == data_bytes(b, want.dram)


def test_compiled_ops_resident_together_each_equal_numpy():
    """Every compiled-op corpus case loaded on one simulator device, each after all the
    others (so at ever higher bases), then all run again in reverse order."""
    dev = SimDevice(TINY)
    cases = [f(TINY) for f in cases_for(TINY).values()]
    handles = [dev.load(c.bundle) for c in cases]
    assert len({h.base for h in handles}) == len(cases) and handles[0].base == 0
    for c, h in [*zip(cases, handles, strict=True), *reversed(list(zip(cases, handles,
                                                                         strict=True)))]:
        res = dev.launch(h)
        assert res.cycles == simulate(c.bundle).cycles, c.name
        out = c.last_op.unpack_output(dev.copy_out(h.buffer(c.output_symbol)))
        np.testing.assert_array_equal(out, c.expected, err_msg=c.name)


def _two_ops():
    conv = compile_op(Conv2d(1, 16, 6, 6, 16, 3, 3, 1, 1,
                             Epilogue(requant=Requant(shift=9), relu=True)), TINY)
    dense = compile_op(Dense(2, 64, 32, Epilogue(requant=Requant(shift=7))), TINY)
    return conv, dense


def alternate_two_programs(dev, rounds: int = 2) -> None:
    """A conv and a dense layer resident on ``dev`` together, run alternately with fresh
    inputs; each output equals numpy, and equals the same op run alone at base 0."""
    conv, dense = _two_ops()
    wc, wd = i8(16, 16, 3, 3), i8(32, 64)
    a = load_compiled(conv, dev, {"w": wc})
    b = load_compiled(dense, dev, {"w": wd})
    assert a.handle.image.handle + a.handle.image.nbytes <= b.handle.base  # no overlap
    for _ in range(rounds):
        x1, x2 = i8(1, 16, 6, 6), i8(2, 64)
        r1 = a.run({"x": x1})
        r2 = b.run({"x": x2})
        np.testing.assert_array_equal(r1.output, ref.conv2d(x1, wc, conv.op))
        np.testing.assert_array_equal(r2.output, ref.dense(x2, wd, dense.op))
        alone = run_compiled(dense, {"x": x2, "w": wd})  # a fresh simulator, base 0
        assert r2.cycles == alone.cycles
        np.testing.assert_array_equal(r2.output, alone.output)


def test_two_programs_alternate_on_the_simulator():
    alternate_two_programs(SimDevice(TINY))


def test_loaded_op_checks_its_operands():
    conv, _ = _two_ops()
    op = load_compiled(conv, SimDevice(TINY), {"w": i8(16, 16, 3, 3)})
    with pytest.raises(Exception, match=r"a run takes the operand\(s\) \['x'\]"):
        op.run({"x": i8(1, 16, 6, 6), "w": i8(16, 16, 3, 3)})
    with pytest.raises(DeviceError, match="no symbol 'nope'"):
        op.handle.buffer("nope")


def test_sim_launch_result():
    b = CORPUS["gemm_basic"](TINY)
    got = run_bundle(open_device("sim", TINY), b).result
    want = simulate(b, check_races=True)
    assert isinstance(got, LaunchResult)
    assert (got.device, got.cycles, got.stats) == ("sim", want.cycles, want.stats)
    assert got.wall_seconds > 0 and got.detail.cycles == want.cycles


@pytest.mark.cosim
@pytest.mark.parametrize("spec", ["rtl", "rtl:amaranth", "fpga:sim"])
def test_one_launch_result_type_on_every_accelerator_device(spec):
    b = CORPUS["gemm_basic"](TINY)
    want = simulate(b)
    dev = open_device(spec, TINY)
    try:
        dev.allocate(100)  # and linked at a non-zero base
        got = run_bundle(dev, b)
    finally:
        getattr(dev, "close", lambda: None)()
    assert isinstance(got.result, LaunchResult)
    assert got.result.cycles == want.cycles and got.result.wall_seconds > 0
    assert got.result.stats is None  # measured devices have no simulator statistics
    assert data_bytes(b, got.dram) == data_bytes(b, want.dram)


@pytest.mark.cosim
def test_compiled_ops_resident_together_on_the_rtl():
    """The compiled-op corpus through load/launch/copy_out on the RTL device, each case
    linked above the previous ones: bytes equal numpy, cycles equal the simulator."""
    dev = open_device("rtl", TINY)
    for c in (f(TINY) for f in cases_for(TINY).values()):
        h = dev.load(c.bundle)
        res = dev.launch(h)
        assert res.cycles == simulate(c.bundle).cycles, c.name
        out = c.last_op.unpack_output(dev.copy_out(h.buffer(c.output_symbol)))
        np.testing.assert_array_equal(out, c.expected, err_msg=c.name)


@pytest.mark.cosim
def test_two_programs_alternate_on_the_rtl():
    alternate_two_programs(open_device("rtl", TINY))
