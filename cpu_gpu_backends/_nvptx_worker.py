"""Subprocess worker: LLVM IR text on stdin -> PTX on stdout (see :mod:`.ptx` for why)."""

from __future__ import annotations

import sys

import llvmlite.binding as llvm


def main(arch: str) -> int:
    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()
    mod = llvm.parse_assembly(sys.stdin.read())
    mod.verify()
    tm = llvm.Target.from_triple("nvptx64-nvidia-cuda").create_target_machine(cpu=arch, opt=3)
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)
    sys.stdout.write(tm.emit_assembly(mod))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "sm_80"))
