"""The batch's pipelined schedule (runtime.pipeline): the list schedule against the
invariants that define a legal one, schedules that break them refused, and the executor's
modelled figures on a two-program module (accelerator, host, accelerator) over the
simulator's link and over the board's UART."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.executor import Executor
from runtime.fpga_device import FpgaDevice
from runtime.links import LINKS, link_for
from runtime.pipeline import (
    ACCELERATOR,
    HOST,
    RESOURCES,
    ScheduleError,
    Slot,
    Stage,
    check_schedule,
    list_schedule,
    makespan,
    sequential_schedule,
)
from runtime.sim_device import SimDevice
from tests.fpga.test_fpga_device import ModelSoc
from tests.runtime.models import build_cnn, images
from vta_hw.config import TINY

BATCH = 4


def chains(durations: list[list[tuple[str, float]]]) -> list[list[Stage]]:
    return [[Stage(f"s{k}.{j}", r, d) for j, (r, d) in enumerate(c)]
            for k, c in enumerate(durations)]


def test_an_accelerator_then_host_chain_pipelines_like_two_stages():
    """Per sample: accelerator 3 s, then host 2 s.  The accelerator is the bottleneck: the
    batch ends 2 s after its fourth accelerator stage (4 x 3 + 2), against 20 s sequential."""
    samples = chains([[(ACCELERATOR, 3.0), (HOST, 2.0)]] * BATCH)
    slots = list_schedule(samples)
    check_schedule(samples, slots)
    assert makespan(slots) == pytest.approx(14.0)
    assert makespan(sequential_schedule(samples)) == pytest.approx(20.0)
    acc = [s.start for s in slots if s.stage.resource == ACCELERATOR]
    assert acc == [0.0, 3.0, 6.0, 9.0]  # back to back: the host of k-1 runs meanwhile


def test_random_chains_give_legal_schedules_within_the_bounds():
    rng = np.random.default_rng(0)
    for _ in range(60):
        n = int(rng.integers(1, 6))
        shape = [(RESOURCES[int(rng.integers(0, 2))], float(rng.uniform(0, 5)))
                 for _ in range(int(rng.integers(1, 7)))]
        samples = chains([[(r, d * rng.uniform(0.5, 1.5)) for r, d in shape]
                          for _ in range(n)])
        slots = list_schedule(samples)
        check_schedule(samples, slots)  # raises on any broken invariant
        check_schedule(samples, sequential_schedule(samples))
        alone = max(sum(st.seconds for st in c) for c in samples)
        assert makespan(slots) >= alone - 1e-9


def ignore_own_order(samples: list[list[Stage]]) -> tuple[Slot, ...]:
    """A broken scheduler: each resource runs its stages back to back in sample order,
    never waiting for the sample's previous stage on the other resource."""
    free = dict.fromkeys(RESOURCES, 0.0)
    out = []
    for k, chain in enumerate(samples):
        for j, st in enumerate(chain):
            out.append(Slot(k, j, st, free[st.resource]))
            free[st.resource] += st.seconds
    return tuple(out)


def share_resources(samples: list[list[Stage]]) -> tuple[Slot, ...]:
    """A broken scheduler: each sample's chain in order from time 0, as if every sample had
    its own accelerator and host."""
    out = []
    for k, chain in enumerate(samples):
        t = 0.0
        for j, st in enumerate(chain):
            out.append(Slot(k, j, st, t))
            t += st.seconds
    return tuple(out)


@pytest.mark.parametrize("broken, match", [
    (ignore_own_order, "before its previous stage"),
    (share_resources, "while sample"),
])
def test_a_schedule_breaking_an_invariant_is_refused(broken, match):
    samples = chains([[(ACCELERATOR, 3.0), (HOST, 2.0), (ACCELERATOR, 1.0)]] * BATCH)
    with pytest.raises(ScheduleError, match=match):
        check_schedule(samples, broken(samples))
    slots = list(list_schedule(samples))
    with pytest.raises(ScheduleError, match="places 11 stages"):
        check_schedule(samples, slots[:-1])
    slots[3] = Slot(slots[3].sample, slots[3].index, samples[0][0], slots[3].start)
    with pytest.raises(ScheduleError, match="the schedule has"):
        check_schedule(samples, slots)


