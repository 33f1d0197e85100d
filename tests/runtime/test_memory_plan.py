"""The module's DRAM plan, end to end: activations share one arena by liveness, the
programs are linked against it, and the results stay bit-exact on the simulator.

The model: four convolutions chained in one accelerator program (each intermediate is read
by the next op only, so the first and third can share bytes), a max pool on the CPU, and a
fifth convolution in a second program (whose tensors may reuse all of the first's).  A
mutant whose lifetimes end where they start is caught by the run itself (wrong bytes or
the simulator's race check), so the bit-exact test can fail on a broken plan.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

import compiler.module_builder as mb
from compiler.memory_plan import DramCapacityError, Live
from compiler.module_builder import build_module
from runtime.device import DeviceError
from runtime.executor import Executor
from runtime.fpga_device import FpgaDevice
from runtime.memory import overlapping_live
from runtime.module import ModuleError, load_module
from runtime.sim_device import SimDevice
from tests.fpga.test_fpga_device import ModelSoc
from tests.runtime.models import deep_chain, reference_run
from vta_hw.bundle import Bundle, BundleError, Region
from vta_hw.config import TINY
from vta_sim.errors import SimError

SAMPLES = 2


def inputs(seed: int = 9) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, (SAMPLES, 1, 3, 8, 8), np.int8)


def reference(nodes, consts, x) -> np.ndarray:
    return np.stack([reference_run(nodes, consts, {"x": x[k]})["y"] for k in range(len(x))])


@pytest.fixture(scope="module")
def built():
    nodes, consts = deep_chain()
    return nodes, consts, build_module(nodes, TINY, constants=consts, outputs=["y"])


def test_the_arena_reuses_dead_tensors(built):
    _, _, m = built
    assert [p.steps for p in m.programs] == [(0, 1, 2, 3), (5,)]
    plan = m.memory
    assert plan.arena_bytes < plan.no_reuse_bytes / 2
    slots = {(s.program, s.tensor): s for s in plan.slots}
    assert {t for _, t in slots} == {"x", "a0", "a1", "a2", "a3", "p", "y"}
    # a0 (steps 0..1) is dead when a2 (2..3) is written: best fit puts them together
    a0, a2 = slots[(0, "a0")], slots[(0, "a2")]
    assert (a0.first, a0.last, a2.first, a2.last) == (0, 1, 2, 3)
    assert a0.shares_bytes(a2)
    # the second program's tensors reuse the first's bytes
    assert any(s.shares_bytes(o) for s in plan.slots if s.program == 1
               for o in plan.slots if o.program == 0)
    assert overlapping_live(plan.slots) is None
    # every program addresses its slots in the one arena; weights stay in the images
    for k, p in enumerate(m.programs):
        arena = {n for n in p.bundle.symbols if p.bundle.in_arena(n)}
        assert arena == {s.symbol for s in plan.slots if s.program == k}
    assert plan.resident_bytes == sum(plan.program_bytes)


def test_bit_exact_on_the_simulator_with_the_planned_memory(built, tmp_path):
    nodes, consts, m = built
    m = load_module(m.save(tmp_path / "m.vtam"), TINY)
    dev = SimDevice(TINY)
    ex = Executor(m, dev)
    x = inputs()
    run = ex.run({"x": x})
    want = reference(nodes, consts, x)
    assert np.array_equal(run.outputs["y"], want)
    assert np.count_nonzero(want) > want.size // 4 and len(np.unique(want)) > 8
    assert len(dev.dram) <= m.memory.total_bytes  # one arena, images resident
    mem = run.profile["memory"]
    assert mem["arena_bytes"] == m.memory.arena_bytes < mem["arena_no_reuse_bytes"]
    assert mem["device_bytes"] == m.memory.total_bytes
    ex.close()
    assert len(dev.dram) == 0


def _ends_where_it_starts(self, k):
    return [Live(t.program, t.symbol, t.tensor, t.nbytes, t.first, t.first)
            for t in _REAL_LIVE(self, k)]


_REAL_LIVE = mb._Draft.live


def test_a_plan_that_ignores_liveness_breaks_the_run(monkeypatch):
    """The mutant shares bytes between tensors that are still live; the module still
    loads (its stored lifetimes are the mutant's) but the run computes wrong bytes or the
    simulator reports the race."""
    nodes, consts = deep_chain()
    monkeypatch.setattr(mb._Draft, "live", _ends_where_it_starts)
    m = build_module(nodes, TINY, constants=consts, outputs=["y"])
    x = inputs()
    try:
        got = Executor(m, SimDevice(TINY)).run({"x": x}).outputs["y"]
    except SimError:
        return
    assert not np.array_equal(got, reference(nodes, consts, x))


def _edit(path: Path, edit) -> None:
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    d = json.loads(members["manifest.json"])
    edit(d)
    members["manifest.json"] = json.dumps(d).encode()
    with zipfile.ZipFile(path, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)


def test_a_stored_plan_with_live_tensors_on_the_same_bytes_is_refused(built, tmp_path):
    _, _, m = built
    path = m.save(tmp_path / "m.vtam")

    def clash(d):
        slots = d["memory"]["slots"]
        a1 = next(s for s in slots if s[2] == "a1")
        a2 = next(s for s in slots if s[2] == "a2")
        a2[3] = a1[3]  # same offset; a1 (1..2) and a2 (2..3) are both live at step 2

    _edit(path, clash)
    with pytest.raises(ModuleError, match="memory plan"):
        load_module(path)


# ---------------------------------------------------------------------------- capacity
SMALL = TINY.replace(name="tiny-4k", log_dram_bytes=12)


def test_a_module_larger_than_the_configured_dram_fails_at_compile_time():
    nodes, consts = deep_chain()
    with pytest.raises(DramCapacityError) as e:
        build_module(nodes, SMALL, constants=consts, outputs=["y"])
    msg = str(e.value)
    assert "4096" in msg and "tiny-4k" in msg and "needs" in msg
    assert "program 0 (c0+c1+c2+c3)" in msg and "activation arena" in msg
    assert "\n" not in msg


def test_a_device_with_less_memory_refuses_the_module(built):
    _, _, m = built
    dev = FpgaDevice(ModelSoc(TINY, dram_bytes=4096), TINY)
    with pytest.raises(DeviceError, match=r"needs \d+ bytes of device memory .* the device "
                                          r"has 4096"):
        Executor(m, dev)


def test_the_simulator_refuses_allocations_past_its_dram():
    dev = SimDevice(SMALL)
    dev.allocate(4000)
    with pytest.raises(DeviceError, match="out of device memory.*4096-byte DRAM"):
        dev.allocate(200)


# ---------------------------------------------------------------------------- arena linking
def test_a_program_runs_the_same_with_its_arena_elsewhere(built, tmp_path):
    """The first program of the chained model, linked with its arena right after its image
    (standalone) and with the arena in a buffer allocated below it: same cycles, same
    bytes out; the bundle file keeps its arena size."""
    _, _, m = built
    b = m.programs[0].bundle
    assert b.arena_bytes and len(b.dram) % 64 == 0
    x = np.random.default_rng(2).integers(-128, 128, b.symbols["x"].nbytes, np.int8)

    def run(dev, handle):
        dev.copy_in(handle.buffer("x"), x)
        res = dev.launch(handle)
        return res.cycles, dev.copy_out(handle.buffer("a3"))

    alone = SimDevice(TINY)
    h1 = alone.load(b)
    assert h1.buffer("a3").handle >= h1.base + len(b.dram)  # arena after the image
    shared = SimDevice(TINY)
    arena = shared.allocate(b.arena_bytes)
    h2 = shared.load(b, arena=arena)
    assert h2.base > arena.handle and h2.buffer("a3").handle < h2.base
    got1, got2 = run(alone, h1), run(shared, h2)
    assert got1 == got2 and np.count_nonzero(np.frombuffer(got1[1], np.int8))
    again = Bundle.load(b.save(tmp_path / "p.vtab"))
    assert again.arena_bytes == b.arena_bytes and again.symbols == b.symbols


def test_an_arena_too_small_or_a_straddling_symbol_is_refused(built):
    _, _, m = built
    b = m.programs[0].bundle
    dev = SimDevice(TINY)
    small = dev.allocate(b.arena_bytes // 2)
    with pytest.raises(DeviceError, match="arena cannot hold"):
        dev.load(b, arena=small)
    n = len(b.dram)
    with pytest.raises(BundleError, match="lies outside"):
        Bundle(b.config, b.dram, b.insn_addr, b.insn_count,
               {"across": Region(n - 64, 128)}, arena_bytes=b.arena_bytes)
