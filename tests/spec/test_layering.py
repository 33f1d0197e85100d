"""The layers of DESIGN.md, enforced on the source: imports only go down.

    vta -> compiler -> runtime -> vta_sim -> vta_hw (rtl, cosim, soc, fpga, bundle, verilog)
    and cpu_gpu_backends -> opset (the operator vocabulary) -> the contract
    (vta_hw/config.py, isa.py, timing.py, errors.py)

Every ``import`` and ``from ... import`` of every module counts, wherever it stands (a lazy
import inside a function is still a dependency), read statically from the AST so that no
module has to be importable for the check to run.  A module may import its own layer and
the layers below; two packages of one layer (vta_hw and cpu_gpu_backends) do not import each
other; the contract imports only the standard library and itself (and
``tests/spec/test_isa.py`` imports it with numpy, Amaranth and llvmlite blocked).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# the spec modules, with the package root that every import of them executes
CONTRACT = ("vta_hw", "vta_hw.config", "vta_hw.isa", "vta_hw.timing", "vta_hw.errors")
# rank of each layer: a module may import ranks <= its own
LAYERS: dict[str, int] = {
    "vta": 7,
    "compiler": 6,
    "runtime": 5,
    "vta_sim": 4,
    "vta_hw": 3,
    "cpu_gpu_backends": 3,
    "opset": 2,
    "contract": 1,
}
# inside vta_hw: the RTL is built on the contract only; the rest may use the RTL
RTL = "vta_hw.rtl"


def layer_of(module: str) -> str | None:
    """The layer a dotted module name belongs to (None: not a project module)."""
    if module in CONTRACT:
        return "contract"
    top = module.split(".")[0]
    return top if top in LAYERS else None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_sources() -> dict[str, tuple[str, str]]:
    """``module -> (path relative to the root, source)`` of every project module."""
    out = {}
    for pkg in LAYERS:
        if pkg == "contract":
            continue
        for f in sorted((ROOT / pkg).rglob("*.py")):
            out[module_name(f)] = (str(f.relative_to(ROOT)), f.read_text())
    return out


def imports_of(source: str, module: str, is_package: bool, known: set[str]
               ) -> list[tuple[int, str]]:
    """``(line, imported module)`` of every import in ``source``, relative ones resolved;
    ``from p import m`` also counts as importing ``p.m`` when that is a module in ``known``."""
    package = module if is_package else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((node.lineno, target))
            out += [(node.lineno, sub) for a in node.names
                    if (sub := f"{target}.{a.name}".lstrip(".")) in known]
    return out


def _is_stdlib(target: str) -> bool:
    top = target.split(".")[0]
    return top in sys.stdlib_module_names or top == "__future__"


def violations(sources: dict[str, tuple[str, str]]) -> list[str]:
    """Every import in ``sources`` that goes up a layer, across sibling packages, from the
    RTL to the rest of vta_hw, or from the contract to anything but the standard library."""
    known = set(sources) | set(CONTRACT)
    bad = []
    for mod, (rel, source) in sources.items():
        src = layer_of(mod)
        if src is None:
            continue
        for line, target in imports_of(source, mod, rel.endswith("__init__.py"), known):
            dst = layer_of(target)
            if dst is None:
                if src == "contract" and not _is_stdlib(target):
                    bad.append(f"{rel}:{line}: the contract imports {target!r} (standard "
                               "library only)")
                continue
            if LAYERS[dst] > LAYERS[src]:
                bad.append(f"{rel}:{line}: {mod} ({src}) imports {target} ({dst}), a higher "
                           "layer")
            elif LAYERS[dst] == LAYERS[src] and dst != src:
                bad.append(f"{rel}:{line}: {mod} ({src}) imports {target} ({dst}), a sibling "
                           "package of the same layer")
            elif (mod == RTL or mod.startswith(RTL + ".")) and dst == "vta_hw" \
                    and not (target == RTL or target.startswith(RTL + ".")):
                bad.append(f"{rel}:{line}: the RTL ({mod}) imports {target}; it may import "
                           "only the RTL and the contract")
    return bad


def test_imports_only_go_down():
    bad = violations(project_sources())
    assert not bad, "layering violations:\n" + "\n".join(bad)


@pytest.mark.parametrize("module, rel, source, fragment", [
    ("runtime._probe", "runtime/_probe.py",
     "def f():\n    from compiler.api import compile_op\n", "a higher layer"),
    ("vta_sim._probe", "vta_sim/_probe.py", "from runtime import device\n", "a higher layer"),
    ("compiler.x._probe", "compiler/x/_probe.py", "from ...vta import cli\n", "a higher layer"),
    ("cpu_gpu_backends._probe", "cpu_gpu_backends/_probe.py", "import vta_hw.rtl.core\n",
     "sibling package"),
    ("vta_hw.rtl._probe", "vta_hw/rtl/_probe.py", "from vta_hw.cosim import verilator\n",
     "only the RTL and the contract"),
    ("vta_hw.timing", "vta_hw/timing.py", "import numpy as np\n", "standard library only"),
    ("vta_hw.isa", "vta_hw/isa.py", "from vta_hw import bundle\n", "a higher layer"),
    ("opset._probe", "opset/_probe.py", "from cpu_gpu_backends import kernel_ir\n",
     "a higher layer"),
    ("opset._probe", "opset/_probe.py", "import vta_sim\n", "a higher layer"),
])
def test_the_check_reports_each_kind_of_violation(module, rel, source, fragment):
    """Each rule fires on a planted import (the check cannot pass vacuously)."""
    sources = project_sources()
    sources[module] = (rel, source)
    bad = violations(sources)
    assert any(b.startswith(rel) and fragment in b for b in bad), bad


@pytest.mark.parametrize("module", CONTRACT)
def test_contract_imports_only_the_standard_library(module):
    path = ROOT / module.replace(".", "/")
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    for line, target in imports_of(path.read_text(), module, False, set(CONTRACT)):
        assert _is_stdlib(target) or layer_of(target) == "contract", \
            f"{path.name}:{line} imports {target}"


# compiler modules that measure through runtime devices, like any user (DESIGN.md: "The
# autotuner measures through runtime devices"): the CPU cost model's calibration times ops
# inside the graph executor, so the model prices what the executor pays; the autotuner runs
# candidate schedules on the simulator device; a design-space sweep runs each point's model
MEASURES = ("compiler.partition.calibrate", "compiler.autotune.measure", "compiler.dse.point")


def _compiler_imports(sources: dict[str, tuple[str, str]], *,
                      measuring: bool = False) -> set[str]:
    """What compiler modules import: those that do not measure (the default), or only
    the measuring ones (:data:`MEASURES`)."""
    known = set(sources) | set(CONTRACT)
    return {target for mod, (rel, source) in sources.items()
            if layer_of(mod) == "compiler" and (mod in MEASURES) == measuring
            for _, target in imports_of(source, mod, rel.endswith("__init__.py"), known)}


def test_the_compiler_neither_runs_nor_loads_programs():
    """The compiler writes programs; the runtime (and ``vta.api`` above both) runs them.  Of
    everything below it, the compiler uses the simulator package only for the race checker,
    which verifies a stream and runs nothing, and of the runtime only data: the compiled
    module's file format (``runtime.module``, which the module builder writes), the
    devices' link profiles (``runtime.links``, which the partitioner prices transfers with)
    and which kernels a GPU step runs (``runtime.gpu_steps``, which the GPU cost model
    prices; loading and launching them is ``runtime.gpu_runner``)."""
    sources = project_sources()
    mods = _compiler_imports(sources)
    assert {m for m in mods if layer_of(m) == "runtime"} <= {"runtime.module", "runtime.links",
                                                              "runtime.gpu_steps"}
    assert {m for m in mods if layer_of(m) == "vta_sim"} <= {"vta_sim.races"}
    # the measuring modules run programs only through the runtime's devices and executor
    measuring = _compiler_imports(sources, measuring=True)
    assert {m for m in measuring if layer_of(m) == "runtime"} <= {
        "runtime.module", "runtime.links", "runtime.gpu_steps", "runtime.devices",
        "runtime.executor"}
    assert not {m for m in measuring if layer_of(m) == "vta_sim"}
    assert all(m in sources for m in MEASURES)  # the list names modules that exist


def test_the_compiler_check_sees_a_lazy_simulator_import():
    sources = project_sources()
    sources["compiler._probe"] = ("compiler/_probe.py",
                                  "def run(b):\n    from vta_sim import simulate\n")
    assert "vta_sim" in _compiler_imports(sources)
