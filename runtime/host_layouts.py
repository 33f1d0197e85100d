"""Which host-program tensors stay channel-blocked between CPU kernels: decided once, at load.

Why: a convolution computes a tile of pixels x output channels in registers, which is
already the blocked layout (:class:`opset.layout.ActLayout`: ``[N][C/16][H+2h][W+2w][16]``)
the next convolution reads.  Writing NCHW and packing it again in the next op cost a
transpose and a copy per convolution (~10% of ResNet-18, more on MobileNet-v2's pointwise
convolutions).  So a tensor is kept blocked when the kernel writing it and every kernel
reading it take the blocked layout, and its halo is as wide as its widest reader's padding
(zero: written once, at allocation, never by a kernel), so no reader packs it.  A tensor
stays NCHW when it is a model output, or when anything else reads it (a numpy step, a view,
an accelerator or GPU step, a kernel without a blocked form): packing then happens only
where an NCHW tensor meets a blocked reader (the model input, inside the first
convolution's own ``pack_x``), and unpacking only in a kernel that writes NCHW (global
average pooling before the classifier).

This module is the one place that decides; the kernels are told their operands' layouts
(:class:`BlockedUse` says what each can take) and nothing else transposes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from opset.layout import ActLayout


@dataclass(frozen=True)
class BlockedUse:
    """What one compiled step can do with blocked activations.

    ``reads``: operand (kernel argument name) -> the halo ``(h, w)`` it needs when that
    operand is blocked (a convolution's padding; 0 for a reader that checks bounds).
    ``writes``: whether it can write its output blocked.  ``tied``: operands that are
    blocked exactly when the output is (a fused residual is read in the output's layout;
    a max pool goes blocked to blocked).  ``fill``: the value the halo of the operands it
    reads with a halo must hold (an int8 convolution's input zero point; f32: 0)."""

    reads: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    writes: bool = False
    tied: frozenset[str] = frozenset()
    fill: int = 0


@dataclass(frozen=True)
class Node:
    """A compiled step as the planner sees it: its operands (kernel name -> tensor), its
    output tensor and what it can do blocked."""

    operands: Mapping[str, str]
    output: str
    use: BlockedUse


def plan_layouts(nodes: Mapping[int, Node], readers: Mapping[str, Iterable[int]],
                 shapes: Mapping[str, tuple[int, ...]], outputs: Iterable[str], block: int
                 ) -> dict[str, ActLayout]:
    """The blocked tensors and their layouts (absent: NCHW), ``block`` channels a block.

    ``nodes``: compiled step index -> :class:`Node`; ``readers``: tensor -> the indices of
    every step that reads it, already mapped to the compiled step that computes it (a step
    fused into another counts as that one; one that is not a key of ``nodes`` reads NCHW);
    ``shapes``: tensor shapes; ``outputs``: model outputs (always NCHW).

    The largest set where every constraint holds: start from every 4-D tensor a node can
    write blocked, drop one whose some reader cannot take it, whose readers need different
    halo values (:attr:`BlockedUse.fill`) or whose tied operands or output went NCHW,
    until nothing changes (dropping only ever removes options)."""
    outs = set(outputs)
    producer = {n.output: i for i, n in nodes.items()}
    blocked = {t for t, i in producer.items()
               if nodes[i].use.writes and t not in outs and len(shapes[t]) == 4
               and len(_fills(nodes, t, readers.get(t, ()))) <= 1}

    def reader_ok(t: str, j: int) -> bool:
        node = nodes.get(j)
        if node is None:
            return False
        names = [k for k, v in node.operands.items() if v == t]
        return bool(names) and all(k in node.use.reads and (
            k not in node.use.tied or node.output in blocked) for k in names)

    def tied_ok(t: str) -> bool:
        node = nodes[producer[t]]
        return all(node.operands[k] in blocked for k in node.use.tied)

    changed = True
    while changed:
        changed = False
        for t in sorted(blocked):
            if not tied_ok(t) or not all(reader_ok(t, j) for j in readers.get(t, ())):
                blocked.discard(t)
                changed = True
    layouts = {}
    for t in sorted(blocked):
        halo = [0, 0]
        for j in readers.get(t, ()):
            node = nodes[j]
            for k, v in node.operands.items():
                if v == t:
                    halo = [max(a, b) for a, b in zip(halo, node.use.reads[k], strict=True)]
        n, c, h, w = shapes[t]
        layouts[t] = ActLayout(n, c, h, w, block, 1, (halo[0], halo[1]))
    return layouts


def _fills(nodes: Mapping[int, Node], t: str, readers: Iterable[int]) -> set[int]:
    """The halo values tensor ``t``'s readers need (those reading it with a halo)."""
    return {nodes[j].use.fill for j in readers if j in nodes
            for k, v in nodes[j].operands.items()
            if v == t and any(nodes[j].use.reads.get(k, (0, 0)))}


def halo_fill(nodes: Mapping[int, Node], t: str, readers: Iterable[int]) -> int:
    """The value blocked tensor ``t``'s halo holds: what its readers pad with (the planner
    keeps blocked only tensors whose readers agree); 0 when none reads the halo."""
    return next(iter(_fills(nodes, t, readers)), 0)


__all__ = ["BlockedUse", "Node", "halo_fill", "plan_layouts"]
