"""What the autotuner tunes: a :class:`Workload`, and schedules as JSON.

A workload is an operator up to what does not change its program's timing (its name and
its epilogue's immediates: :func:`~compiler.schedule.heuristic.timing_equivalent`), the
config and the layout options.  Its :attr:`Workload.key` is stable across processes and
sessions (a digest of the canonical operator and options, plus the config hash), so a
tuning log written for one model serves every layer of the same shape, in any model.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from compiler.api import canonical_options
from compiler.errors import ScheduleError
from compiler.layout import LayoutOptions
from compiler.schedule.candidates import ScheduleSpace, candidates
from compiler.schedule.heuristic import timing_equivalent
from compiler.schedule.space import AluSchedule, GemmSchedule, Schedule
from opset import Conv2d, Dense, DepthwiseConv2d, Elementwise, GlobalAvgPool, Pool2d
from opset.serialize import op_from_json, op_to_json
from vta_hw.config import HwConfig

GEMM_OPS = (Conv2d, DepthwiseConv2d, Dense)
ALU_OPS = (Elementwise, Pool2d, GlobalAvgPool)
SCHEDULE_TYPES: dict[str, type] = {"gemm": GemmSchedule, "alu": AluSchedule}


def canonical_op(op: Any) -> Any:
    """``op`` without what does not change its program's cycles: the name always, and for
    GEMM operators the epilogue's immediates (:func:`timing_equivalent`)."""
    if isinstance(op, GEMM_OPS):
        return timing_equivalent(op)
    if isinstance(op, ALU_OPS):
        return dataclasses.replace(op, name="op")
    raise ScheduleError(f"{getattr(op, 'name', op)!r}: {type(op).__name__} has no schedule "
                        f"space to tune (conv2d, depthwise, dense, element-wise, pooling)")


def options_to_json(options: LayoutOptions) -> dict[str, Any]:
    return {"input_halo": None if options.input_halo is None else list(options.input_halo),
            "output_halo": list(options.output_halo), "im2col": options.im2col}


def options_from_json(d: dict[str, Any]) -> LayoutOptions:
    halo = d.get("input_halo")
    return LayoutOptions(input_halo=None if halo is None else tuple(halo),
                         output_halo=tuple(d.get("output_halo", (0, 0))),
                         im2col=d.get("im2col"))


def schedule_to_json(s: Schedule) -> dict[str, Any]:
    """``{"type": "gemm"|"alu", field: value, ...}``."""
    kind = next((k for k, t in SCHEDULE_TYPES.items() if isinstance(s, t)), None)
    if kind is None:
        raise ScheduleError(f"{type(s).__name__} is not a schedule")
    return {"type": kind, **dataclasses.asdict(s)}


def schedule_from_json(d: Any) -> Schedule:
    """The schedule :func:`schedule_to_json` wrote (fields checked by name)."""
    if not isinstance(d, dict) or d.get("type") not in SCHEDULE_TYPES:
        raise ScheduleError(f"a schedule is a JSON object with type 'gemm' or 'alu', got {d!r}")
    cls = SCHEDULE_TYPES[d["type"]]
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names - {"type"})
    if unknown:
        raise ScheduleError(f"{d['type']} schedule: unknown field(s) {unknown}")
    return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class Workload:
    """One tuning task.  Build it with :meth:`of` (which canonicalises the operator)."""

    op: Any
    cfg: HwConfig
    options: LayoutOptions = LayoutOptions()

    @classmethod
    def of(cls, op: Any, cfg: HwConfig, options: LayoutOptions | None = None) -> Workload:
        """The workload of ``op``: the op canonicalised, and the options resolved for it
        (:func:`~compiler.api.canonical_options`: ``im2col=None`` as the op resolves it,
        no ``input_halo`` as the op's own padding), so options that differ only in form,
        which compile the same program, give one key."""
        op = canonical_op(op)
        return cls(op, cfg, canonical_options(op, cfg, options or LayoutOptions()))

    @cached_property
    def key(self) -> str:
        """``<kind>-<digest of the canonical op and options>@<config hash>``."""
        text = json.dumps({"op": op_to_json(self.op), "options": options_to_json(self.options)},
                          sort_keys=True)
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        return f"{self.op.kind}-{digest}@{self.cfg.config_hash()}"

    @cached_property
    def space(self) -> ScheduleSpace:
        """Every legal schedule (:func:`~compiler.schedule.candidates.candidates`)."""
        return candidates(self.op, self.cfg, self.options)

    def describe(self) -> str:
        """A short human name: the operator's kind and shape."""
        fields = [f"{f.name}={getattr(self.op, f.name)}" for f in dataclasses.fields(self.op)
                  if f.name not in ("name", "epilogue", "pad_value", "steps")]
        return f"{self.op.kind}({', '.join(fields)})"

    def to_json(self) -> dict[str, Any]:
        return {"op": op_to_json(self.op), "cfg": json.loads(self.cfg.to_json(None)),
                "options": options_to_json(self.options)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Workload:
        return cls(op_from_json(d["op"]), HwConfig.from_json(json.dumps(d["cfg"])),
                   options_from_json(d.get("options", {})))
