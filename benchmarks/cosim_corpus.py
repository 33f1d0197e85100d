"""Does the random co-simulation corpus see data and timing?  Mutants of the simulator decide.

Simulator == RTL over random programs proves something only if the programs compute and
stall, so that a wrong data or timing effect would change their bytes or cycles.  This runs
the random corpus (``tests/programs/random_programs.py``, seeds 0..n-1; no hand-written
programs) on the unmutated simulator and on each mutant of ``tests/programs/mutants.py``, and
reports, measured on the simulator (``tests/programs/sensitivity.py``):

* the fraction of programs with a non-zero GEMM product and with non-zero output bytes
  (on ``default``; goal 0.9 or more each),
* how many programs show each stall kind,
* per mutant and preset, how many programs kill it (other bytes, other cycles, or an error);
  a mutant counts as killed when programs on every preset kill it.

    python benchmarks/cosim_corpus.py             # 200 programs on default and tiny
    python benchmarks/cosim_corpus.py --quick     # 10 programs on default (smoke test)

The exit status is 1 when a mutant survives (except with ``--quick``, whose few programs
need not kill them all).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.programs import sensitivity  # noqa: E402
from tests.programs.mutants import MUTANTS  # noqa: E402
from tests.programs.random_programs import random_bundle  # noqa: E402
from vta_hw.config import PRESETS  # noqa: E402
from vta_hw.isa import TOKEN_QUEUE_NAMES  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--programs", type=int, default=200, help="random programs per preset")
    ap.add_argument("--presets", default="default,tiny",
                    help="comma-separated presets (the fractions are on default)")
    ap.add_argument("--quick", action="store_true", help="10 programs on default (smoke test)")
    args = ap.parse_args(argv)
    n = 10 if args.quick else args.programs
    presets = ["default"] if args.quick else [p.strip() for p in args.presets.split(",")
                                              if p.strip()]
    unknown = [p for p in presets if p not in PRESETS]
    if unknown or n < 1:
        ap.error(f"unknown preset(s) {unknown}; choose from {sorted(PRESETS)}" if unknown
                 else "--programs must be at least 1")
    if "default" not in presets:
        presets.insert(0, "default")
    t0 = time.perf_counter()
    kills: dict[str, dict[str, int]] = {}
    fractions = (0.0, 0.0)
    print(f"{n} random programs per preset (seeds 0..{n - 1})\n")
    print(f"{'preset':<12} {'gemm!=0':>8} {'out!=0':>8}  " +
          "  ".join(f"{k:>19}" for k in sensitivity.STALL_KINDS))
    for preset in presets:
        cfg = PRESETS[preset]
        bundles = [random_bundle(cfg, seed) for seed in range(n)]
        measured = [sensitivity.profile(b) for b in bundles]
        profiles, refs = [p for p, _ in measured], [r for _, r in measured]
        gemm = sum(p.nonzero_gemm for p in profiles) / n
        out = sum(p.nonzero_output for p in profiles) / n
        if preset == "default":
            fractions = (gemm, out)
        stalls = [sum(k in p.stalls for p in profiles) for k in sensitivity.STALL_KINDS]
        full = {q: sum(q in p.full_queues for p in profiles) for q in TOKEN_QUEUE_NAMES}
        print(f"{preset:<12} {gemm:>8.2f} {out:>8.2f}  " +
              "  ".join(f"{s:>19}" for s in stalls))
        print(f"{'':<12} token queues found full: " +
              ", ".join(f"{q} {k}" for q, k in full.items()))
        kills[preset] = sensitivity.kills(MUTANTS, bundles, refs, first_only=False)
    print(f"\n{'mutant':<26} {'kind':<7} " + " ".join(f"{p:>12}" for p in presets) +
          "  what it breaks")
    killed = 0
    for m in MUTANTS:
        counts = [kills[p][m.name] for p in presets]
        dead = all(counts)
        killed += dead
        print(f"{m.name:<26} {m.kind:<7} " + " ".join(f"{c:>8}/{n:<3}" for c in counts) +
              f"  {m.description}{'' if dead else '  <- SURVIVES'}")
    print(f"\n{time.perf_counter() - t0:.1f} s")
    print(f"cosim_corpus: programs={n} nonzero_gemm_frac={fractions[0]:.2f} "
          f"nonzero_output_frac={fractions[1]:.2f} mutants={len(MUTANTS)} killed={killed}")
    return 0 if args.quick or killed == len(MUTANTS) else 1


if __name__ == "__main__":
    sys.exit(main())
