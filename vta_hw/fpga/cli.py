"""Command-line helpers of the FPGA flow: ``--seed`` parsing and the seed-sweep summary.

The ``vta hw bitstream`` and ``vta hw synth`` commands themselves live with the rest of the CLI
in ``vta/commands/hw.py``; ``benchmarks/fpga_default.py`` shares these two helpers.
"""

from __future__ import annotations

import argparse


def parse_seeds(text: str) -> tuple[int, ...]:
    """``--seed`` values: ``3``, ``1,2,5`` or ``1-4`` (combinable: ``1-3,7``)."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        lo, sep, hi = part.partition("-")
        try:
            if sep:
                a, b = int(lo), int(hi)
                if b < a:
                    raise ValueError
                seeds += range(a, b + 1)
            else:
                seeds.append(int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r}: expected a seed (3), a list (1,2,5) or a range (1-4) of "
                "non-negative integers") from None
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"{text!r}: a seed is repeated")
    return tuple(seeds)


def seed_sweep_lines(details: dict) -> str:
    """One line per seed of a sweep (empty for a single seed)."""
    lines = []
    for r in details.get("seed_sweep", []):
        what = (f"Fmax {r['fmax_mhz']:.2f} MHz, timing {'met' if r['timing_met'] else 'not met'}"
                if "fmax_mhz" in r else
                "stopped (another seed met timing)" if r.get("stopped") else
                f"failed: {r.get('error', '?').splitlines()[0]}")
        secs = f" ({r['seconds']:.0f} s)" if "seconds" in r else ""
        lines.append(f"  seed {r['seed']:>3}: {what}{secs}{'  <- kept' if r['kept'] else ''}")
    return "".join(line + "\n" for line in lines)


__all__ = ["parse_seeds", "seed_sweep_lines"]
