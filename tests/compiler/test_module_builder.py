"""The module builder's chain splitting: deciding from the layouts alone (the layout pass,
``compiler.api.planned_op``) where a run of accelerator ops splits gives the chains that
compiling every op and checking the compiled ops gives, and compiles each op once."""

from __future__ import annotations

import pytest

import compiler.module_builder as mb
from compiler.api import check_chainable, compile_op, planned_op
from compiler.errors import LayoutError
from compiler.layout import LayoutOptions
from tests.runtime.models import branchy, cnn, deep_chain
from vta_hw.config import TINY

# 1x4x4 chains conv -> conv; 1x4x8 blocks a conv's output by 8 channels and its input by
# 4, so each conv that reads another's output starts a new chain
CONFIGS = [TINY, TINY.replace(name="tiny_4x8", log_block_out=3)]
MODELS = {"deep_chain": deep_chain, "branchy": branchy,
          "cnn_fc_on_accelerator": lambda: cnn(chained=True, fc="accelerator")}


def compiled_then_checked(nodes, cfg, constants):
    """The chains as found by compiling each op with the options it would have inside the
    chain, checking the compiled ops and compiling it again where the chain splits."""
    chains = []
    for n in nodes:
        current = chains[-1] if chains else []
        inner = {m.output for m, _ in current}
        reads_inner = any(t in inner for t in n.inputs.values())
        c = compile_op(n.op, cfg, options=mb.chain_options(reads_inner))
        if current:
            pairs = [*current, (n, c)]
            try:
                check_chainable([op for _, op in pairs],
                                [mb._names(m, op, constants) for m, op in pairs])
                current.append((n, c))
                continue
            except LayoutError:
                if reads_inner:
                    c = compile_op(n.op, cfg, options=mb.chain_options(False))
        chains.append([(n, c)])
    return chains


def accelerator_runs(nodes):
    return [g.nodes for g in mb._groups(nodes)]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.name)
@pytest.mark.parametrize("model", MODELS)
def test_planned_splits_give_the_compiled_checks_chains(model, cfg):
    nodes, constants = MODELS[model]()
    for run in accelerator_runs(nodes):
        got = mb._compile_run(run, cfg, constants)
        want = compiled_then_checked(run, cfg, constants)
        assert [[n.step_name for n, _ in c] for c in got] == \
            [[n.step_name for n, _ in c] for c in want]
        for gc, wc in zip(got, want, strict=True):
            for (_, g), (_, w) in zip(gc, wc, strict=True):
                assert g.options == w.options and g.program == w.program


def test_a_split_chain_compiles_each_op_once(monkeypatch):
    nodes, constants = deep_chain()
    cfg = CONFIGS[1]
    run = accelerator_runs(nodes)[0]
    assert len(compiled_then_checked(run, cfg, constants)) == 4  # it does split
    asked = []

    def counting(op, *args, **kw):
        asked.append(op.name)
        return compile_op(op, *args, **kw)

    monkeypatch.setattr(mb, "compile_op", counting)
    chains = mb._compile_run(run, cfg, constants)
    assert len(chains) == 4 and asked == ["c0", "c1", "c2", "c3"]


def test_a_planned_op_has_the_compiled_ops_tensors_but_the_micro_ops():
    nodes, _ = deep_chain()
    for options in (LayoutOptions(im2col=False), LayoutOptions(im2col=False,
                                                              input_halo=(0, 0))):
        planned = planned_op(nodes[1].op, TINY, options)
        compiled = compile_op(nodes[1].op, TINY, options=options)
        assert planned.program.stage == "layout" and planned.schedule is None
        assert planned.tensors == tuple(t for t in compiled.tensors if t.name != "uops")
        assert planned.options == compiled.options
