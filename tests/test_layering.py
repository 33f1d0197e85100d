"""Imports only go down the layers (docs/DESIGN: vta -> compiler -> runtime -> vta_sim ->
vta_hw / cpu_gpu_backends -> the contract).  In particular the compiler never runs what
it compiles (no runtime, no simulator: only the race checker, ``vta_sim.races``, which
verifies a stream) and the runtime never imports the compiler: the compiler writes
programs, the runtime reads and runs them.  Every import statement counts, including the
ones inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RANK = {"vta": 5, "compiler": 4, "runtime": 3, "vta_sim": 2, "vta_hw": 1,
        "cpu_gpu_backends": 1}
CONTRACT = ("vta_hw.config", "vta_hw.isa", "vta_hw.timing", "vta_hw.errors", "vta_hw.bundle")
# Below it, but not the compiler's to import: it never runs or loads what it compiles.
FORBIDDEN = {"compiler": ("runtime", "vta_sim")}
ALLOWED = {("compiler", "vta_sim.races")}  # the race checker verifies a stream, runs nothing


def imports(package: str, root: Path = ROOT) -> list[tuple[str, int, str]]:
    """(file, line, module) of every absolute import in ``package``."""
    out = []
    for f in sorted((root / package).rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods = [node.module]
            else:
                continue
            out += [(str(f.relative_to(root)), node.lineno, m) for m in mods]
    return out


def violations(package: str, root: Path = ROOT) -> list[str]:
    bad = []
    for f, line, mod in imports(package, root):
        top = mod.split(".")[0]
        if top not in RANK or top == package:
            continue
        if mod.startswith(CONTRACT) or (package, mod) in ALLOWED:
            continue
        if RANK[top] >= RANK[package] or top in FORBIDDEN.get(package, ()):
            bad.append(f"{f}:{line}: {package} imports {mod}")
    return bad


@pytest.mark.parametrize("package", sorted(RANK))
def test_imports_only_go_down(package):
    assert violations(package) == []


def test_the_compiler_neither_runs_nor_loads_programs():
    mods = {m for _, _, m in imports("compiler")}
    assert not {m for m in mods if m.split(".")[0] in ("runtime", "vta")}
    assert {m for m in mods if m.startswith("vta_sim")} == {"vta_sim.races"}


def test_the_checker_catches_an_upward_import(tmp_path):
    """The scan sees an import inside a function (the way execution used to creep in)."""
    pkg = tmp_path / "compiler"
    pkg.mkdir()
    (pkg / "api.py").write_text("def run(b):\n    from vta_sim import simulate\n"
                                "    import runtime.devices\n    return simulate(b)\n")
    assert violations("compiler", tmp_path) == ["compiler/api.py:2: compiler imports vta_sim",
                                      "compiler/api.py:3: compiler imports runtime.devices"]
    rt = tmp_path / "runtime"
    rt.mkdir()
    (rt / "loader.py").write_text("from compiler.api import compile_op\nimport vta_sim\n")
    assert violations("runtime", tmp_path) == ["runtime/loader.py:1: runtime imports "
                                               "compiler.api"]
