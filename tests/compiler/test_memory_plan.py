"""The DRAM memory planner: live tensors never share bytes, dead ones do.

Randomized lifetimes are checked against a brute-force pairwise test (independent of the
sweep in ``runtime.memory``), and a planner that ignores liveness -- every tensor placed as
if it lived for one step -- is caught by both checks.
"""

from __future__ import annotations

import numpy as np
import pytest

from compiler.memory_plan import Live, assign_offsets, plan_arena
from runtime.memory import ArenaSlot, aligned, overlapping_live

ALIGN = 64


def random_tensors(rng: np.random.Generator, n: int, steps: int) -> list[Live]:
    out = []
    for i in range(n):
        first = int(rng.integers(0, steps))
        last = first + int(rng.integers(0, 6))
        out.append(Live(0, f"t{i}", f"t{i}", int(rng.integers(1, 3000)), first, last))
    return out


def pairwise_clash(tensors: list[Live], offsets: list[int]) -> tuple[int, int] | None:
    """Two tensors live at a common step whose byte ranges intersect (brute force)."""
    for i, a in enumerate(tensors):
        for j in range(i):
            b = tensors[j]
            live = a.first <= b.last and b.first <= a.last
            share = offsets[i] < offsets[j] + b.nbytes and offsets[j] < offsets[i] + a.nbytes
            if live and share:
                return i, j
    return None


def peak_live_bytes(tensors: list[Live]) -> int:
    """A lower bound of any arena: the most bytes live at one step."""
    last = max(t.last for t in tensors)
    return max(sum(t.nbytes for t in tensors if t.first <= s <= t.last) for s in range(last + 1))


@pytest.mark.parametrize("seed", range(20))
def test_random_lifetimes_never_share_live_bytes(seed):
    rng = np.random.default_rng(seed)
    tensors = random_tensors(rng, int(rng.integers(2, 60)), 30)
    offsets = assign_offsets(tensors, ALIGN)
    assert pairwise_clash(tensors, offsets) is None
    assert all(o % ALIGN == 0 for o in offsets)
    slots, arena, no_reuse = plan_arena(tensors, ALIGN)
    assert overlapping_live(slots) is None
    assert [s.offset for s in slots] == offsets
    ends = [o + t.nbytes for o, t in zip(offsets, tensors, strict=True)]
    assert arena % ALIGN == 0 and arena >= max(ends)
    assert peak_live_bytes(tensors) <= arena <= no_reuse
    assert no_reuse == sum(aligned(t.nbytes, ALIGN) for t in tensors)


def test_reuse_is_real_on_random_lifetimes():
    """Over many tensors with short lifetimes the arena is far below the no-reuse sum."""
    tensors = random_tensors(np.random.default_rng(7), 200, 100)
    _, arena, no_reuse = plan_arena(tensors, ALIGN)
    assert arena < no_reuse / 4


def test_a_chain_reuses_the_buffer_two_steps_back():
    """x -> a -> b -> c -> d, each tensor read by the next op only: two buffers suffice."""
    tensors = [Live(0, n, n, 1000, i, i + 1) for i, n in enumerate("xabcd")]
    slots, arena, no_reuse = plan_arena(tensors, ALIGN)
    assert arena == 2 * aligned(1000, ALIGN) and no_reuse == 5 * aligned(1000, ALIGN)
    off = {s.tensor: s.offset for s in slots}
    assert off["x"] == off["b"] == off["d"] != off["a"] == off["c"]


def test_best_fit_puts_a_small_tensor_into_the_smallest_gap():
    """Placed largest first, each on top: long-lived A, B, C with a 1024-byte gap (M) and a
    256-byte gap (G) between them once M and G are dead; a later 150-byte tensor takes the
    256-byte gap (first fit would take the 1024-byte one)."""
    sized = [("A", 2048, 9), ("M", 1024, 0), ("B", 512, 9), ("G", 256, 0), ("C", 192, 9)]
    tensors = [Live(0, n, n, b, 0, last) for n, b, last in sized]
    slots, _, _ = plan_arena([*tensors, Live(0, "small", "small", 150, 5, 6)], ALIGN)
    off = {s.tensor: s.offset for s in slots}
    assert [off[n] for n, _, _ in sized] == [0, 2048, 3072, 3584, 3840]
    assert off["small"] == off["G"]


def ignoring_liveness(tensors: list[Live], align: int) -> list[int]:
    """The mutant: a planner that takes every tensor to die in the step it is born."""
    return assign_offsets([Live(t.program, t.symbol, t.tensor, t.nbytes, t.first, t.first)
                           for t in tensors], align)


@pytest.mark.parametrize("seed", range(5))
def test_a_planner_that_ignores_liveness_is_caught(seed):
    tensors = random_tensors(np.random.default_rng(100 + seed), 40, 10)
    offsets = ignoring_liveness(tensors, ALIGN)
    assert pairwise_clash(tensors, offsets) is not None
    slots = [ArenaSlot(t.program, t.symbol, t.tensor, o, t.nbytes, t.first, t.last)
             for t, o in zip(tensors, offsets, strict=True)]
    assert overlapping_live(slots) is not None


def test_empty_and_zero_sized():
    assert plan_arena([], ALIGN) == ([], 0, 0)
    slots, arena, _ = plan_arena([Live(0, "z", "z", 0, 0, 3), Live(0, "a", "a", 10, 0, 3)],
                                 ALIGN)
    assert arena == ALIGN and overlapping_live(slots) is None
