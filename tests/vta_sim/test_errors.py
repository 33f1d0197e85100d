"""Every error path: a specific exception, and a one-line CLI message with exit status 2."""

import pytest

from vta_hw import isa
from vta_hw.bundle import Bundle, BundleBuilder, ConfigMismatchError
from vta_hw.config import DEFAULT, TINY
from vta_sim import (
    DeadlockError,
    HazardError,
    IllegalInstructionError,
    OutOfRangeError,
    simulate,
)

M = isa.MemType


def bundle(insns, cfg=TINY, data=256, uops=None):
    bb = BundleBuilder(cfg)
    bb.add("data", bytes(data))
    prog = list(insns)
    if uops:
        r = bb.add_uops("uops", uops)
        prog.insert(0, isa.Load(mem=M.UOP, dram_base=r.addr // 4, y_size=1, x_size=len(uops),
                                x_stride=len(uops)))
    bb.set_program(prog)
    return bb.build()


def test_deadlock_pop_never_pushed_names_instruction_module_queue():
    b = bundle([isa.Gemm(uop_end=1, iter_out=1, iter_in=1, pop_prev=True), isa.Finish()])
    with pytest.raises(DeadlockError) as e:
        simulate(b)
    msg = str(e.value)
    assert "compute instruction 0 (GEMM)" in msg
    assert "load->compute" in msg and "pushes only 0 token(s)" in msg


def test_deadlock_cycle():
    b = bundle([isa.Load(mem=M.INP, y_size=1, x_size=1, x_stride=1, pop_next=True,
                         push_next=True),
                isa.Gemm(uop_end=1, iter_out=1, iter_in=1, pop_prev=True, push_prev=True),
                isa.Finish()])
    with pytest.raises(DeadlockError) as e:
        simulate(b)
    msg = str(e.value)
    assert "load instruction 0" in msg and "compute->load" in msg
    assert "compute instruction 1" in msg and "load->compute" in msg


def test_out_of_range_sram():
    b = bundle([isa.Load(mem=M.INP, sram_base=TINY.inp_buff_depth - 2, y_size=1, x_size=4,
                         x_stride=4), isa.Finish()])
    with pytest.raises(OutOfRangeError, match=r"inp elements \[254, 258\) exceed"):
        simulate(b)


def test_out_of_range_dram():
    b = bundle([isa.Load(mem=M.WGT, dram_base=10_000, y_size=1, x_size=1, x_stride=1),
                isa.Finish()])
    with pytest.raises(OutOfRangeError, match="exceed the .*-byte DRAM image"):
        simulate(b)
    b = bundle([isa.Store(dram_base=10_000, y_size=1, x_size=1, x_stride=1), isa.Finish()])
    with pytest.raises(OutOfRangeError, match="DRAM"):
        simulate(b)


def test_out_of_range_micro_op_index():
    b = bundle([isa.Gemm(uop_end=1, iter_out=2, iter_in=1, dst_factor_out=200,
                         dst_factor_in=100), isa.Finish()], uops=[isa.Uop(dst=100)])
    with pytest.raises(OutOfRangeError, match="iteration 1 dst index 300 exceeds the acc"):
        simulate(b)


def test_hazard_inside_the_accumulator_window():
    b = bundle([isa.Gemm(uop_bgn=0, uop_end=1, iter_out=3, iter_in=1), isa.Finish()],
               uops=[isa.Uop()])
    with pytest.raises(HazardError, match="read-after-write window is 4"):
        simulate(b)


def test_undecodable_instruction():
    b = bundle([isa.Finish()])
    dram = bytearray(b.dram)
    dram[b.insn_addr] = 7  # opcode 7 does not exist
    bad = Bundle(b.config, bytes(dram), b.insn_addr, b.insn_count)
    with pytest.raises(IllegalInstructionError, match="instruction 0: unknown opcode 7"):
        simulate(bad)


def test_missing_or_misplaced_finish():
    with pytest.raises(IllegalInstructionError, match="no FINISH"):
        simulate(bundle([isa.Nop()]))
    with pytest.raises(IllegalInstructionError, match="must be the last"):
        simulate(bundle([isa.Finish(), isa.Nop()]))


def test_config_hash_mismatch():
    with pytest.raises(ConfigMismatchError, match="built for config 'tiny'"):
        simulate(bundle([isa.Finish()]), DEFAULT)


@pytest.mark.parametrize("case, fragment", [
    ("deadlock", "deadlock: compute instruction 0"),
    ("range", "exceed"),
    ("mismatch", "built for config"),
    ("missing", "does not exist"),
])
def test_cli_one_line_errors(tmp_path, capsys, case, fragment):
    from vta.cli import main

    path = tmp_path / "b.vtab"
    args = ["sim", str(path)]
    if case == "deadlock":
        bundle([isa.Gemm(uop_end=1, iter_out=1, iter_in=1, pop_prev=True), isa.Finish()]
               ).save(path)
    elif case == "range":
        bundle([isa.Load(mem=M.WGT, dram_base=10_000, y_size=1, x_size=1, x_stride=1),
                isa.Finish()]).save(path)
    elif case == "mismatch":
        bundle([isa.Finish()]).save(path)
        args += ["--preset", "default"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and fragment in err
    assert err.count("\n") == 1
