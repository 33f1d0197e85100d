"""The schedule space as a value: its axes and size, lazy legal enumeration, capacity
pruning that never drops a legal point, indexing, sampling, features, the default heuristic
as a ranking over it (pinned to the choices of the loops it replaced), and the layering
that lets the schedule layer sit below the lowering passes."""

from __future__ import annotations

import itertools
import json
import time

import numpy as np
import pytest

from compiler import (
    AluSchedule,
    AluStep,
    Conv2d,
    Dense,
    DepthwiseConv2d,
    Elementwise,
    Epilogue,
    GemmSchedule,
    GlobalAvgPool,
    Pool2d,
    Requant,
    ScheduleError,
    check_schedule,
    compile_op,
    default_schedule,
)
from compiler.pipeline import estimate_cycles
from compiler.schedule import FEATURE_NAMES, candidates, features
from compiler.schedule.candidates import FOLDS, MAX_VIRTUAL_THREADS, balanced
from compiler.schedule.features import feature_matrix
from opset import reference
from tests.compiler import schedule_sweep
from vta_hw.config import DEFAULT, TINY, WIDE

EP = Epilogue(requant=Requant(shift=8), relu=True)
SMALL_CONV = Conv2d(1, 8, 6, 6, 8, 3, 3, (1, 1), (1, 1), EP, name="small")
SMALL_DENSE = Dense(1, 8, 8, EP, name="fc")


def _inputs(op, rng: np.random.Generator) -> dict[str, np.ndarray]:
    out = {}
    for t in op.inputs():
        if t.name == "multiplier":
            out[t.name] = rng.integers(-500, 500, t.shape).astype(np.int32)
        elif t.name == "shift":
            out[t.name] = rng.integers(0, 32, t.shape).astype(np.int32)
        elif t.dtype == "int8":
            out[t.name] = rng.integers(-128, 128, t.shape).astype(np.int8)
        else:
            out[t.name] = rng.integers(-(1 << 16), 1 << 16, t.shape).astype(np.int32)
    return out


# ----------------------------------------------------------------------------- the space
def test_gemm_space_axes_and_size():
    """One tile size per tile count on each axis, every other choice in full; the size is
    the product (the box is never built)."""
    sp = candidates(SMALL_CONV, TINY)  # 2 channel blocks each way, 6x6 output, 3x3 kernel
    ch = sp.choices()
    assert ch["tile_co"] == (2, 1) and ch["tile_ci"] == (2, 1)
    assert ch["tile_kh"] == (0, 2, 1)  # 0: the whole kernel
    assert ch["tile_h"] == ch["tile_w"] == (6, 3, 2, 1)
    assert ch["virtual_threads"] == tuple(range(1, MAX_VIRTUAL_THREADS + 1))
    assert ch["loop_fold"] == FOLDS and len(FOLDS) == 31 and FOLDS[0] is None
    assert sp.size == 2 * 2 * 3 * 4 * 4 * 4 * 2 * 31 * 2 * 2 * 2 == 380928
    assert sp.describe() == ("small on tiny: 380,928 points (tile_co 2 x tile_ci 2 x tile_kh 3 "
                             "x tile_h 4 x tile_w 4 x virtual_threads 4 x order 2 x loop_fold "
                             "31 x hoist_weights 2 x hoist_input 2 x ramp 2)")
    big = candidates(Conv2d(1, 512, 7, 7, 512, 3, 3, (1, 1), (1, 1), EP), DEFAULT)
    assert big.size == 11 * 11 * 3 * 5 * 5 * 4 * 2 * 31 * 8  # balanced(7): 7, 4, 3, 2, 1
    dw = candidates(DepthwiseConv2d(1, 32, 8, 8, 3, 3, (1, 1), (1, 1), EP), TINY)
    assert dw.choices()["tile_ci"] == (1,)  # depthwise reduces over its diagonal blocks
    assert balanced(56) == [56, 28, 19, 14, 12, 10, 8, 7, 6, 5, 4, 3, 2, 1]


