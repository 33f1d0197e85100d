"""Schedules: legality names the violated limit; loop folding respects every field and the
accumulator hazard window; the default heuristic is legal and beats naive tilings."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler import (
    AluSchedule,
    AluStep,
    Conv2d,
    Dense,
    DepthwiseConv2d,
    Elementwise,
    Epilogue,
    GemmSchedule,
    LayoutOptions,
    Pool2d,
    Requant,
    ScheduleError,
    check_schedule,
    compile_op,
    default_schedule,
)
from compiler.ir import Dim
from compiler.lower.tensorize import expand_plan
from compiler.pipeline import estimate_cycles
from compiler.schedule.legality import gemm_uops
from compiler.schedule.loops import hazard_free, plan_loops, sequence
from vta_hw import isa
from vta_hw.config import DEFAULT, TINY, WIDE

EP = Epilogue(requant=Requant(shift=8), relu=True)


def conv(**kw) -> Conv2d:
    args = dict(n=1, c=64, h=14, w=14, o=64, kh=3, kw=3, stride=1, pad=1, epilogue=EP)
    args.update(kw)
    return Conv2d(**args)


@pytest.mark.parametrize("sched, match", [
    (GemmSchedule(4, 4, 14, 14, virtual_threads=2), r"inp buffer: 2 virtual thread\(s\) x 4 "
     r"channel block\(s\) x 16 rows x 16 columns = 2048 elements > inp_buff_depth 256"),
    (GemmSchedule(4, 2, 1, 4, virtual_threads=1), r"wgt buffer: 1 virtual thread\(s\) x 4 "
     r"output block\(s\) x 2 input block\(s\) x 3 x 3 taps = 72 elements > wgt_buff_depth 64"),
    (GemmSchedule(1, 1, 1, 1, order="zigzag"), r"order='zigzag' must be one of"),
    (GemmSchedule(0, 1, 1, 1), r"tile_co=0 must be an integer >= 1"),
    (GemmSchedule(1, 1, 1, 14, virtual_threads=1, loop_fold="oh,ow"),
     r"breaks the accumulator read-after-write window"),
    (GemmSchedule(1, 1, 1, 14, virtual_threads=1, loop_fold="co,nope"),
     r"must name two different loop dims"),
])
def test_legality_names_the_limit(sched, match):
    with pytest.raises(ScheduleError, match=match):
        check_schedule(conv(c=16, o=16), sched, TINY)


def test_out_buffer_limit():
    op = conv(c=4, o=16, kh=1, kw=1, pad=0)
    with pytest.raises(ScheduleError, match=r"acc tiles: 1 virtual thread\(s\) x 2 block\(s\) "
                       r"x 14 x 14 pixels = 392 elements > out_buff_depth 256"):
        check_schedule(op, GemmSchedule(2, 1, 14, 14, virtual_threads=1), TINY)


def test_uop_buffer_limit():
    op = conv(c=4, o=4, h=12, w=12, kh=5, kw=5, pad=2)
    # folding the unit co/ci dims leaves 25 taps x 12 pixels per kernel, one per slot
    s = GemmSchedule(1, 1, 1, 12, virtual_threads=2, loop_fold="co,ci")
    with pytest.raises(ScheduleError, match=r"uop buffer: .* > uop_buff_depth 512"):
        check_schedule(op, s, TINY)


def test_dma_pad_limit():
    op = conv(c=16, o=16, h=8, w=8, kh=3, kw=3, pad=17)
    with pytest.raises(ScheduleError, match=r"pad field; store the padding as a halo"):
        check_schedule(op, GemmSchedule(1, 1, 1, 8), DEFAULT, LayoutOptions(input_halo=(0, 0)))
    check_schedule(op, default_schedule(op, DEFAULT), DEFAULT)  # with the halo it is fine


def test_wrong_schedule_kind():
    with pytest.raises(ScheduleError, match="needs a GemmSchedule"):
        check_schedule(conv(), AluSchedule(1, 1), DEFAULT)
    with pytest.raises(ScheduleError, match="needs an AluSchedule"):
        check_schedule(Pool2d(1, 16, 8, 8, "max", 2, 2, 2), GemmSchedule(1, 1, 1, 1), DEFAULT)


def test_alu_legality():
    op = Elementwise((1, 64, 16, 16), (AluStep("add"),))
    with pytest.raises(ScheduleError, match=r"acc (tiles|buffer)"):
        check_schedule(op, AluSchedule(4, 16, 16, 2), DEFAULT)


def test_big_kernels_split_their_rows():
    op = conv(c=4, o=4, h=4, w=4, kh=9, kw=9, pad=4)  # 81 taps > 64 weight elements
    assert default_schedule(op, TINY, LayoutOptions(im2col=False)).tile_kh < 9


def test_no_schedule_fits():
    op = conv(c=4, o=4, h=1, w=70, kh=1, kw=65, pad=0)  # one kernel row > 64 weights
    with pytest.raises(ScheduleError, match="no legal schedule for conv2d on 'tiny': even "
                       r"1x1x1 tiles break it: wgt buffer: .* 65 taps = 65 elements > "
                       "wgt_buff_depth 64"):
        default_schedule(op, TINY, LayoutOptions(im2col=False))


dims_st = st.lists(st.tuples(st.integers(1, 7), st.integers(0, 40), st.integers(0, 40),
                             st.booleans()), min_size=1, max_size=5)


@settings(max_examples=60, deadline=None)
@given(spec=dims_st, gemm=st.booleans(), preset=st.sampled_from([TINY, DEFAULT]))
def test_plan_loops_is_hazard_free_and_exact(spec, gemm, preset):
    """The chosen fold respects the window and enumerates exactly the tile's iterations."""
    dims = tuple(Dim(f"d{i}", e, dst=(0 if red else ds), src=s, wgt=s, reduce=red)
                 for i, (e, ds, s, red) in enumerate(spec))
    # parallel dims need distinct accumulators: give them disjoint dst strides
    stride = 1
    fixed = []
    for d in reversed(dims):
        if not d.reduce:
            d = Dim(d.name, d.extent, dst=stride, src=d.src, wgt=d.wgt)
            stride *= d.extent
        fixed.append(d)
    dims = tuple(reversed(fixed))
    plan = plan_loops(dims, preset, gemm)
    window = preset.gemm_pipeline_depth if gemm else preset.alu_pipeline_depth
    order = tuple(i for i in (plan.out, plan.inner) if i is not None) + plan.uops
    assert hazard_free(dims, order, window, False)
    fmt = isa.formats(preset)[isa.Opcode.GEMM if gemm else isa.Opcode.ALU]
    got = []
    for li in expand_plan(dims, plan, (0, 0, 0)):
        assert li.loops["iter_out"] <= fmt.field("iter_out").max
        for u in range(len(li.uops)):
            for i0 in range(li.loops["iter_out"]):
                for i1 in range(li.loops["iter_in"]):
                    got.append(li.uops[u].dst + i0 * li.loops["dst_factor_out"]
                               + i1 * li.loops["dst_factor_in"])
    want = sequence(dims, tuple(range(len(dims))), 0)
    assert sorted(got) == sorted(want.tolist())


