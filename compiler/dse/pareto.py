"""Pareto fronts of a sweep: latency against each FPGA resource.

A point is on the front of resource ``r`` when no other point is at least as fast *and* uses
at most as much of ``r``, with one of the two strictly better.  Only points that compiled,
ran and fit the device are candidates: a point that cannot be built is no design choice.
"""

from __future__ import annotations

from collections.abc import Sequence

RESOURCES = ("lut4", "ff", "dp16kd", "mult18")


def front(points: Sequence[tuple[str, float, float]]) -> list[str]:
    """Names of the non-dominated ``(name, latency, cost)`` points, fastest first."""
    out: list[str] = []
    best_cost = float("inf")
    best_lat = None
    for name, lat, cost in sorted(points, key=lambda p: (p[1], p[2], p[0])):
        if cost < best_cost:
            out.append(name)
            best_cost, best_lat = cost, lat
        elif cost == best_cost and lat == best_lat and out:
            out.append(name)  # the same trade-off twice: both are on the front
    return out


def fronts(results) -> dict[str, list[str]]:
    """For each resource, the front among the results that are ``ok`` and fit."""
    ok = [r for r in results if r.ok and r.fits]
    return {res: front([(r.point.name, r.latency_ms, r.resources[res]["used"]) for r in ok])
            for res in RESOURCES}


def chosen(results):
    """The fastest point that fits (ties: the one using fewer LUTs), or None."""
    ok = [r for r in results if r.ok and r.fits]
    if not ok:
        return None
    return min(ok, key=lambda r: (r.latency_ms, r.resources["lut4"]["used"], r.point.name))


__all__ = ["RESOURCES", "front", "fronts", "chosen"]
