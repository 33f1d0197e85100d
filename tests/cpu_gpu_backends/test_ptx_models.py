"""The PTX of every GPU-capable step of the test models is generated and assembled.

No GPU is needed: for the model zoo's ResNet-18, MobileNet-v2 (32x32, width 0.25) and the
small transformer encoder, quantized like the model tests do (and the two CNNs' float
modules, ``--targets cpu,gpu`` without calibration), every module step the GPU can
run (:func:`runtime.gpu_steps.gpu_unsupported` is None: convolutions, dense layers and the
attention matmuls, depthwise, element-wise, pooling, the float Softmax) gets its GPU
program as the executor loads it (:func:`runtime.gpu_steps.gpu_programs`: one PTX module
per model holding every distinct kernel), and ``ptxas`` assembles that PTX for sm_80 and
sm_89.  Under ``CI`` a missing ``ptxas`` fails the test instead of
skipping it (``tests/toolchain.py``).
"""

from __future__ import annotations

import numpy as np
import pytest

from compiler.frontend import import_onnx
from compiler.frontend.model_zoo import encoder, mobilenet_v2, resnet18
from compiler.graph.lower import float_module_nodes, module_nodes
from compiler.graph.pipeline import run_passes, run_quantization
from cpu_gpu_backends.ptx import assemble_ptx
from runtime.gpu_steps import gpu_programs, gpu_unsupported

MODELS = {
    "resnet18": (lambda: resnet18(size=32, width=0.25), (1, 3, 32, 32)),
    "resnet18_fp32": (lambda: resnet18(size=32, width=0.25), None),  # the float module
    "mobilenet_v2_fp32": (lambda: mobilenet_v2(size=32, width=0.25), None),
    "mobilenet_v2": (lambda: mobilenet_v2(size=32, width=0.25), (1, 3, 32, 32)),
    "encoder": (lambda: encoder(layers=2, seq=32, hidden=64, heads=4), (1, 32, 64)),
}
# what each model must offer the GPU (by step op kind): a test that found nothing to
# assemble would pass for the wrong reason
EXPECTED = {
    "resnet18": {"conv2d", "dense", "pool2d", "global_avg_pool", "elementwise"},
    "resnet18_fp32": {"Conv", "Relu", "Add", "MaxPool", "GlobalAveragePool", "Gemm"},
    "mobilenet_v2_fp32": {"Conv", "Clip", "Add", "GlobalAveragePool", "Gemm"},
    "mobilenet_v2": {"conv2d", "depthwise_conv2d", "dense", "global_avg_pool"},
    "encoder": {"dense", "Softmax"},
}


def _gpu_steps(name: str) -> list:
    build, shape = MODELS[name]
    graph = import_onnx(build())
    if shape is None:  # no calibration: the float module's steps
        nodes, _, _ = float_module_nodes(run_passes(graph))
    else:
        rng = np.random.default_rng(0)
        calib = [{"input": rng.standard_normal(shape).astype(np.float32)} for _ in range(2)]
        nodes, _, _, _ = module_nodes(run_quantization(graph, calib))
    return [n for n in nodes if gpu_unsupported(n.op) is None]


@pytest.fixture(scope="module", params=sorted(MODELS))
def model_steps(request):
    """(model name, its GPU-capable module steps)."""
    return request.param, _gpu_steps(request.param)


@pytest.mark.parametrize("arch", ["sm_80", "sm_89"])
def test_every_gpu_step_of_the_model_assembles(ptxas, model_steps, arch):
    name, steps = model_steps
    kinds = {n.op.kind for n in steps}
    assert EXPECTED[name] <= kinds, f"{name}: GPU-capable kinds {sorted(kinds)}"
    programs = gpu_programs([n.op for n in steps], arch)
    ptx = programs[0].ptx
    assert f".target {arch}" in ptx and all(p.ptx is ptx for p in programs)
    for n, prog in zip(steps, programs, strict=True):
        for k in prog.plan.kernels:
            assert f".entry {k.name}(" in ptx, f"{name}: step {n.step_name}: no {k.name}"
        assert all(all(g >= 1 for g in st.grid) and all(b >= 1 for b in st.block)
                   for st in prog.plan.steps), n.step_name
    cubin = assemble_ptx(ptx, arch)
    assert cubin[:4] == b"\x7fELF"
