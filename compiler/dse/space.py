"""The space of a design-space sweep: a JSON file of HwConfig values.

::

    {"base": "default-85f",                      # a preset name or a config object
     "axes": {"gemm": ["1x8x8", "1x16x16"],       # cartesian product of the axes
              "log_inp_buff_depth": [10, 11],
              "target_clock_mhz": [75, 100]},
     "points": [{"gemm": "1x8x16", "dram_latency": 16}]}   # explicit extra points

Keys of ``axes`` and of each explicit point are HwConfig fields (``vta config show``), plus
``gemm``: the GEMM shape as ``BATCHxBLOCK_INxBLOCK_OUT`` (powers of two), which sets
``log_batch``, ``log_block_in`` and ``log_block_out``.  A malformed file is one error naming
the key; a combination the config rejects (an out buffer deeper than the acc buffer, a
micro-op too wide) is kept as an *invalid* point with the config's reason, so one bad corner
of a product does not stop the sweep.  Points with the same hardware (config hash) are
listed once.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from vta_hw.config import PRESETS, ConfigError, HwConfig
from vta_hw.errors import VtaError

GEMM_KEY = "gemm"
_TOP_KEYS = ("base", "axes", "points")


class SpaceError(VtaError, ValueError):
    """The space file is malformed; the message names the key."""


@dataclass(frozen=True)
class Point:
    """One point of the space.  values: the keys the space set (axis values and explicit
    overrides, as written); cfg: its config (None when the config rejects the combination,
    ``reason`` says why)."""

    name: str
    values: tuple[tuple[str, Any], ...]
    cfg: HwConfig | None
    reason: str = ""

    @property
    def key(self) -> str:
        """The cache key: the config hash (the name for an invalid point)."""
        return self.cfg.config_hash() if self.cfg is not None else f"invalid-{self.name}"


def _fields() -> dict[str, type]:
    return {f.name: f.type for f in fields(HwConfig) if f.init and f.name != "name"}


def _log2(v: int, what: str) -> int:
    if v < 1 or v & (v - 1):
        raise SpaceError(f"{what}: {v} is not a power of two")
    return v.bit_length() - 1


def gemm_fields(text: Any, where: str) -> dict[str, int]:
    """``"1x16x16"`` -> ``log_batch``, ``log_block_in``, ``log_block_out``."""
    parts = str(text).lower().split("x") if isinstance(text, str) else []
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise SpaceError(f"{where}: {text!r} is not a GEMM shape BATCHxBLOCK_INxBLOCK_OUT "
                         "(e.g. \"1x16x16\")")
    b, i, o = (int(p) for p in parts)
    return {"log_batch": _log2(b, where), "log_block_in": _log2(i, where),
            "log_block_out": _log2(o, where)}


def _check_value(key: str, value: Any, where: str) -> None:
    known = _fields()
    if key == GEMM_KEY:
        gemm_fields(value, where)
        return
    if key not in known:
        raise SpaceError(f"{where}: unknown key {key!r}; expected a HwConfig field "
                         f"({', '.join(sorted(known))}) or {GEMM_KEY!r}")
    want_float = key == "target_clock_mhz"
    ok = (isinstance(value, (int, float)) if want_float else isinstance(value, int))
    if not ok or isinstance(value, bool):
        raise SpaceError(f"{where}: {value!r} is not {'a number' if want_float else 'an integer'}")


def _overrides(values: dict[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in values.items():
        _check_value(k, v, f"{where}.{k}")
        out.update(gemm_fields(v, f"{where}.{k}") if k == GEMM_KEY else {k: v})
    return out


def _base(spec: Any) -> HwConfig:
    if spec is None:
        return PRESETS["default"]
    if isinstance(spec, str):
        if spec not in PRESETS:
            raise SpaceError(f"base: unknown preset {spec!r}; known presets: {sorted(PRESETS)}")
        return PRESETS[spec]
    if isinstance(spec, dict):
        try:
            return HwConfig.from_dict({"name": "base", **spec})
        except (ConfigError, TypeError) as e:
            raise SpaceError(f"base: {e}") from None
    raise SpaceError(f"base: expected a preset name or a config object, got "
                     f"{type(spec).__name__}")


def parse_space(data: Any) -> list[Point]:
    """The points of a space (module docstring), in file order: the axes' product first
    (the first axis varies slowest), then the explicit points."""
    if not isinstance(data, dict):
        raise SpaceError(f"the space must be a JSON object with keys {list(_TOP_KEYS)}, got "
                         f"{type(data).__name__}")
    extra = sorted(set(data) - set(_TOP_KEYS))
    if extra:
        raise SpaceError(f"unknown top-level key(s) {extra}; expected {list(_TOP_KEYS)}")
    base = _base(data.get("base"))
    axes = data.get("axes", {})
    if not isinstance(axes, dict):
        raise SpaceError(f"axes: expected an object of key -> list of values, got "
                         f"{type(axes).__name__}")
    for k, vs in axes.items():
        if not isinstance(vs, list) or not vs:
            raise SpaceError(f"axes.{k}: expected a non-empty list of values, got {vs!r}")
        for j, v in enumerate(vs):
            _check_value(k, v, f"axes.{k}[{j}]")
    explicit = data.get("points", [])
    if not isinstance(explicit, list):
        raise SpaceError(f"points: expected a list of objects, got {type(explicit).__name__}")
    combos: list[tuple[dict[str, Any], str]] = []
    if axes:
        keys = list(axes)
        for vals in itertools.product(*(axes[k] for k in keys)):
            combos.append((dict(zip(keys, vals, strict=True)), "axes"))
    for j, p in enumerate(explicit):
        if not isinstance(p, dict):
            raise SpaceError(f"points[{j}]: expected an object of key -> value, got "
                             f"{type(p).__name__}")
        combos.append((p, f"points[{j}]"))
    if not combos:
        raise SpaceError("the space has no points: give 'axes' (a product) or 'points' (a list)")
    out: list[Point] = []
    seen: set[str] = set()
    for values, where in combos:
        changes = _overrides(values, where)
        name = f"p{len(out):03d}"
        try:
            cfg = base.replace(name=name, **changes)
        except ConfigError as e:
            out.append(Point(name, tuple(values.items()), None, str(e)))
            continue
        h = cfg.config_hash()
        if h in seen:
            continue
        seen.add(h)
        out.append(Point(name, tuple(values.items()), cfg))
    return out


def load_space(path: str | Path) -> list[Point]:
    """The points of the space file ``path``; SpaceError naming the file and the key."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SpaceError(f"--space {str(p)!r}: cannot be read ({e})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise SpaceError(f"--space {str(p)!r}: not valid JSON ({e})") from None
    try:
        return parse_space(data)
    except SpaceError as e:
        raise SpaceError(f"--space {str(p)!r}: {e}") from None


__all__ = ["Point", "SpaceError", "parse_space", "load_space", "gemm_fields", "GEMM_KEY"]
