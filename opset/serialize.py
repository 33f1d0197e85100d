"""JSON round trip of operator descriptions: what a compiled module stores as a host kernel.

An op description is data (a frozen dataclass of ints, tuples, an :class:`~opset.Epilogue`
and its :class:`~opset.Requant`), so it is written as a JSON object with its ``kind`` and
its fields, and read back into an equal object: ``op_from_json(op_to_json(op)) == op``.
Reading validates exactly as constructing does (the dataclasses' own checks), so a
tampered description fails with an :class:`~opset.errors.OpError` naming what is wrong.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from opset.elementwise import AluStep, Elementwise
from opset.errors import OpError
from opset.gemm_ops import Conv2d, Dense, DepthwiseConv2d
from opset.pooling import GlobalAvgPool, Pool2d
from opset.requant import Epilogue, Requant

OP_CLASSES = {cls.kind: cls for cls in (Conv2d, DepthwiseConv2d, Dense, Elementwise, Pool2d,
                                        GlobalAvgPool)}


def _plain(v: Any) -> Any:
    if isinstance(v, Epilogue):
        return epilogue_to_json(v)
    if isinstance(v, AluStep):
        return {"op": v.op, "operand": v.operand}
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    return v


def epilogue_to_json(ep: Epilogue) -> dict[str, Any]:
    rq = ep.requant
    return {"bias": ep.bias, "residual": ep.residual, "relu": ep.relu,
            "clip": None if ep.clip is None else list(ep.clip), "offset": ep.offset,
            "requant": None if rq is None else dataclasses.asdict(rq)}


def epilogue_from_json(d: Any) -> Epilogue:
    if not isinstance(d, dict):
        raise OpError(f"an epilogue is a JSON object, got {type(d).__name__}")
    try:
        rq = d.get("requant")
        return Epilogue(bias=bool(d.get("bias", False)),
                        requant=None if rq is None else Requant(**rq),
                        residual=bool(d.get("residual", False)), relu=bool(d.get("relu", False)),
                        clip=None if d.get("clip") is None else tuple(d["clip"]),
                        offset=d.get("offset", 0))
    except TypeError as e:
        raise OpError(f"malformed epilogue {d!r}: {e}") from None


def op_to_json(op: Any) -> dict[str, Any]:
    """``{"kind": ..., field: value, ...}`` of an :mod:`opset` operator."""
    if type(op) not in OP_CLASSES.values():
        raise OpError(f"{type(op).__name__} is not an opset operator")
    return {"kind": op.kind, **{f.name: _plain(getattr(op, f.name))
                                for f in dataclasses.fields(op)}}


def op_from_json(d: Any) -> Any:
    """The operator :func:`op_to_json` wrote (validated by its constructor)."""
    if not isinstance(d, dict):
        raise OpError(f"an operator description is a JSON object, got {type(d).__name__}")
    cls = OP_CLASSES.get(d.get("kind"))
    if cls is None:
        raise OpError(f"unknown operator kind {d.get('kind')!r}; expected one of "
                      f"{sorted(OP_CLASSES)}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names - {"kind"})
    if unknown:
        raise OpError(f"{d['kind']}: unknown field(s) {unknown}")
    kw: dict[str, Any] = {}
    for k in names & set(d):
        v = d[k]
        if k == "epilogue":
            v = epilogue_from_json(v)
        elif k == "steps":
            if not isinstance(v, list):
                raise OpError(f"{d['kind']}: steps must be a list")
            v = tuple(AluStep(**s) if isinstance(s, dict) else s for s in v)
        elif isinstance(v, list):
            v = tuple(v)
        kw[k] = v
    try:
        return cls(**kw)
    except TypeError as e:
        raise OpError(f"malformed {d['kind']} description: {e}") from None


__all__ = ["op_to_json", "op_from_json", "epilogue_to_json", "epilogue_from_json",
           "OP_CLASSES"]