def test_alu_space_axes_and_size():
    pool = Pool2d(1, 32, 16, 16, "max", 3, 3, (2, 2), (1, 1), name="mp")
    sp = candidates(pool, TINY)  # 8 channel blocks, 8x8 output
    ch = sp.choices()
    assert ch["tile_c"] == (8, 4, 3, 2, 1) and ch["tile_h"] == (8, 4, 3, 2, 1)
    assert ch["tile_w"] == (0, 4, 3, 2, 1)  # 0: the whole row
    assert sp.size == 5 * 5 * 5 * MAX_VIRTUAL_THREADS
    gap = candidates(GlobalAvgPool(1, 16, 5, 5), TINY)
    assert gap.choices()["tile_w"] == (0,)
    with pytest.raises(ScheduleError, match="no schedule space for"):
        candidates(object(), TINY)


def test_indexing_round_trips():
    sp = candidates(SMALL_CONV, TINY)
    rng = np.random.default_rng(0)
    for i in rng.integers(0, sp.size, 200):
        s = sp[int(i)]
        assert sp.index(s) == i
    assert sp[0] == GemmSchedule(2, 2, 6, 6, 0, 1, "co_outer", None, True, True, False)
    assert sp[sp.size - 1].ramp and sp[sp.size - 1].loop_fold == FOLDS[-1]
    with pytest.raises(IndexError):
        sp[sp.size]
    with pytest.raises(ValueError, match="tile_h=5 is not a choice"):
        sp.index(GemmSchedule(2, 2, 5, 6))


def test_enumeration_is_exactly_the_legal_members_of_the_box():
    """Brute force over every point of a small box: iteration (capacity pruning first)
    yields exactly the members that pass the legality check, in index order."""
    sp = candidates(SMALL_DENSE, TINY)
    assert sp.size == 2 * 2 * 1 * 1 * 1 * 4 * 2 * 31 * 8
    want = []
    for i in range(sp.size):
        s = sp[i]
        if not sp.is_member(s):
            continue
        try:
            check_schedule(SMALL_DENSE, s, TINY)
        except ScheduleError:
            continue
        want.append((i, s))
    got = list(sp.enumerate())
    assert got == want
    assert 0 < len(got) < sp.size and sp.count() == len(got)


def test_capacity_pruning_never_drops_a_legal_point():
    """``fits`` is exact on what it decides: a tile combination it rejects breaks a buffer
    limit in the legality check, and one it accepts passes the capacity checks."""
    for op, cfg in ((SMALL_CONV, TINY),
                    (DepthwiseConv2d(1, 16, 6, 6, 3, 3, (2, 2), (1, 1), EP), TINY),
                    (Conv2d(1, 16, 6, 6, 8, 3, 3, (1, 1), (1, 1),
                            Epilogue(bias=True, requant=Requant(per_channel=True),
                                     residual=True)), TINY)):
        sp = candidates(op, cfg)
        fits = sp.fits
        ch = sp.choices()
        names = ("tile_co", "tile_ci", "tile_kh", "tile_h", "tile_w", "virtual_threads")
        rejected = 0
        for coords in itertools.product(*(range(len(ch[n])) for n in names)):
            s = GemmSchedule(**{n: ch[n][c] for n, c in zip(names, coords, strict=True)})
            try:
                check_schedule(op, s, cfg)
                assert fits[coords], s
            except ScheduleError as e:
                if not fits[coords]:
                    rejected += 1
                    assert "buff" in str(e) or "acc tiles" in str(e), (s, e)
                else:
                    assert "uop buffer" in str(e), (s, e)  # not a capacity limit
        assert rejected > 0


def test_illegal_points_are_excluded():
    """The whole 6x6 image with both channel blocks in four virtual threads overflows the
    tiny input buffer: a point of the box, not a legal member."""
    sp = candidates(SMALL_CONV, TINY)
    big = GemmSchedule(2, 2, 6, 6, 0, 4)
    assert sp.is_member(big) and not sp.is_legal(big)
    assert "inp buffer" in sp.violation(big)
    head = list(itertools.islice(iter(sp), 3000))
    assert head and big not in head
    assert all(sp.is_legal(s) for s in head[::50])
    # a duplicate program is not a member: one input-channel block leaves nothing to ramp
    assert not sp.is_member(GemmSchedule(2, 1, 6, 6, ramp=True))
    assert not sp.is_member(GemmSchedule(2, 2, 6, 6, order="spatial_outer"))  # one co tile


