"""Hand-computed cycle counts (tiny preset: L=4, 4 bytes/cycle, inp element 4 bytes, an
instruction read costs R = 4 + 16/4 = 8 cycles, fetch dispatches one instruction every 9).
The derivations are in the comments; docs/timing.md has the rules."""

import re
from pathlib import Path

from vta_hw import isa
from vta_hw.bundle import BundleBuilder
from vta_hw.config import TINY
from vta_sim import simulate

M = isa.MemType


def run(insns, uops=None):
    bb = BundleBuilder(TINY)
    bb.add("data", bytes(1024))
    prog = list(insns)
    if uops is not None:
        r = bb.add_uops("uops", uops)
        prog.insert(0, isa.Load(mem=M.UOP, dram_base=r.addr // 4, y_size=1, x_size=len(uops),
                                x_stride=len(uops)))
    bb.set_program(prog)
    return simulate(bb.build())


def test_finish_only():
    # fetch reads 0..7, dispatches at 8; compute issues at 9, retires at 10: 11 cycles
    assert run([isa.Finish()]).cycles == 11


def test_single_load():
    # LOAD: visible 9, issue 9, body L + 4 elements x 1 = 8 (10..17), retire 18.
    # FINISH: read 9..16, dispatched 17, issue 18, retire 19 -> 20 cycles.
    r = run([isa.Load(mem=M.INP, y_size=1, x_size=4, x_stride=4), isa.Finish()])
    assert r.cycles == 20
    rec = r.records[0]
    assert (rec.issue, rec.retire, rec.body.total) == (9, 18, 8)
    assert (rec.body.dram_latency, rec.body.transfer) == (4, 4)


def test_padded_load():
    # 2 data rows of 3 (+1 left pad), 1 pad row top: pad elements = 3*4 - 6 = 6;
    # body = 6 + L (4, once: the second row's request hides behind the first's data) + 6 = 16
    r = run([isa.Load(mem=M.INP, y_size=2, x_size=3, x_stride=3, y_pad_0=1, x_pad_0=1),
             isa.Finish()])
    assert r.records[0].body.total == 16
    assert r.records[0].body.dram_latency == 4
    assert r.records[0].body.pad == 6


def test_gemm():
    # GEMM of 20 iterations: body 20 + P_gemm (4) = 24; issue 9, retire 34; FINISH issues 35,
    # retires 36 -> 37 cycles
    g = isa.Gemm(uop_bgn=0, uop_end=1, iter_out=10, iter_in=2, dst_factor_out=1,
                 dst_factor_in=10)
    bb = BundleBuilder(TINY)
    bb.set_program([g, isa.Finish()])
    r = simulate(bb.build())
    assert r.records[0].issue == 9 and r.records[0].retire == 34
    assert r.cycles == 37


def test_load_compute_overlap():
    # GEMM issues 9 and retires 34; the LOAD behind it (dispatched 17) runs on the load
    # module 18..27 in parallel; FINISH still issues at 35: the same 37 cycles as alone.
    g = isa.Gemm(uop_bgn=0, uop_end=1, iter_out=10, iter_in=2, dst_factor_out=1,
                 dst_factor_in=10)
    bb = BundleBuilder(TINY)
    bb.set_program([g, isa.Load(mem=M.INP, y_size=1, x_size=4, x_stride=4), isa.Finish()])
    r = simulate(bb.build())
    load = next(x for x in r.records if x.module == "load")
    assert (load.issue, load.retire) == (18, 27)
    assert r.cycles == 37


def test_token_stall():
    # LOAD (4 + 2 rows x 4 = 12) issues 9, retires (pushes) 22; the GEMM, visible at 18,
    # waits for the token until 23 (5 stall cycles), retires 23 + 24 + 1 = 48; FINISH 49..50.
    g = isa.Gemm(uop_bgn=0, uop_end=1, iter_out=10, iter_in=2, dst_factor_out=1,
                 dst_factor_in=10, pop_prev=True)
    bb = BundleBuilder(TINY)
    bb.set_program([isa.Load(mem=M.INP, y_size=2, x_size=4, x_stride=4, push_next=True), g,
                    isa.Finish()])
    r = simulate(bb.build())
    gemm = next(x for x in r.records if x.name == "GEMM")
    assert (gemm.issue, gemm.wait_token, gemm.token_queue) == (23, 5, "load->compute")
    assert r.cycles == 51
    assert r.stats.modules["compute"].stall_token == {"load->compute": 5}


def test_fetch_stalls_on_full_command_queue():
    # A 200-iteration GEMM (issue 9, retire 9 + 204 + 1 = 214) holds the compute queue
    # (depth 8) while 10 NOPs queue behind it. NOP k issues 213 + 2k. Fetch pushes NOP 9
    # when NOP 1's slot frees (216) instead of 89: 127 stall cycles. NOP 10 is read by 225;
    # FINISH is read 226..233, dispatched 234, issues 235 and retires 236 -> 237 cycles.
    g = isa.Gemm(uop_bgn=0, uop_end=1, iter_out=200, iter_in=1, dst_factor_out=1)
    nops = [isa.Nop(module=isa.Module.COMPUTE) for _ in range(10)]
    bb = BundleBuilder(TINY)
    bb.set_program([g, *nops, isa.Finish()])
    r = simulate(bb.build())
    assert r.cycles == 237
    assert r.stats.modules["fetch"].stall_full == {"compute command queue": 127}
    assert r.fetch_records[9] == (81, 216)


