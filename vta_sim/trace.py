"""Chrome / Perfetto trace export (open in ui.perfetto.dev or chrome://tracing).

One track per module; every instruction is a slice from its issue to its retire cycle, and
the cycles a module waited before issuing are a "wait" slice naming what it waited for.
Timestamps are microseconds at the config's target clock; ``args.cycle`` keeps exact cycles.
"""

from __future__ import annotations

import json
from pathlib import Path

from vta_sim.simulator import SimResult
from vta_sim.stats import MODULES


def trace_events(result: SimResult) -> list[dict]:
    mhz = result.stats.clock_mhz
    tid = {m: i for i, m in enumerate(MODULES)}
    events: list[dict] = [{"name": "process_name", "ph": "M", "pid": 0,
                           "args": {"name": f"vta ({result.stats.config_name})"}}]
    events += [{"name": "thread_name", "ph": "M", "pid": 0, "tid": tid[m], "args": {"name": m}}
               for m in MODULES]
    for i, (start, dispatch) in enumerate(result.fetch_records):
        events.append({"name": "fetch", "ph": "X", "pid": 0, "tid": tid["fetch"],
                       "ts": start / mhz, "dur": (dispatch + 1 - start) / mhz,
                       "args": {"insn": i, "cycle": start}})
    for r in result.records:
        events.append({"name": r.name, "ph": "X", "pid": 0, "tid": tid[r.module],
                       "ts": r.issue / mhz, "dur": (r.retire + 1 - r.issue) / mhz,
                       "args": {"insn": r.index, "cycle": r.issue, "body": r.body.total,
                                "push_stall": r.push_stall}})
        waits = ((f"wait token {r.token_queue}", r.issue - r.wait_token, r.wait_token),
                 ("wait command", r.issue - r.wait_token - r.wait_cmd, r.wait_cmd))
        for name, start, cycles in waits:
            if cycles:
                events.append({"name": name, "ph": "X", "pid": 0, "tid": tid[r.module],
                               "cat": "stall", "ts": start / mhz, "dur": cycles / mhz,
                               "args": {"insn": r.index, "cycles": cycles}})
    return events


def write_trace(result: SimResult, path: str | Path) -> Path:
    p = Path(path)
    p.write_text(json.dumps({"traceEvents": trace_events(result), "displayTimeUnit": "ns",
                             "otherData": {"cycles": result.cycles,
                                           "config_hash": result.stats.config_hash}}))
    return p