def test_sampling_and_neighbours_stay_legal():
    sp = candidates(SMALL_CONV, TINY)
    rng = np.random.default_rng(1)
    sample = sp.sample(rng, 40)
    assert len(sample) == len(set(sample)) == 40
    for s in sample[:10]:
        check_schedule(SMALL_CONV, s, TINY)
        for t in sp.neighbours(s):
            check_schedule(SMALL_CONV, t, TINY)
            diff = [a.name for a in sp.axes if getattr(s, a.name) != getattr(t, a.name)]
            assert len(diff) == 1
    est = sp.estimate_count(np.random.default_rng(2), draws=400)
    assert 0 < est < sp.size


def test_enumeration_is_lazy():
    """The first legal points of a ResNet-18-sized space come at once (nothing is
    materialised but the capacity array)."""
    op = Conv2d(1, 64, 56, 56, 64, 3, 3, (1, 1), (1, 1), EP, name="C2")
    t = time.perf_counter()
    sp = candidates(op, DEFAULT)
    first = list(itertools.islice(iter(sp), 100))
    assert len(first) == 100 and sp.size > 10_000_000
    assert time.perf_counter() - t < 30


# ------------------------------------------------------------- candidates compile and run
SAMPLED = [
    (SMALL_CONV, TINY),
    (Conv2d(1, 12, 7, 5, 8, 3, 3, (2, 1), (1, 1),
            Epilogue(bias=True, requant=Requant(multiplier=3, shift=9), relu=True)), TINY),
    (DepthwiseConv2d(1, 8, 6, 6, 3, 3, (1, 1), (1, 1), EP), TINY),
    (Dense(3, 20, 12, Epilogue(requant=Requant(per_channel=True))), TINY),
    (Conv2d(1, 16, 5, 5, 16, 3, 3, (1, 1), (1, 1),
            Epilogue(requant=Requant(shift=7), residual=True)), WIDE),
    (Elementwise((1, 8, 5, 6), (AluStep("add"), AluStep("max", 0))), TINY),
    (Pool2d(1, 8, 9, 9, "avg", 3, 3, (2, 2), (1, 1)), TINY),
    (GlobalAvgPool(1, 12, 5, 5), TINY),
]


@pytest.mark.parametrize("op, cfg", SAMPLED, ids=lambda v: getattr(v, "name", None))
def test_sampled_candidates_compile_and_match_the_reference(op, cfg):
    """Random legal members (forced folds, no hoisting, ramps, 1-4 virtual threads among
    them) compile and compute the numpy reference's bits on the simulator.  (The
    lowering's estimate is not checked here: on odd points such as 1x1 tiles with a forced
    fold it is off by up to ~40%, so a tuner measures on the simulator.)"""
    from vta_sim import simulate

    sp = candidates(op, cfg)
    rng = np.random.default_rng(7)
    inputs = _inputs(op, rng)
    want = reference.run(op, inputs)
    for s in sp.sample(rng, 4):
        c = compile_op(op, cfg, s)
        b = c.bundle(inputs)
        r = simulate(b)
        np.testing.assert_array_equal(c.unpack_output(r.read(b, "y")), want, err_msg=str(s))


# ------------------------------------------------------------------------------ features
def test_features_are_finite_named_and_vary():
    sp = candidates(Conv2d(1, 16, 8, 8, 16, 3, 3, (1, 1), (1, 1),
                           Epilogue(bias=True, requant=Requant(shift=6))), TINY)
    sample = sp.sample(np.random.default_rng(3), 12)
    X = feature_matrix(sp.op, TINY, sample, estimate=estimate_cycles)
    assert X.shape == (12, len(FEATURE_NAMES)) and np.isfinite(X).all()
    col = dict(zip(FEATURE_NAMES, X.T, strict=True))
    for name in ("tile_h", "n_tiles", "slot_inp", "fill_acc", "dram_bytes", "dram_transfers",
                 "uops", "arith_intensity", "cost_model", "estimated_cycles"):
        assert len(set(col[name])) > 1, name
    assert (col["macs"] == col["macs"][0]).all() and col["kind_conv"].all()
    for s, row in zip(sample, X, strict=True):
        assert row[FEATURE_NAMES.index("estimated_cycles")] == estimate_cycles(sp.op, s, TINY)
        assert row[FEATURE_NAMES.index("virtual_threads")] == s.virtual_threads
    alu = Pool2d(1, 8, 9, 9, "max", 3, 3, (2, 2), (1, 1))
    s = AluSchedule(2, 2, 0, 1)
    check_schedule(alu, s, TINY)
    f = features(alu, TINY, s, estimate=estimate_cycles)
    assert f.shape == (len(FEATURE_NAMES),) and np.isfinite(f).all()
    assert f[FEATURE_NAMES.index("kind_alu")] == 1 and f[FEATURE_NAMES.index("uops")] > 0
    with pytest.raises(TypeError, match="needs a GemmSchedule"):
        features(sp.op, TINY, AluSchedule(1, 1), estimate=estimate_cycles)