def test_gemm_fold_prefers_few_uops():
    dims = (Dim("co", 4, dst=112), Dim("ci", 4, src=464, wgt=9, reduce=True),
            Dim("kh", 3, src=58, wgt=3, reduce=True), Dim("kw", 3, src=1, wgt=1, reduce=True),
            Dim("oh", 2, dst=56, src=58), Dim("ow", 56, dst=1, src=1))
    plan = plan_loops(dims, DEFAULT, True)
    # ci and ow fold into the affine loops; kernels enumerate taps x (co, oh): 8 distinct
    # accumulators between repeats >= gemm_pipeline_depth 5
    assert plan.n_uops(dims) == 9 * 4 * 2 and not plan.split
    assert (dims[plan.out].name, dims[plan.inner].name) == ("ci", "ow")


def test_dense_with_one_output_block_splits_the_reduction():
    """One accumulator per instruction sweep: the reduction unrolls into instructions."""
    dims = (Dim("co", 1, dst=1), Dim("ci", 6, src=1, wgt=1, reduce=True),
            Dim("ow", 2, dst=1, src=6))
    plan = plan_loops(dims, DEFAULT, True)
    assert plan.split and plan.n_instrs(dims) == 6


def test_uop_estimate_matches_program():
    rng = np.random.default_rng(0)
    for cfg in (TINY, DEFAULT, WIDE):
        for _ in range(5):
            c, o, hw = (int(v) for v in rng.integers(1, 40, 3))
            op = conv(c=c, o=o, h=hw, w=hw, epilogue=Epilogue(bias=True, relu=True))
            s = default_schedule(op, cfg)
            assert gemm_uops(op, s, cfg) >= compile_op(op, cfg, s).uop_count


