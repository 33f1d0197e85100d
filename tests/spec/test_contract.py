"""The contract is written down once: no module outside it defines one of its constants again.

The contract is ``vta_hw/config.py``, ``isa.py`` and ``timing.py``.  Every other module of the
packages is read as an AST (nothing is imported) and each module-level or class-level
assignment of a literal value is checked against what the contract defines:

* a name the contract defines (``ISSUE_CYCLES``, ``UOP_BYTES``, ``ACC_WIDTH``, ...), or a
  member of one of the ISA's enums (``Opcode.LOAD``, ``AluOp.ADD``, ...) with its value;
* a width or size of something the contract sizes: ``<stem>_BITS/_WIDTH/_BYTES/_SIZE``
  where ``<stem>`` is the stem of a contract width (``ACC``, ``UOP``, ``INSN``, ``MODULE``,
  ...), the way ``rtl/alu.py``, ``gemm.py`` and ``outmode.py`` each had ``ACC_BITS = 32``;
* a lane's saturation range (``(-128, 127)``, the int32 bounds) written as a literal;
* a dict literal from dependency flags to modules or token queues (``isa.TOKEN_QUEUES``,
  ``token_queue``, ``push_flag``/``pop_flag`` are the one table).

A value computed from the contract (``INT8_MIN, INT8_MAX = int_range(OUT_WIDTH)``) is not a
literal and passes.
"""

from __future__ import annotations

import ast
import re
from enum import IntEnum
from pathlib import Path

import pytest

from vta_hw import config, isa, timing

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("vta", "compiler", "runtime", "vta_sim", "vta_hw", "cpu_gpu_backends")
CONTRACT_MODULES = (config, isa, timing)
CONTRACT_FILES = {Path(m.__file__).resolve() for m in CONTRACT_MODULES}

_CONST_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
_SIZED = re.compile(r"(?P<stem>[A-Z0-9_]+?)_(BITS|WIDTH|BYTES|SIZE)")


def contract_constants() -> dict[str, object]:
    """UPPER_CASE module constants of the contract (ints, strings and tuples of them)."""
    out = {}
    for mod in CONTRACT_MODULES:
        for k, v in vars(mod).items():
            if _CONST_NAME.fullmatch(k) and isinstance(v, (int, str, tuple)) \
                    and not isinstance(v, bool):
                out[k] = v
    return out


def enum_members() -> dict[str, set[int]]:
    """Member name -> values, over the ISA's enums."""
    out: dict[str, set[int]] = {}
    for v in vars(isa).values():
        if isinstance(v, type) and issubclass(v, IntEnum) and v.__module__ == isa.__name__:
            for m in v:
                out.setdefault(m.name, set()).add(int(m))
    return out


CONSTANTS = contract_constants()
ENUMS = enum_members()
STEMS = {m["stem"] for k in CONSTANTS if (m := _SIZED.fullmatch(k))}
RANGES = {config.int_range(w) for w in (config.INP_WIDTH, config.WGT_WIDTH, config.ACC_WIDTH,
                                        config.OUT_WIDTH)}
BOUNDS = {b for r in RANGES for b in r}
MODULE_WORDS = {m.name.lower() for m in isa.Module} | set(isa.TOKEN_QUEUE_NAMES)


def _literal(node: ast.AST) -> bool:
    """Whether ``node`` is built only of constants (no names: nothing taken from elsewhere)."""
    return not any(isinstance(n, (ast.Name, ast.Attribute, ast.Call)) for n in ast.walk(node))


def _value(node: ast.AST) -> object:
    """The value of a literal expression when it is a number or a tuple of numbers."""
    try:
        v = eval(compile(ast.Expression(node), "<literal>", "eval"), {})  # constants only
    except Exception:
        return None
    ok = isinstance(v, int) or (isinstance(v, tuple) and all(isinstance(x, int) for x in v))
    return v if ok else None


def _sized_stem(name: str) -> str | None:
    m = _SIZED.fullmatch(name.lstrip("_"))
    if not m:
        return None
    stem = m["stem"]
    return next((s for s in STEMS if stem == s or stem.endswith("_" + s)), None)


def _targets(stmt: ast.stmt) -> list[tuple[ast.Name, ast.AST]]:
    if isinstance(stmt, ast.Assign):
        pairs = []
        for t in stmt.targets:
            if isinstance(t, ast.Name):
                pairs.append((t, stmt.value))
            elif isinstance(t, ast.Tuple) and isinstance(stmt.value, ast.Tuple) \
                    and len(t.elts) == len(stmt.value.elts):
                pairs += [(e, v) for e, v in zip(t.elts, stmt.value.elts, strict=True)
                          if isinstance(e, ast.Name)]
            elif isinstance(t, ast.Tuple):
                pairs += [(e, stmt.value) for e in t.elts if isinstance(e, ast.Name)]
        return pairs
    if isinstance(stmt, ast.AnnAssign) and stmt.value is not None \
            and isinstance(stmt.target, ast.Name):
        return [(stmt.target, stmt.value)]
    return []


