"""The kernel IR (printer, verifier), the LLVM renderer, the JIT cache and the backends."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from cpu_gpu_backends import dtypes as dt
from cpu_gpu_backends import jit_cpu
from cpu_gpu_backends.backend import BACKENDS, CpuBackend, CpuOptions, get_backend
from cpu_gpu_backends.kernel_ir import (
    Assign,
    Const,
    Decl,
    IRError,
    Kernel,
    Load,
    Loop,
    MulAddQuads,
    Param,
    Shuffle,
    Store,
    Var,
    buffer_access,
    print_kernel,
    verify,
)
from cpu_gpu_backends.ops.conv2d import transpose_block
from cpu_gpu_backends.ops.gemm import dense_plan
from cpu_gpu_backends.ops.microkernel import TileShape, default_tile, has_vnni
from cpu_gpu_backends.ops.plan import BufferSpec, OpPlan, Step
from cpu_gpu_backends.render_llvm import render_module


def saxpy() -> Kernel:
    i = Var("i")
    return Kernel("saxpy", (Param("x", dt.f32), Param("y", dt.f32), Param("a", dt.f32, False)),
                  (Loop("i", 37, (Store("y", i, Var("a", dt.f32) * Load("x", i, dt.f32)
                                        + Load("y", i, dt.f32)),), "parallel"),))


def test_printer_golden():
    assert print_kernel(saxpy()) == (
        "kernel saxpy(x: f32*, y: f32*, a: f32):\n"
        "  for i in range(0, 37) [parallel]:\n"
        "    y[i] = ((a * x[i]) + y[i])\n")


def test_verify_rejects_bad_kernels():
    i = Var("i")
    with pytest.raises(IRError, match="undefined name 'j'"):
        verify(Kernel("k", (Param("x", dt.f32),), (Store("x", Var("j"), Const(1.0, dt.f32)),)))
    with pytest.raises(IRError, match="holds f32, loaded as i32"):
        verify(Kernel("k", (Param("x", dt.f32),), (Loop("i", 4, (
            Store("x", i, Load("x", i, dt.f32)), Decl("v", Load("x", i, dt.i32)))),)))
    with pytest.raises(IRError, match="operand types differ"):
        verify(Kernel("k", (Param("x", dt.f32),), (Store("x", Const(0, dt.i64),
                                                         Const(1.0, dt.f32) + Const(1, dt.i32)),)))
    with pytest.raises(IRError, match="not declared"):
        verify(Kernel("k", (), (Assign("v", Const(0, dt.i32)),)))
    with pytest.raises(IRError, match="parallel loop must be the last"):
        verify(Kernel("k", (), (Loop("i", 2, (), "parallel"), Loop("j", 2, ()))))


def test_buffer_access():
    assert buffer_access(saxpy()) == (frozenset({"x", "y"}), frozenset({"y"}))


def test_render_and_run_saxpy_with_threads():
    be = CpuBackend(CpuOptions(threads=2))
    k = saxpy()
    plan = OpPlan("saxpy", (k,), (BufferSpec("x", dt.f32, (37,), "input"),
                                  BufferSpec("y", dt.f32, (37,), "output")),
                  (Step("saxpy", ("x", "y")),))
    kernels, dumps = be.lower(plan.kernels, dump=True)
    assert list(dumps) == ["verify", "llvm", "jit", "bind"]
    assert "define void @saxpy(ptr noalias %x, ptr noalias %y, float %a, i64 %__start" in \
        dumps["llvm"][1]
    x = np.arange(37, dtype=np.float32)
    y = np.ones(37, np.float32)
    be.launcher.run(kernels["saxpy"], [x, y, 2.0])
    np.testing.assert_allclose(y, 2 * x + 1)


def test_jit_cache_is_keyed_by_ir_hash():
    ir = render_module([saxpy()], jit_cpu.cpu_target())
    assert jit_cpu.compile_ir(ir) is jit_cpu.compile_ir(ir)
    before = jit_cpu.cache_size()
    CpuBackend().compile(dense_plan(3, 4, 5))
    CpuBackend().compile(dense_plan(3, 4, 5))
    assert jit_cpu.cache_size() == before + 1


def test_disk_cache_writes_object(tmp_path):
    ir = render_module([saxpy()], jit_cpu.cpu_target()).replace("saxpy", "saxpy_disk")
    jit_cpu.compile_ir(ir, cache_dir=tmp_path)
    assert list(tmp_path.glob("*.o"))


def test_host_target_features_and_vector_width():
    info = jit_cpu.host_info()
    assert info.cpu and "+" in info.features
    assert info.vector_bits in (128, 256, 512)


def test_int8_gemm_reaches_widening_multiply_add():
    """The int8 pair micro-kernel's IR is shaped so LLVM selects pmaddwd (or VNNI vpdpwssd);
    the quad micro-kernel calls vpdpbusd on a VNNI host."""
    if jit_cpu.host_info().vector_bits < 256:
        pytest.skip("host has no AVX2")
    vl = jit_cpu.host_info().f32_lanes
    pairs = dense_plan(64, 64, 64, "i8", tile=TileShape(6, 2, vl, True))
    asm = jit_cpu.assembly(render_module(pairs.kernels, jit_cpu.cpu_target()))
    assert "vpmaddwd" in asm or "vpdpwssd" in asm
    asm32 = jit_cpu.assembly(render_module(dense_plan(64, 64, 64).kernels, jit_cpu.cpu_target()))
    assert "vfmadd231ps" in asm32
    if has_vnni():
        assert default_tile(True).quads
        quads = jit_cpu.assembly(render_module(dense_plan(64, 64, 64, "i8").kernels,
                                               jit_cpu.cpu_target()))
        assert "vpdpbusd" in quads


def test_muladd_quads_spelt_out_without_vnni_is_exact(monkeypatch):
    """Without avx512vnni the quad multiply-add is rendered as plain IR: still exact (u8 x i8
    products at the extremes, the +128 correction, odd K)."""
    target = replace(jit_cpu.cpu_target(), features=frozenset())
    monkeypatch.setattr(jit_cpu, "cpu_target", lambda: target)
    plan = dense_plan(5, 259, 33, "i8", bias=True, tile=TileShape(4, 2, 16, True, True))
    ir = render_module(plan.kernels, target)
    assert "vpdpbusd" not in ir and "zext <64 x i8>" in ir
    be = CpuBackend(CpuOptions(threads=1))
    rng = np.random.default_rng(0)
    for a_val, b_val in ((-128, -128), (127, -128), (-128, 127), (None, None)):
        a = np.full((5, 259), a_val, np.int8) if a_val is not None else \
            rng.integers(-128, 128, (5, 259), dtype=np.int8)
        b = np.full((259, 33), b_val, np.int8) if b_val is not None else \
            rng.integers(-128, 128, (259, 33), dtype=np.int8)
        bias = rng.integers(-1000, 1000, 33, dtype=np.int32)
        got = be.compile(plan)(a, b, bias)
        np.testing.assert_array_equal(got, a.astype(np.int64) @ b.astype(np.int64) + bias)
    be.launcher.close()


def test_shuffle_verify_and_transpose_block(cpu):
    """The conv kernels' register transpose: ``transpose_block`` of 16 rows, run for real."""
    with pytest.raises(IRError, match="shuffle"):
        verify(Kernel("k", (Param("x", dt.i32),), (Store("x", Const(0, dt.i64), Shuffle(
            Const(0, dt.i32, 4), Const(0, dt.i32, 4), (0, 8))),)))
    vl = 16
    rows = [Load("x", Const(r * vl, dt.i64), dt.i32, vl) for r in range(vl - 3)]
    lets, cols = transpose_block("t", rows, vl)
    body = (*lets, *[Store("y", Const(j * vl, dt.i64), c) for j, c in enumerate(cols)])
    k = Kernel("transpose16", (Param("x", dt.i32), Param("y", dt.i32)), body)
    plan = OpPlan("transpose16", (k,), (BufferSpec("x", dt.i32, (vl * vl,), "input"),
                                        BufferSpec("y", dt.i32, (vl * vl,), "output")),
                  (Step("transpose16", ("x", "y")),))
    x = np.arange(vl * vl, dtype=np.int32)
    want = x.reshape(vl, vl).copy()
    want[vl - 3:] = 0  # missing rows are zeros
    np.testing.assert_array_equal(cpu.compile(plan)(x).reshape(vl, vl), want.T)


def test_verify_rejects_bad_muladd_quads():
    acc = Const(0, dt.i32, 16)
    ok = MulAddQuads(acc, Const(1, dt.u8, 64), Const(1, dt.i8, 64))
    verify(Kernel("k", (Param("x", dt.i32),), (Store("x", Const(0, dt.i64), ok),)))
    for bad in (MulAddQuads(acc, Const(1, dt.i8, 64), Const(1, dt.i8, 64)),
                MulAddQuads(acc, Const(1, dt.u8, 32), Const(1, dt.i8, 32))):
        with pytest.raises(IRError, match="muladd_quads"):
            verify(Kernel("k", (Param("x", dt.i32),), (Store("x", Const(0, dt.i64), bad),)))


def test_registry():
    assert set(BACKENDS) == {"cpu", "nvptx"}
    assert isinstance(get_backend("cpu", threads=1), CpuBackend)
    with pytest.raises(KeyError, match="unknown backend"):
        get_backend("tpu")
    with pytest.raises(ValueError, match="threads"):
        CpuOptions(threads=0)