def test_a_bad_stage_is_refused():
    with pytest.raises(ScheduleError, match="unknown resource 'gpu'"):
        Stage("x", "gpu", 1.0)
    with pytest.raises(ScheduleError, match="negative"):
        Stage("x", HOST, -1.0)


@pytest.fixture(scope="module")
def module():
    m = build_cnn(TINY)  # conv1 (program 0), pool (cpu), conv2 (program 1), gap, fc (cpu)
    assert len(m.programs) == 2
    assert [s.device for s in m.steps] == ["accelerator", "cpu", "accelerator", "cpu", "cpu"]
    return m


def test_a_two_program_module_pipelines_a_batch(module):
    x = images(BATCH)
    run = Executor(module, SimDevice(TINY)).run({"image": x})
    t = run.profile["totals"]
    # the pipeline is modelled: outputs are those of one sample at a time, bit for bit
    alone = Executor(module, SimDevice(TINY))
    for k in range(BATCH):
        np.testing.assert_array_equal(run.outputs["logits"][k],
                                      alone.run({"image": x[k]}).outputs["logits"])
    assert len({run.outputs["logits"][k].tobytes() for k in range(BATCH)}) == BATCH
    busy = t["busy_ms"]
    assert busy["host"] > 0 and busy["accelerator"] > 0
    assert max(busy.values()) <= t["pipelined_ms"] < t["sequential_ms"]
    assert t["sequential_ms"] == pytest.approx(sum(busy.values()))
    assert t["latency_ms"] == pytest.approx(t["sequential_ms"] / BATCH)
    assert t["throughput_samples_per_s"] == pytest.approx(BATCH / t["pipelined_ms"] * 1e3)
    assert t["link"] == "sim"
    # the accelerator's share: its cycles at the clock plus every copy over the AXI link
    link = LINKS["sim"]
    copies = sum(link.seconds(e["bytes_in"] // BATCH) if e["bytes_in"] else 0.0
                 for e in run.profile["layers"] if "cycles" in e)
    copies += sum(link.seconds(e["bytes_out"] // BATCH) if e["bytes_out"] else 0.0
                  for e in run.profile["layers"] if "cycles" in e)
    want = t["accelerator_cycles"] / (TINY.target_clock_mhz * 1e3) + BATCH * copies * 1e3
    assert busy["accelerator"] == pytest.approx(want)
    # estimated_latency_ms keeps its meaning: cycles plus host-op seconds, no copies
    assert t["estimated_latency_ms"] == pytest.approx(
        (t["accelerator_cycles"] / (TINY.target_clock_mhz * 1e3) + t["host_seconds"] * 1e3)
        / BATCH)


def test_over_the_boards_uart_copies_cost_ten_bits_a_byte(module):
    """The same module on the FPGA device (its protocol answered by the project's SoC
    model) at 115200 baud: each accelerator stage is its run plus, per copy,
    bytes * 10 / baud seconds and one framed command; the UART makes the accelerator the
    bottleneck, so the batch is paced by it."""
    soc = ModelSoc(TINY, dram_bytes=1 << 16)
    soc.baud = 115_200
    dev = FpgaDevice(soc, TINY)
    assert dev.link_profile == link_for("fpga:/dev/ttyUSB0@115200")
    x = images(BATCH)
    run = Executor(module, dev).run({"image": x})
    sim = Executor(module, SimDevice(TINY)).run({"image": x})
    np.testing.assert_array_equal(run.outputs["logits"], sim.outputs["logits"])
    t = run.profile["totals"]
    acc = [e for e in run.profile["layers"] if "cycles" in e]
    nbytes = [e[k] // BATCH for e in acc for k in ("bytes_in", "bytes_out")]
    assert all(nbytes) and len(nbytes) == 4
    uart = sum(n * 10 / 115_200 + 2e-3 for n in nbytes)
    want = t["accelerator_cycles"] / (TINY.target_clock_mhz * 1e3) + BATCH * uart * 1e3
    assert t["busy_ms"]["accelerator"] == pytest.approx(want)
    assert t["link"] == "fpga@115200"
    assert t["pipelined_ms"] >= t["busy_ms"]["accelerator"] > 10 * t["busy_ms"]["host"]