def test_push_stalls_on_full_token_queue():
    # Load pushes depth + 2 tokens while compute is busy: the last two pushes wait.
    d = TINY.token_queue_depth
    g = isa.Gemm(uop_bgn=0, uop_end=1, iter_out=200, iter_in=1, dst_factor_out=1)
    prog = [g] + [isa.Nop(module=isa.Module.LOAD, push_next=True) for _ in range(d + 2)]
    prog += [isa.Nop(module=isa.Module.COMPUTE, pop_prev=True) for _ in range(d + 2)]
    bb = BundleBuilder(TINY)
    bb.set_program(prog + [isa.Finish()])
    r = simulate(bb.build())
    assert r.stats.modules["load"].stall_full["load->compute"] > 0
    pushes = [x for x in r.records if x.module == "load"]
    pops = [x for x in r.records if x.name == "NOP" and x.module == "compute"]
    # the (d+1)-th push waits for the first pop: it happens the cycle after that pop
    assert pushes[d].retire == pops[0].issue + 1


# ---- docs/timing.md's worked examples: the page's figures are read and simulated -------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "timing.md"


def doc_examples() -> dict[str, str]:
    """The bullets of the page's "Worked examples" section, keyed by their text up to ':'."""
    text = DOC.read_text(encoding="utf-8").split("## Worked examples", 1)[1].split("\n## ", 1)[0]
    bullets = [" ".join(b.split()) for b in re.split(r"\n\* ", text)[1:]]
    return {b.split(":", 1)[0]: b for b in bullets}


def doc_number(bullet: str, pattern: str) -> int:
    m = re.search(pattern, bullet)
    assert m, f"docs/timing.md: {pattern!r} not found in {bullet!r}"
    return int(m.group(1))


def _gemm20(**flags) -> isa.Gemm:
    return isa.Gemm(uop_bgn=0, uop_end=1, iter_out=10, iter_in=2, dst_factor_out=1,
                    dst_factor_in=10, **flags)


def _simulate(prog):
    bb = BundleBuilder(TINY)
    bb.set_program(prog)
    return simulate(bb.build())


TOTAL = r"\*\*(\d+) cycles\*\*"


def test_doc_worked_examples_match_the_simulator():
    ex = doc_examples()
    assert set(ex) == {"`FINISH` alone", "`LOAD inp (y=1, x=4); FINISH`",
                       "A GEMM of 20 iterations", "Token stall", "Full command queue"}, set(ex)

    r = _simulate([isa.Finish()])
    b = ex["`FINISH` alone"]
    assert r.cycles == doc_number(b, TOTAL)
    assert (r.records[0].issue, r.records[0].retire) == (
        doc_number(b, r"compute issues in (\d+)"), doc_number(b, r"retires in (\d+)"))

    r = _simulate([isa.Load(mem=M.INP, y_size=1, x_size=4, x_stride=4), isa.Finish()])
    b = ex["`LOAD inp (y=1, x=4); FINISH`"]
    load = r.records[0]
    assert r.cycles == doc_number(b, TOTAL)
    assert (load.issue, load.body.total, load.retire) == (
        doc_number(b, r"LOAD issues in (\d+)"), doc_number(b, r"= (\d+)` cycles"),
        doc_number(b, r"it retires in (\d+)"))

    b = ex["A GEMM of 20 iterations"]
    r = _simulate([_gemm20(), isa.Finish()])
    assert r.cycles == doc_number(b, TOTAL)
    assert (r.records[0].body.total, r.records[0].issue, r.records[0].retire) == (
        doc_number(b, r"= (\d+)`"), doc_number(b, r"issue (\d+)"), doc_number(b, r"retire (\d+)"))
    r = _simulate([_gemm20(), isa.Load(mem=M.INP, y_size=1, x_size=4, x_stride=4), isa.Finish()])
    load = next(x for x in r.records if x.module == "load")
    assert r.cycles == doc_number(b, TOTAL)
    assert (load.issue, load.retire) == (doc_number(b, r"cycles (\d+)–"),
                                         doc_number(b, r"cycles \d+–(\d+)"))

    b = ex["Token stall"]
    r = _simulate([isa.Load(mem=M.INP, y_size=2, x_size=4, x_stride=4, push_next=True),
                   _gemm20(pop_prev=True), isa.Finish()])
    load, gemm, finish = r.records
    assert r.cycles == doc_number(b, TOTAL)
    assert (load.body.total, load.issue, load.retire) == (
        doc_number(b, r"= (\d+)` cycles"), doc_number(b, r"issues in (\d+)"),
        doc_number(b, r"retires \(pushes\) in (\d+)"))
    assert gemm.issue - gemm.wait_token == doc_number(b, r"command is visible in (\d+)")
    assert load.retire + 1 == doc_number(b, r"token only in (\d+)")
    assert gemm.wait_token == doc_number(b, r"(\d+) stall cycles on load→compute")
    assert (gemm.retire, finish.retire) == (doc_number(b, r"it retires in (\d+)"),
                                            doc_number(b, r"FINISH in (\d+)"))

    b = ex["Full command queue"]
    r = _simulate([isa.Gemm(uop_bgn=0, uop_end=1, iter_out=200, iter_in=1, dst_factor_out=1),
                   *[isa.Nop(module=isa.Module.COMPUTE) for _ in range(10)], isa.Finish()])
    assert r.cycles == doc_number(b, TOTAL)
    assert r.records[0].retire == doc_number(b, r"holds compute until (\d+)")
    assert r.fetch_records[9][1] == doc_number(b, r"pushes the 9th NOP in (\d+)")
    assert r.stats.modules["fetch"].stall_full == {
        "compute command queue": doc_number(b, r"\((\d+) stall cycles\)")}