def _flag_table(node: ast.Dict) -> bool:
    """A dict whose keys name dependency flags and whose values name modules or queues."""
    def strings(n):
        return {c.value for c in ast.walk(n) if isinstance(c, ast.Constant)
                and isinstance(c.value, str)}

    def modules(n):
        return bool(strings(n) & MODULE_WORDS) or any(
            isinstance(a, ast.Attribute) and a.attr in {m.name for m in isa.Module}
            for a in ast.walk(n))

    keys = [k for k in node.keys if k is not None]
    return any(strings(k) & set(isa.DEP_FLAGS) for k in keys) and (
        any(modules(v) for v in node.values) or any(modules(k) for k in keys))


def restatements(source: str, rel: str) -> list[str]:
    """Every place in ``source`` (file ``rel``) that writes a contract constant again."""
    tree = ast.parse(source)
    bad = []
    scopes = [(tree.body, "")] + [(c.body, f"class {c.name}: ") for c in ast.walk(tree)
                                  if isinstance(c, ast.ClassDef)]
    for body, where in scopes:
        for stmt in body:
            if isinstance(stmt, ast.Assign) and _literal(stmt.value) \
                    and _value(stmt.value) in RANGES:
                bad.append(f"{rel}:{stmt.lineno}: {where}{ast.unparse(stmt)} restates a lane "
                           "range (config.int_range)")
                continue
            for name, value in _targets(stmt):
                if not _literal(value):
                    continue
                n, v = name.id, _value(value)
                at = f"{rel}:{stmt.lineno}: {where}{n} = {ast.unparse(value)}"
                if n in CONSTANTS:
                    bad.append(f"{at} restates the contract's {n}")
                elif where and n in ENUMS and v in ENUMS[n]:
                    bad.append(f"{at} restates an ISA enum member")
                elif (stem := _sized_stem(n)) is not None:
                    bad.append(f"{at} restates a width/size of {stem} (take it from the "
                               "config, isa or timing)")
                elif (isinstance(v, tuple) and v in RANGES) or (
                        re.fullmatch(r".*_(MIN|MAX)", n) and v in BOUNDS):
                    bad.append(f"{at} restates a lane range (config.int_range)")
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict) and _flag_table(node):
            bad.append(f"{rel}:{node.lineno}: a dependency-flag-to-queue table (use "
                       "isa.token_queue / push_flag / pop_flag / TOKEN_QUEUES)")
    return bad


def project_files() -> list[Path]:
    return [f for pkg in PACKAGES for f in sorted((ROOT / pkg).rglob("*.py"))
            if f.resolve() not in CONTRACT_FILES]


def test_the_contract_constants_are_found():
    for name in ("ISSUE_CYCLES", "RETIRE_CYCLES", "INSN_BYTES", "UOP_BYTES", "ACC_WIDTH",
                 "OUT_WIDTH", "MODULE_BITS", "DEP_FLAGS", "QUEUE_LATENCY"):
        assert name in CONSTANTS
    assert {"ACC", "UOP", "INSN", "MODULE", "OUT"} <= STEMS
    assert {"LOAD", "GEMM", "ADD", "OUTMODE", "COMPUTE"} <= set(ENUMS)


def test_no_module_outside_the_contract_restates_it():
    bad = [b for f in project_files()
           for b in restatements(f.read_text(), str(f.relative_to(ROOT)))]
    assert not bad, "contract constants written down again:\n" + "\n".join(bad)


@pytest.mark.parametrize("source", [
    "ACC_BITS = 32\n",  # rtl/alu.py, gemm.py, outmode.py before issue 19
    "ISSUE_CYCLES = 1\n",
    "UOP_BYTES = 4\n",
    "class Op:\n    LOAD = 0\n    STORE = 1\n",
    "_MODULE_BITS = 2\n",
    "INSN_SIZE = 16\n",
    "INT8_MIN, INT8_MAX = -128, 127\n",
    "_I8 = (-128, 127)\n",
    "_Q = {('load', 'push_next'): 'load->compute', ('compute', 'pop_prev'): 'load->compute'}\n",
    "def f():\n    return {'push_next': Module.COMPUTE, 'push_prev': None}\n",
])
def test_a_restated_constant_is_reported(source):
    """Each kind of restatement is caught (the check cannot pass vacuously)."""
    assert restatements(source, "probe.py"), source


@pytest.mark.parametrize("source", [
    "INT8_MIN, INT8_MAX = int_range(OUT_WIDTH)\n",
    "ADDR_BITS = 32\n",  # the DRAM port's byte address: not a contract quantity
    "members = {'pop_prev': In(1), 'push_next': In(1)}\n",  # a signature, not a queue table
    "UOP_DTYPE = f'<u{isa.UOP_BYTES}'\n",
])
def test_values_taken_from_the_contract_pass(source):
    assert not restatements(source, "probe.py"), source