def test_default_schedule_beats_naive_and_estimate_is_exact():
    from vta_sim import simulate

    op = conv(c=64, o=64, h=14, w=14)
    cfg = DEFAULT
    best = default_schedule(op, cfg)
    naive = GemmSchedule(1, 1, 1, 14, virtual_threads=1)
    assert estimate_cycles(op, best, cfg) < 0.6 * estimate_cycles(op, naive, cfg)
    rng = np.random.default_rng(1)
    c = compile_op(op, cfg, best)
    r = simulate(c.bundle({"x": rng.integers(-128, 128, (1, 64, 14, 14), dtype=np.int8),
                           "w": rng.integers(-128, 128, (64, 64, 3, 3), dtype=np.int8)}))
    assert abs(r.cycles - c.estimated_cycles) <= 0.002 * r.cycles + 100


def test_latency_hiding_helps():
    op = Conv2d(1, 256, 7, 7, 256, 3, 3, 1, 1, EP)
    vt2 = estimate_cycles(op, default_schedule(op, DEFAULT), DEFAULT)
    vt1 = estimate_cycles(op, default_schedule(op, DEFAULT, virtual_threads=1), DEFAULT)
    assert vt2 < 0.8 * vt1


def test_dense_default_schedule_is_legal_everywhere():
    for cfg in (TINY, DEFAULT, WIDE):
        for n, i, o in ((1, 1, 1), (1, 512, 10), (33, 100, 200)):
            op = Dense(n, i, o, EP)
            check_schedule(op, default_schedule(op, cfg), cfg)


def _model_gemm_ops(size: int, width: float) -> list:
    """The GEMM operators of small quantized ResNet-18 and MobileNet-v2 models (varied
    requantization immediates per tensor and per channel, clips, biases and residuals)."""
    from compiler.frontend import import_onnx
    from compiler.frontend.model_zoo import mobilenet_v2, resnet18
    from compiler.graph.pipeline import run_quantization

    ops = []
    rng = np.random.default_rng(3)
    for build, per_channel in ((resnet18, True), (mobilenet_v2, True), (resnet18, False)):
        calib = [{"input": rng.standard_normal((1, 3, size, size)).astype(np.float32)}]
        q = run_quantization(import_onnx(build(size=size, width=width)), calib,
                             per_channel=per_channel)
        ops += [n.op for n in q.nodes
                if n.kind == "accel" and isinstance(n.op, (Conv2d, DepthwiseConv2d, Dense))]
    return ops


@pytest.mark.parametrize("cfg", [TINY, DEFAULT], ids=["tiny", "default"])
def test_timing_equivalent_ops_get_the_schedule_and_cycles_of_the_op(cfg):
    """The shared search is only sound if the representative's program takes the op's
    cycles: the op's own search must choose the same schedule, with the same estimate."""
    from compiler.schedule.heuristic import default_gemm_schedule, timing_equivalent

    def search(op, cfg):
        return default_gemm_schedule(op, cfg, estimate_cycles)

    ops = _model_gemm_ops(32, 0.25)
    epilogues = {(op.epilogue.requant, op.epilogue.clip, op.epilogue.residual) for op in ops}
    assert len(ops) > 40 and len(epilogues) > 10  # the immediates really vary
    for op in ops[::3]:
        rep = timing_equivalent(op)
        try:
            s = search(op, cfg)
        except ScheduleError:  # too big for the config: the representative too
            with pytest.raises(ScheduleError):
                search(rep, cfg)
            continue
        assert search(rep, cfg) == s, op.name
        assert estimate_cycles(rep, s, cfg) == estimate_cycles(op, s, cfg), op.name
    # the representatives collapse the repeated blocks
    assert len({timing_equivalent(op) for op in ops}) < len(set(ops))


