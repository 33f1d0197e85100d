"""Layout transforms sit only at device boundaries.

Between two consecutive accelerator ops of one chained program the tensor stays in its
blocked layout in device memory (one DRAM tensor both ops address, no pack or unpack);
each tensor crossing into a program is packed exactly once and each tensor leaving one is
unpacked exactly once.  Checked on a module built from opset ops and on a model lowered
from ONNX with every op on the accelerator, saved and loaded.
"""

from __future__ import annotations

from collections import Counter

import onnx
import pytest

from compiler.frontend import import_onnx
from compiler.graph.lower import lower
from compiler.graph.pipeline import run_quantization
from compiler.graph.quantize import samples_from_arrays
from compiler.module_builder import build_module
from runtime.executor import Executor
from runtime.module import Module, load_module
from runtime.sim_device import SimDevice
from tests.compiler.graph.lower_models import calib, small_cnn
from tests.runtime.models import deep_chain
from vta_hw.config import TINY


def crossings(m: Module) -> tuple[Counter, Counter]:
    """(tensor, program) pairs that must be packed (read by the program, produced
    elsewhere) and unpacked (produced by the program, read elsewhere or a model output)."""
    producer = {s.output: s.program for s in m.steps}
    packs, unpacks = Counter(), Counter()
    for s in m.steps:
        for t in set(s.inputs.values()) - set(m.constants):
            if s.program is not None and producer.get(t) != s.program:
                packs[(t, s.program)] = 1
            if producer.get(t) is not None and producer[t] != s.program:
                unpacks[(t, producer[t])] = 1
    for t in m.outputs:
        if producer.get(t) is not None:
            unpacks[(t, producer[t])] = 1
    return packs, unpacks


def check_boundaries(m: Module) -> None:
    got_packs = Counter((t.tensor, t.program) for t in m.layout_transforms if t.kind == "pack")
    got_unpacks = Counter((t.tensor, t.program) for t in m.layout_transforms
                          if t.kind == "unpack")
    packs, unpacks = crossings(m)
    assert got_packs == packs and got_unpacks == unpacks
    for k, p in enumerate(m.programs):
        inner = {m.steps[i].output for i in p.steps}
        read_inside = {t for i in p.steps for t in m.steps[i].inputs.values()}
        for t in inner & read_inside:  # passed between two ops of the chain
            assert t in p.bundle.symbols  # one DRAM tensor, in the blocked layout
            assert (t, k) not in got_packs
    for t in m.layout_transforms:  # the bytes of the program's symbol for the tensor
        assert t.nbytes == m.programs[t.program].bundle.symbols[t.tensor].nbytes > 0


def test_no_transform_inside_a_chain_one_at_each_boundary():
    nodes, consts = deep_chain()
    m = build_module(nodes, TINY, constants=consts, outputs=["y"])
    check_boundaries(m)
    lines = [t.describe() for t in m.layout_transforms]
    assert lines == [
        "pack x: NCHW -> act(c_blocks=1, block=4, halo=1x1), 400 bytes into program 0",
        "unpack a3: act(c_blocks=2, block=4, halo=0x0) -> NCHW, 512 bytes out of program 0",
        "pack p: NCHW -> act(c_blocks=2, block=4, halo=1x1), 288 bytes into program 1",
        "unpack y: act(c_blocks=2, block=4, halo=0x0) -> NCHW, 128 bytes out of program 1",
    ]
    # a0, a1, a2 pass between consecutive accelerator ops: no transform names them
    assert not {"a0", "a1", "a2"} & {t.tensor for t in m.layout_transforms}


@pytest.fixture(scope="module")
def lowered(tmp_path_factory):
    d = tmp_path_factory.mktemp("lb")
    onnx.save(small_cnn(), d / "cnn.onnx")
    g = import_onnx(d / "cnn.onnx")
    q = run_quantization(g, samples_from_arrays(g, calib()))
    return lower(q, TINY, targets=("vta",)), d


def test_a_lowered_model_transforms_layouts_only_at_device_boundaries(lowered):
    low, d = lowered
    m = load_module(low.module.save(d / "m.vtam"), TINY)
    check_boundaries(m)
    chained = [p for p in m.programs if len(p.steps) > 1]
    assert chained, "the lowered model has no chained program"
    # the executor copies exactly these bytes (every opset op is on the accelerator; the
    # quantize/dequantize boundary steps run as host kernels, reading host memory in place)
    ex = Executor(m, SimDevice(TINY))
    assert {m.steps[i].op.kind for i in ex.kernels} == {"quantize", "dequantize"}
    ex.run(calib(1, seed=3))
    assert ex.copied_in_bytes == sum(t.nbytes for t in m.layout_transforms
                                     if t.kind == "pack") > 0
    assert ex.copied_out_bytes == sum(t.nbytes for t in m.layout_transforms
                                      if t.kind == "unpack") > 0
