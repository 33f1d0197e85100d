"""Lowering passes, one module each, in data-flow order (see ``compiler/pipeline.py``):

layout -> tiling -> tensorize -> alu_epilogue -> dma -> interleave -> tokens -> emit
"""