def test_timing_equivalent_keeps_what_changes_the_instructions():
    from compiler.schedule.heuristic import timing_equivalent

    def conv(**ep):
        return Conv2d(1, 16, 8, 8, 16, 3, 3, pad=(1, 1), epilogue=Epilogue(**ep), name="c")

    same = [conv(requant=Requant(3, 7, 1), relu=True), conv(requant=Requant(5, 9, 2), relu=True)]
    assert timing_equivalent(same[0]) == timing_equivalent(same[1])
    # each of these changes the ALU passes or whether the out mirror can requantize
    differ = [conv(requant=Requant(1, 7)), conv(requant=Requant(1, 0)), conv(requant=Requant(3, 7)),
              conv(requant=Requant(1, 7, 1)), conv(requant=Requant(1, 7), offset=3),
              conv(requant=Requant(1, 7), clip=(5, 127)), conv(requant=Requant(1, 7), relu=True),
              conv(requant=Requant(1, 7), clip=(-128, 100))]
    assert len({timing_equivalent(op) for op in differ}) == len(differ)


def test_wide_elementwise_tiles_fit_the_store_queue():
    """ResNet-50's residual rescale at 14x14x1024: with two virtual threads a tile of 64
    channel blocks (64 stores) overflowed the 32-deep store command queue and the token
    checker found a deadlock; the legality rule makes the default schedule pick a tile
    whose stores fit, and the op compiles and matches its reference."""
    from compiler.graph.quantize.requant import rescale_steps
    from opset import Elementwise, reference
    from vta_hw.config import preset

    cfg = preset("default")
    op = Elementwise((1, 1024, 14, 14), rescale_steps(0.7), name="rescale")
    with pytest.raises(ScheduleError, match="store queue"):
        check_schedule(op, AluSchedule(64, 4, 4, 2), cfg)
    s = default_schedule(op, cfg)
    assert s.virtual_threads == 1 or s.tile_c <= cfg.cmd_queue_depth
    from vta_sim import simulate

    c = compile_op(op, cfg)
    a = np.random.default_rng(0).integers(-128, 128, op.shape, dtype=np.int8)
    b = c.bundle({"a": a})
    got = c.unpack_output(simulate(b).read(b, "y"))
    want = reference.run(op, {"a": a})
    assert np.array_equal(got, want) and want.std() > 0


def test_same_program_schedules_lower_to_the_same_instructions():
    """The search measures one schedule per program: where ``same_program`` maps the
    loop order away, both orders must give the very same instructions; where it keeps it,
    the order must change the program (else the search wastes a measurement)."""
    from compiler.schedule.candidates import same_program
    from compiler.schedule.space import gemm_geometry

    ops = [Conv2d(1, 64, 14, 14, 64, 3, 3, pad=(1, 1), name="c3"),
           Conv2d(1, 32, 28, 28, 64, 1, 1, stride=(2, 2), name="c1s2"),
           Dense(1, 256, 64, name="fc")]
    merged = kept = 0
    for op in ops:
        g = gemm_geometry(op, DEFAULT, LayoutOptions())
        for co in (1, 2, g.cob):
            for th in (1, g.ho):
                s = GemmSchedule(co, 1, th, g.wo, 0, 2, "spatial_outer")
                try:
                    check_schedule(op, s, DEFAULT)
                except ScheduleError:
                    continue
                other = s.replace(order="co_outer")
                a = compile_op(op, DEFAULT, s).instrs
                b = compile_op(op, DEFAULT, other).instrs
                if same_program(g, s) == same_program(g, other):
                    merged += 1
                    assert a == b, (op.name, s)
                else:
                    kept += 1
                    assert a != b, (op.name, s)
    assert merged >= 3 and kept >= 2