# ---------------------------------------------------------------- the default heuristic
GOLDEN = json.loads(schedule_sweep.GOLDEN.read_text())
# the sweep's cases that run by default; the rest (slow on the tiny preset) with -m slow
FAST = {"C2-default", "C4-default", "C8-default", "C8-default-vt1", "C11-default",
        "dense-512x10-tiny", "stem-3ch-tiny", "dw3x3-s2-default", "conv3x3-residual-wide",
        "conv1x1-s2-chan-default", "dense-33x100x200-wide", "stem-3ch-noim2col-tiny",
        "add-tiny", "rescale-default", "maxpool-tiny", "avgpool-default", "gap-tiny"}


def _sweep_params():
    out = []
    for name, op, cfg, options, vt in schedule_sweep.cases():
        marks = () if name in FAST else (pytest.mark.slow,)
        out.append(pytest.param(name, op, cfg, options, vt, id=name, marks=marks))
    return out


def test_the_golden_table_covers_the_sweep():
    names = [c[0] for c in schedule_sweep.cases()]
    assert sorted(names) == sorted(GOLDEN) and FAST <= set(names)


@pytest.mark.parametrize("name, op, cfg, options, vt", _sweep_params())
def test_default_schedule_is_the_one_the_loops_chose(name, op, cfg, options, vt):
    """The ranking over the space picks what the nested loops it replaced picked (the
    golden table was written by them)."""
    got = schedule_sweep.as_dict(default_schedule(op, cfg, options, virtual_threads=vt))
    assert got == GOLDEN[name]


def test_default_schedule_is_a_legal_member_of_the_space():
    for name, op, cfg, options, vt in schedule_sweep.cases():
        if name not in FAST:
            continue
        s = default_schedule(op, cfg, options, virtual_threads=vt)
        assert candidates(op, cfg, options).is_legal(s), name


# ----------------------------------------------------------------------------- layering
def _schedule_closure(sources: dict[str, tuple[str, str]]) -> dict[str, str]:
    """Every project module the schedule layer's modules import, directly or through each
    other (lazy imports inside functions included): module -> the importer that pulled it."""
    from tests.spec.test_layering import imports_of

    known = set(sources)
    todo = [m for m in sources if m == "compiler.schedule" or m.startswith("compiler.schedule.")]
    seen = {m: "" for m in todo}
    while todo:
        mod = todo.pop()
        rel, source = sources[mod]
        for _, target in imports_of(source, mod, rel.endswith("__init__.py"), known):
            if target in known and target not in seen:
                seen[target] = mod
                todo.append(target)
    return seen


FORBIDDEN = ("compiler.lower", "compiler.pipeline", "compiler.api", "compiler.graph")


def _forbidden(closure: dict[str, str]) -> list[str]:
    return [f"{m} (imported by {by})" for m, by in closure.items()
            if m == "compiler" or any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]


def test_the_schedule_layer_does_not_import_the_lowering():
    """``compiler/lower`` reads schedules; the schedule layer (space, tiles, loops,
    legality, candidates, features, heuristic) must not reach back into it, the pipeline
    or anything above, even lazily: the import cycle this replaced ran through
    ``legality -> lower.tensorize`` and ``heuristic -> lower.tiling``."""
    from tests.spec.test_layering import project_sources

    closure = _schedule_closure(project_sources())
    assert "compiler.schedule.space" in closure and "compiler.schedule.features" in closure
    assert not _forbidden(closure), _forbidden(closure)


@pytest.mark.parametrize("source", [
    "def f():\n    from compiler.lower.tensorize import tensorize\n",
    "from compiler.pipeline import estimate_cycles\n",
    "import compiler\n",
])
def test_the_layering_check_sees_a_planted_import(source):
    from tests.spec.test_layering import project_sources

    sources = project_sources()
    sources["compiler.schedule._probe"] = ("compiler/schedule/_probe.py", source)
    assert _forbidden(_schedule_closure(sources))
