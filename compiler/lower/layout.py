"""Pass ``layout``: choose the blocked DRAM layout of every operand of the operator.

Activations feeding the GEMM core are blocked by ``block_in`` (INP elements), results and
ALU operands by ``block_out`` (OUT / ACC8 elements); channels pad to whole blocks (a
depthwise input pads to whole *output* blocks, since each output block reads bo/bi input
blocks); the input halo defaults to the operator's padding (``LayoutOptions``).  Per-channel
epilogue vectors are packed into one ``consts`` tensor of int32 acc elements.  The
program's tensors come out of this pass; ``compiler/layout.py`` packs host arrays into them.
"""

from __future__ import annotations

from dataclasses import replace

from compiler.errors import UnsupportedError
from compiler.ir import Program, TensorDecl
from compiler.layout import (
    ConstLayout,
    DenseLayout,
    DepthwiseWgtLayout,
    Im2colLayout,
    LayoutOptions,
    WgtLayout,
)
from opset import Conv2d, Dense, DepthwiseConv2d, Elementwise, GlobalAvgPool, Pool2d
from opset.layout import ActLayout
from vta_hw import isa

M = isa.MemType


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def choose_layouts(p: Program) -> Program:
    cfg, op = p.cfg, p.op
    opts = p.options or LayoutOptions()
    b, bi, bo = cfg.batch, cfg.block_in, cfg.block_out
    t: list[TensorDecl] = []
    if isinstance(op, (Conv2d, DepthwiseConv2d)):
        halo = opts.input_halo if opts.input_halo is not None else op.pad
        o = op.out_channels
        if isinstance(op, DepthwiseConv2d):
            if bo % bi:
                raise UnsupportedError(f"depthwise conv2d needs block_out ({bo}) to be a "
                                       f"multiple of block_in ({bi}) on {cfg.name!r}")
            x = ActLayout(op.n, op.c, op.h, op.w, bi, b, tuple(halo),
                          c_blocks=_ceil(op.c, bo) * (bo // bi))
            w = DepthwiseWgtLayout(op.c, op.kh, op.kw, bo, bi)
        elif opts.use_im2col(op, bi):
            x = Im2colLayout(op.n, op.c, op.h, op.w, op.kh, op.kw, op.stride, op.pad, bi, b)
            w = WgtLayout(op.o, op.c * op.kh * op.kw, 1, 1, bo, bi)
        else:
            x = ActLayout(op.n, op.c, op.h, op.w, bi, b, tuple(halo))
            w = WgtLayout(op.o, op.c, op.kh, op.kw, bo, bi)
        t += [TensorDecl("x", "input", M.INP, x, ("x",)),
              TensorDecl("w", "input", M.WGT, w, ("w",))]
        y = ActLayout(op.n, o, op.ho, op.wo, bo, b, tuple(opts.output_halo))
        res = ActLayout(op.n, o, op.ho, op.wo, bo, b)
    elif isinstance(op, Dense):
        o = op.o
        t += [TensorDecl("x", "input", M.INP, DenseLayout(op.n, op.i, bi, b), ("x",)),
              TensorDecl("w", "input", M.WGT, WgtLayout(op.o, op.i, 1, 1, bo, bi), ("w",))]
        y = res = DenseLayout(op.n, op.o, bo, b)
    elif isinstance(op, Elementwise):
        n, c, h, w_ = op.shape
        t.append(TensorDecl("a", "input", M.ACC8, ActLayout(n, c, h, w_, bo, b), ("a",)))
        if op.binary:
            t.append(TensorDecl("b", "input", M.ACC8, ActLayout(n, c, h, w_, bo, b), ("b",)))
        t.append(TensorDecl("y", "output", M.OUT,
                            ActLayout(n, c, h, w_, bo, b, tuple(opts.output_halo)), ("y",)))
        return replace(p, tensors=tuple(t), stage="layout")
    elif isinstance(op, Pool2d):
        halo = opts.input_halo if opts.input_halo is not None else op.pad
        t.append(TensorDecl("x", "input", M.ACC8,
                            ActLayout(op.n, op.c, op.h, op.w, bo, b, tuple(halo)), ("x",)))
        t.append(TensorDecl("y", "output", M.OUT,
                            ActLayout(op.n, op.c, op.ho, op.wo, bo, b, tuple(opts.output_halo)),
                            ("y",)))
        return replace(p, tensors=tuple(t), stage="layout")
    elif isinstance(op, GlobalAvgPool):
        t.append(TensorDecl("x", "input", M.ACC8,
                            ActLayout(op.n, op.c, op.h, op.w, bo, b), ("x",)))
        t.append(TensorDecl("y", "output", M.OUT, ActLayout(op.n, op.c, 1, 1, bo, b), ("y",)))
        return replace(p, tensors=tuple(t), stage="layout")
    else:
        raise UnsupportedError(f"no accelerator lowering for {type(op).__name__}")
    ep = op.epilogue
    rows = ep.const_rows()
    if rows:
        t.append(TensorDecl("consts", "input", M.ACC, ConstLayout(rows, o, bo, b), rows))
    if ep.residual:
        t.append(TensorDecl("residual", "input", M.ACC8, res, ("residual",)))
    t.append(TensorDecl("y", "output", M.OUT, y, ("y",)))
    return replace(p, tensors=tuple(t), stage="layout")


__all__ = ["choose_layouts"]
