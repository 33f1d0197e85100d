"""What to tune in a model: its accelerator operators, as ``vta compile`` compiles them.

:func:`extract_workloads` runs the model compiler's own stages (ONNX import, quantization,
partitioning, module building: what ``vta compile`` runs, with the same options) with a
*recording* schedule provider: every accelerator op the module builder compiles asks it
for a schedule, with the exact layout options the op is compiled with (in a chain or
not), and gets None (the heuristic, as without a log).  The ops that end on the
accelerator become :class:`Task` values, one per workload key, each naming the layers
it serves -- so a log tuned from them is what ``vta compile --tuning-log`` looks up.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from compiler.autotune.workload import Workload
from compiler.errors import CompilerError, ScheduleError
from compiler.layout import LayoutOptions
from vta_hw.config import HwConfig


class TaskError(CompilerError, ValueError):
    """A model the tasks cannot be extracted from as given (which input, what is missing)."""


@dataclass(frozen=True)
class Task:
    """One workload to tune and the layers (op names, in model order) that share it."""

    workload: Workload
    layers: tuple[str, ...]

    @property
    def key(self) -> str:
        return self.workload.key


class _Recorder:
    """A schedule provider that remembers every (op, workload) it was asked about and
    always answers None (the default schedule)."""

    def __init__(self) -> None:
        self.asked: list[tuple[Any, Workload]] = []

    def __call__(self, op: Any, cfg: HwConfig, options: LayoutOptions) -> None:
        try:
            self.asked.append((op, Workload.of(op, cfg, options)))
        except ScheduleError:  # no schedule space: nothing to tune
            pass
        return None


def extract_workloads(model: Any, cfg: HwConfig, *,
                      calib: Mapping[str, np.ndarray] | str | os.PathLike | None = None,
                      input_shapes: Mapping[str, tuple[int, ...]] | None = None,
                      calibrator: str = "minmax", two_digits: bool = False,
                      dynamic_matmul: bool = False,
                      targets: Sequence[str] = ("vta", "cpu"),
                      pins: Mapping[str, str] | None = None, device: str = "sim",
                      gpu: Any = None) -> list[Task]:
    """The tasks of ``model`` for ``cfg``: one per distinct workload among the ops that
    ``vta compile`` (with these options: ``--calib``, ``--input-shape``, ``--calibrator``,
    ``--two-digits``, ``--dynamic-matmul``, ``--targets``, ``--pin``, ``--device``,
    ``--gpu-spec``) puts on the accelerator, in the order their first layer runs.

    model: an ONNX file path or ModelProto (quantized here with ``calib``, unless it is a
    QDQ model), or a ``QuantizedGraph``."""
    from compiler.graph.pipeline import CalibrationRequired, compile_model

    recorder = _Recorder()
    try:
        lowered = compile_model(model, cfg, calib=calib, input_shapes=input_shapes,
                                calibrator=calibrator, two_digits=two_digits,
                                dynamic_matmul=dynamic_matmul, targets=targets, pins=pins,
                                device=device, gpu=gpu,
                                schedules=recorder).lowered
    except CalibrationRequired as e:
        raise TaskError(f"model {e.graph.name!r} is a float model: give calibration data "
                        "(calib=, one array per input) as for vta compile --calib, or a QDQ "
                        "model; a float module has no accelerator ops to tune") from None
    tasks: dict[str, tuple[Workload, list[str]]] = {}
    for node in lowered.nodes:
        if node.device != "accelerator":
            continue
        # the builder compiles each op last (after the partitioner's price), and a second
        # time only when a chain splits: the last question about the op is how it runs
        asked = [w for op, w in recorder.asked if op is node.op]
        if not asked:
            continue
        w = asked[-1]
        tasks.setdefault(w.key, (w, []))[1].append(node.step_name)
    return [Task(w, tuple(layers)) for w, layers in tasks.values()]


__all__ = ["Task", "TaskError", "extract_workloads"]
