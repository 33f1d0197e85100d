"""A module's CPU steps compiled once, at load, into kernel calls on fixed buffers.

Why: run one step at a time through :class:`~runtime.cpu_device.CpuDevice` (copy every
operand in, check and convert every argument, allocate and copy the output out) or in
numpy, a whole model on the CPU spent as much time around its kernels as in them, and a
float module ran numpy convolutions.  Here every CPU step that has a generated kernel
becomes a :class:`~cpu_gpu_backends.backend.PreparedCall` on arrays allocated at load: a
run is the steps' kernel launches with their pointers converted once, nothing else.

What runs how:

* an opset op (an int8 module's CPU step): its CPU kernel
  (:func:`cpu_gpu_backends.quantized_op`, bit-exact against :mod:`opset.reference`);
* a host quantize / dequantize boundary: the quantize / dequantize kernels (the same
  formulas as :mod:`opset.reference`, bit for bit);
* a float ONNX step (``host.onnx``, a float module's steps): Conv (one group, or
  depthwise) -> the conv2d / depthwise kernels, Gemm and MatMul with a constant right
  operand -> dense, MaxPool / AveragePool / GlobalAveragePool -> the pooling kernels, Relu,
  Clip and Add / Sub / Mul / Div -> element-wise kernels, Reshape / Flatten / Squeeze /
  Unsqueeze -> a view of their operand's buffer (no copy, no launch);
* anything else (Softmax, LayerNorm, an int8 Transpose, ...): its numpy kernel as before,
  run by the executor (see :meth:`HostProgram.compiled`).

Constants are bound at load: weight packing (the conv and dense kernels' blocked weight
layouts) runs once, here, not per sample.

Fusion: a Conv, Gemm or MatMul whose output only feeds a Relu or a Clip(0, 6), and an
Add / Sub / Mul / Div whose output only feeds a Relu, run as one kernel writing the
activation's tensor (the ReLU in the conv's write-back, or Add + ReLU as one element-wise
pass); a Conv whose output only feeds an Add (a residual block) takes the Add's other
operand as a residual input of its write-back, with the ReLU after the Add when there is
one (Conv + Add + ReLU, one kernel: the other operand must exist when the conv runs, so
of a block's two convolutions the later one takes it).  The absorbed steps are *fused*
(:attr:`HostProgram.fused_into`) and cost nothing.  "Only feeds": no other step reads the
tensor and it is no model output.

Buffers: every tensor a compiled step writes has one array, allocated at load; a compiled
reader takes it in place (a view of the same bytes when its operand shape differs, as for a
reshape the lowering folded away).  A tensor from elsewhere (a model input, an accelerator
program's result, a numpy step's output) is copied into the reader's staging array first.
Each tensor is written once per sample, so a view stays valid for the whole sample; the
executor copies the model outputs out before the next sample overwrites them.

Layouts: a tensor between two compiled kernels that both have a blocked form stays in the
channel-blocked layout (:class:`opset.layout.ActLayout`, zero halo as wide as its widest
reader's padding) instead of NCHW; :mod:`runtime.host_layouts` decides which, once, at
load (:attr:`HostProgram.layouts`), and the kernels are built for those layouts, so no
step packs or unpacks between them.  A blocked tensor's buffer is its blocked array.

Slots: one program's buffers hold one sample.  To keep two samples in flight (the
executor's accelerator/host overlap) :meth:`HostProgram.replica` gives a second program
with its own buffers and prepared calls on the *same* bound kernels: nothing is lowered,
compiled or packed again, and its ``loaded_bytes`` is 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from opset import Conv2d, Elementwise, GlobalAvgPool, Pool2d
from opset.layout import ActLayout
from runtime.host_layouts import BlockedUse, Node, halo_fill, plan_layouts
from runtime.host_ops import HostOp, OnnxHostOp
from runtime.module import Module, Step

# float ONNX ops that only reinterpret their operand's shape
_VIEWS = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity")
_BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div"}
_NP = {"f32": np.float32, "i8": np.int8, "i32": np.int32}


@dataclass
class HostCall:
    """One compiled CPU step (or a fused pair): ``call`` runs its kernels on fixed arrays
    (None for a view), after copying each ``staged`` tensor (name, array) in from the
    environment unless the environment already holds that array; ``out`` is the array of
    tensor ``output``; ``fused``: the indices of the steps it computes besides its own.
    ``kind``: what the kernel computes (``Conv+Relu`` for a fused pair); ``op_kind``: the
    step's own op kind."""

    index: int
    name: str
    kind: str
    op_kind: str
    call: Any
    staged: tuple[tuple[str, np.ndarray], ...]
    output: str
    out: np.ndarray
    fused: tuple[int, ...] = ()

    def run(self, env: dict[str, Any], threads: int | None = None) -> None:
        for tensor, buf in self.staged:
            src = env[tensor]
            if src is not buf:
                np.copyto(buf, np.asarray(src).reshape(buf.shape), casting="no")
        if self.call is not None:
            self.call(threads)
        env[self.output] = self.out


@dataclass(frozen=True)
class _Lowered:
    """A step's kernel before binding: the compiled op (or, for a kernel with blocked
    forms, ``make``: layouts by operand name, ``y`` for the output -> the compiled op),
    its inputs by kernel name -> module tensor, the tensor it writes, the activation steps
    it absorbs and what it can take blocked."""

    op: Any
    operands: dict[str, str]
    output: str
    fused: tuple[int, ...] = ()
    kind: str = ""
    use: BlockedUse = BlockedUse()
    make: Callable[[dict[str, ActLayout]], Any] | None = None


class HostProgram:
    """The compiled CPU steps of ``module`` on ``backend`` (a
    :class:`~cpu_gpu_backends.backend.CpuBackend`, whose thread pool runs them).

    ``calls``: step index -> :class:`HostCall`; ``fused_into``: absorbed step index ->
    the index of the call that computes it; ``buffers``: tensor -> its fixed array (the
    blocked array for a tensor in ``layouts``); ``layouts``: tensor -> its blocked layout
    (absent: NCHW); ``loaded_bytes``: constant bytes bound at load."""

    def __init__(self, module: Module, backend: Any, *,
                 share: HostProgram | None = None) -> None:
        self.module = module
        self.backend = backend
        self.calls: dict[int, HostCall] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.loaded_bytes = 0
        self._readers: dict[str, list[int]] = {}
        self._producer: dict[str, int] = {}
        for i, s in enumerate(module.steps):
            for t in s.inputs.values():
                self._readers.setdefault(t, []).append(i)
            self._producer[s.output] = i
        if share is None:
            # 1. what each CPU step runs as (fusion decided), 2. which tensors stay
            # blocked, 3. the kernels built for those layouts, constants bound
            lowered: dict[int, _Lowered] = {}
            fused_into: dict[int, int] = {}
            for i, s in enumerate(module.steps):
                if s.device != "cpu" or i in fused_into or _is_view(s):
                    continue
                low = self._lower(i, s)
                if low is not None:
                    lowered[i] = low
                    fused_into.update(dict.fromkeys(low.fused, i))
            self.layouts, self.fills = self._plan_layouts(lowered, fused_into)
            self.lowered = {i: self._bind(low) for i, low in lowered.items()}
        else:  # the same kernels, layouts and fusions on this program's own buffers
            self.lowered, self.layouts, self.fills = share.lowered, share.layouts, share.fills
        self.fused_into: dict[int, int] = {}
        for i, s in enumerate(module.steps):
            if s.device != "cpu" or i in self.fused_into:
                continue
            call = self._view(i, s) if _is_view(s) else \
                self._compile(i, s, self.lowered[i]) if i in self.lowered else None
            if call is not None:
                self.calls[i] = call
                self.fused_into.update(dict.fromkeys(call.fused, i))

    def replica(self) -> HostProgram:
        """The same compiled steps on a second set of buffers (another sample in flight),
        sharing this program's bound kernels (weights packed once)."""
        return HostProgram(self.module, self.backend, share=self)

    def compiled(self, i: int) -> bool:
        """Whether step ``i`` runs here (a call or fused into one), not in numpy."""
        return i in self.calls or i in self.fused_into

    # ------------------------------------------------------------------ building
    def _plan_layouts(self, lowered: dict[int, _Lowered], fused_into: dict[int, int]
                      ) -> tuple[dict[str, ActLayout], dict[str, int]]:
        """The blocked tensors (:func:`runtime.host_layouts.plan_layouts`; every step that
        reads a tensor counts as the call it is fused into) and their halos' values."""
        from cpu_gpu_backends.ops.conv2d import BLOCK

        m = self.module
        readers = {t: [fused_into.get(j, j) for j in js] for t, js in self._readers.items()}
        nodes = {i: Node(low.operands, low.output, low.use) for i, low in lowered.items()}
        shapes = {t: tuple(v.shape) for t, v in m.tensors.items()}
        layouts = plan_layouts(nodes, readers, shapes, m.outputs, BLOCK)
        return layouts, {t: halo_fill(nodes, t, readers.get(t, ())) for t in layouts}

    def _compile(self, i: int, s: Step, low: _Lowered) -> HostCall | None:
        op = low.op
        arrays, staged = {}, []
        for name in op.input_names:
            spec = op.plan.buffer(name)
            tensor = low.operands[name]
            fixed = self.buffers.get(tensor)
            if fixed is not None and fixed.dtype == spec.ty.np and fixed.size == spec.size:
                arrays[name] = fixed.reshape(spec.shape)
            elif tensor in self.layouts:  # the planner promised a blocked reader
                raise RuntimeError(f"host program: step {s.name!r} reads blocked tensor "
                                   f"{tensor!r} but its kernel expects {spec.shape}")
            else:
                buf = np.zeros(spec.shape, spec.ty.np)
                arrays[name] = buf
                staged.append((tensor, buf))
        out_spec = op.plan.outputs[0]
        # a blocked output's halo and padded channels are never written: they hold what
        # its readers pad with (zero, or an int8 convolution's input zero point)
        out = np.full(out_spec.shape, self.fills.get(low.output, 0), out_spec.ty.np)
        arrays[out_spec.name] = out
        t = self.module.tensors[low.output]
        if low.output in self.layouts:
            out_view = out
        elif np.dtype(t.dtype) != out.dtype or math.prod(t.shape) != out.size:
            return None  # the kernel would not give the tensor the module declares
        else:
            out_view = out.reshape(t.shape)
        self.buffers[low.output] = out_view
        return HostCall(i, s.name, low.kind or s.op.kind, s.op.kind, op.prepare(**arrays),
                        tuple(staged), low.output, out_view, low.fused)

    def _bind(self, low: _Lowered) -> _Lowered:
        """``low`` built for its operands' and output's layouts, with its constant operands
        bound (weights packed once)."""
        if low.make is not None:
            lay = {k: self.layouts[t] for k, t in low.operands.items() if t in self.layouts}
            if low.output in self.layouts:
                lay["y"] = self.layouts[low.output]
            low = replace(low, op=low.make(lay), make=None)
        consts = {name: t for name, t in low.operands.items() if t in self.module.constants}
        if not consts:
            return low
        op = low.op
        arrays = {name: np.ascontiguousarray(
            self.module.constants[t], op.plan.buffer(name).ty.np).reshape(
            op.plan.buffer(name).shape) for name, t in consts.items()}
        self.loaded_bytes += sum(a.nbytes for a in arrays.values())
        return replace(low, op=op.bind(**arrays))

    def _view(self, i: int, s: Step) -> HostCall | None:
        src = self.buffers.get(s.inputs.get("x0", ""))
        t = self.module.tensors[s.output]
        if src is None or src.dtype != np.dtype(t.dtype) or src.size != math.prod(t.shape):
            return None
        out = src.reshape(t.shape)
        self.buffers[s.output] = out
        return HostCall(i, s.name, s.op.kind, s.op.kind, None, (), s.output, out)

    def _follower(self, i: int, kinds: tuple[str, ...]) -> tuple[int, str] | None:
        """The activation step that alone reads step ``i``'s output, and its activation
        name, when it can be fused into step ``i``'s kernel."""
        found = self._sole_reader(i)
        if found is None or len(found[1].inputs) != 1:
            return None
        j, s = found
        act = _activation(s.op)
        return (j, act) if act in kinds else None

    def _sole_reader(self, i: int) -> tuple[int, Step] | None:
        """The float32 ONNX step on the CPU that alone reads step ``i``'s output (which is no
        model output), with its index: the only kind of step a kernel can absorb."""
        m = self.module
        t = m.steps[i].output
        readers = self._readers.get(t, [])
        if len(readers) != 1 or t in m.outputs:
            return None
        j = readers[0]
        s = m.steps[j]
        if s.device != "cpu" or not isinstance(s.op, OnnxHostOp) or s.op.dtype != "float32":
            return None
        return j, s

    def _residual(self, i: int) -> tuple[int, str, tuple[int, str] | None] | None:
        """The Add that alone reads step ``i``'s output, fusable into its kernel as a
        residual: (its index, its other operand, the activation step after it if that is
        fusable too).  The other operand must exist when step ``i`` runs (made by an
        earlier step, or a model input or constant), and have the same shape."""
        found = self._sole_reader(i)
        if found is None:
            return None
        j, s = found
        t = self.module.steps[i].output
        if s.op.op_type != "Add" or len(s.op.in_shapes) != 2 \
                or s.op.in_shapes[0] != s.op.in_shapes[1] \
                or s.op.in_dtypes != ("float32", "float32"):
            return None
        others = [v for v in s.inputs.values() if v != t]
        if len(others) != 1 or self._producer.get(others[0], -1) > i:
            return None
        return j, others[0], self._follower(j, ("relu", "relu6"))

    def _lower(self, i: int, s: Step) -> _Lowered | None:
        import cpu_gpu_backends as cb

        be = self.backend
        if isinstance(s.op, HostOp):
            fn = cb.quantize if s.op.kind == "quantize" else cb.dequantize
            op = fn(s.op.shape, backend=be).bind(
                x1=np.array([s.op.scale], np.float32),
                x2=np.array([s.op.zero_point], np.int8))
            return _Lowered(op, {"x0": s.inputs["x"]}, s.output)
        if not isinstance(s.op, OnnxHostOp):  # an opset op: the int8 kernel
            if isinstance(s.op, Conv2d):
                return _int8_conv(s.op, dict(s.inputs), s.output, be)
            return _int8_blocked_or_not(s.op, dict(s.inputs), s.output, be)
        op = s.op
        if any(d != "float32" for d in op.in_dtypes) or op.dtype != "float32":
            return None
        const = self.module.constants
        ins = [s.inputs[f"x{k}"] for k in range(len(op.in_shapes))]
        kind = op.op_type
        if kind == "Conv":
            return self._conv(i, op, ins)
        if kind in ("Gemm", "MatMul"):
            return self._dense(i, op, ins)
        if kind in ("MaxPool", "AveragePool"):
            return _pool(op, ins, s.output, be)
        if kind == "GlobalAveragePool" and len(op.in_shapes[0]) == 4:
            from cpu_gpu_backends.ops.conv2d import BLOCK

            x = op.in_shapes[0]

            def gap(lay: dict[str, ActLayout]) -> Any:
                if "x" in lay:
                    return cb.blocked_global_avg_pool2d(lay["x"], backend=be)
                return cb.global_avg_pool2d(x, backend=be)

            reads = {"x": (0, 0)} if x[1] % BLOCK == 0 else {}
            return _Lowered(None, {"x": ins[0]}, s.output, use=BlockedUse(reads), make=gap)
        act = _activation(op)
        if act is not None:
            lo, hi = _ACT_RANGE[act]
            k = cb.clip_op(op.shape, lo, hi, backend=be) if act != "relu" else \
                cb.unary("relu", op.shape, backend=be)
            return _Lowered(k, {"x0": ins[0]}, s.output)
        if kind in _BINARY and len(ins) == 2 and not all(t in const for t in ins):
            fol = self._follower(i, ("relu",))
            fn = cb.elementwise
            from cpu_gpu_backends.ops.elementwise import BINARY_OPS

            base = BINARY_OPS[_BINARY[kind]]
            if fol is None:
                k = fn(base, op.in_shapes, ["f32", "f32"], name=_BINARY[kind], backend=be)
                return _Lowered(k, {"x0": ins[0], "x1": ins[1]}, s.output)
            k = fn(lambda a, b: cb.relu(base(a, b)), op.in_shapes, ["f32", "f32"],
                   name=f"{_BINARY[kind]}_relu", backend=be)
            j = fol[0]
            return _Lowered(k, {"x0": ins[0], "x1": ins[1]}, self.module.steps[j].output,
                            (j,), f"{kind}+Relu")
        return None

    def _conv(self, i: int, op: OnnxHostOp, ins: list[str]) -> _Lowered | None:
        import cpu_gpu_backends as cb

        x, w = op.in_shapes[0], op.in_shapes[1]
        const = self.module.constants
        a = op.attrs
        if len(x) != 4 or ins[1] not in const or (len(ins) > 2 and ins[2] not in const):
            return None
        group = int(a.get("group", 1))
        if group != 1 and not (group == x[1] == w[0] and w[1] == 1):
            return None
        fol = self._follower(i, ("relu", "relu6"))
        res = self._residual(i) if fol is None and group == 1 else None
        act = fol[1] if fol else res[2][1] if res and res[2] else None
        pads = tuple(a["pads"])

        def make(lay: dict[str, ActLayout]) -> Any:
            return cb.conv2d(x, w, stride=tuple(a["strides"]), padding=pads,
                             dilation=tuple(a.get("dilations", (1, 1))), groups=group,
                             bias=len(ins) > 2, activation=act, residual=res is not None,
                             in_layout=lay.get("x"), out_layout=lay.get("y"),
                             res_layout=lay.get("residual"), backend=self.backend)

        use = _conv_use(x, w, group, pads, res is not None)
        operands = {"x": ins[0], "w": ins[1], **({"bias": ins[2]} if len(ins) > 2 else {})}
        if res is None:
            return replace(self._fused(i, None, operands, fol), use=use, make=make)
        j, other, after = res
        fused = (j,) if after is None else (j, after[0])
        names = "+".join(self.module.steps[f].op.kind for f in (i, *fused))
        return _Lowered(None, {**operands, "residual": other},
                        self.module.steps[fused[-1]].output, fused, names, use, make)

    def _dense(self, i: int, op: OnnxHostOp, ins: list[str]) -> _Lowered | None:
        import cpu_gpu_backends as cb

        const = self.module.constants
        a, b = op.in_shapes[0], op.in_shapes[1]
        if len(a) != 2 or len(b) != 2 or ins[1] not in const:
            return None
        trans_b = False
        bias = None
        if op.op_type == "Gemm":
            at = op.attrs
            if at.get("trans_a") or float(at.get("alpha", 1.0)) != 1.0:
                return None
            trans_b = bool(at.get("trans_b"))
            if len(ins) > 2:
                n = b[0] if trans_b else b[1]
                if ins[2] not in const or float(at.get("beta", 1.0)) != 1.0 or \
                        const[ins[2]].size != n:
                    return None
                bias = ins[2]
        m, k = a
        n = b[0] if trans_b else b[1]
        fol = self._follower(i, ("relu", "relu6"))
        kern = cb.dense(m, k, n, bias=bias is not None, transpose_b=trans_b,
                        activation=fol[1] if fol else None, backend=self.backend)
        operands = {"a": ins[0], "b": ins[1], **({"bias": bias} if bias else {})}
        return self._fused(i, kern, operands, fol)

    def _fused(self, i: int, k: Any, operands: dict[str, str],
               fol: tuple[int, str] | None) -> _Lowered:
        s = self.module.steps[i]
        if fol is None:
            return _Lowered(k, operands, s.output)
        j = fol[0]
        return _Lowered(k, operands, self.module.steps[j].output, (j,),
                        f"{s.op.kind}+{self.module.steps[j].op.kind}")


_ACT_RANGE = {"relu": (0.0, math.inf), "relu6": (0.0, 6.0)}


def _is_view(s: Step) -> bool:
    return isinstance(s.op, OnnxHostOp) and s.op.op_type in _VIEWS


def _activation(op: OnnxHostOp) -> str | None:
    """``relu`` for a Relu (or Clip(0, none)), ``relu6`` for a Clip(0, 6), else None."""
    if op.op_type == "Relu":
        return "relu"
    if op.op_type == "Clip" and len(op.in_shapes) == 1:
        lo, hi = op.attrs.get("min"), op.attrs.get("max")
        if lo is not None and float(lo) == 0.0:
            if hi is None or math.isinf(float(hi)):
                return "relu"
            if float(hi) == 6.0:
                return "relu6"
    return None


def _pool(op: OnnxHostOp, ins: list[str], output: str, be: Any) -> _Lowered | None:
    import cpu_gpu_backends as cb

    a: Mapping[str, Any] = op.attrs
    kernel = tuple(a.get("kernel_shape", ()))
    if len(op.in_shapes[0]) != 4 or len(kernel) != 2 or a.get("ceil_mode", 0) or \
            any(d != 1 for d in a.get("dilations", (1, 1))) or a.get("storage_order", 0):
        return None
    strides, pads = tuple(a.get("strides", (1, 1))), tuple(a.get("pads", (0, 0, 0, 0)))
    try:
        if op.op_type == "MaxPool":
            k = cb.max_pool2d(op.in_shapes[0], kernel, strides, pads, backend=be)
        else:
            k = cb.avg_pool2d(op.in_shapes[0], kernel, strides, pads,
                              count_include_pad=bool(a.get("count_include_pad", 0)),
                              backend=be)
    except ValueError:  # a padding the kernel does not take: numpy runs it
        return None
    if op.op_type != "MaxPool":
        return _Lowered(k, {"x": ins[0]}, output)

    def make(lay: dict[str, ActLayout]) -> Any:  # blocked to blocked, or NCHW to NCHW
        if "x" in lay:
            return cb.blocked_max_pool2d(lay["x"], kernel, strides, pads, lay["y"],
                                         backend=be)
        return k

    use = BlockedUse({"x": (0, 0)}, writes=True, tied=frozenset({"x"}))
    return _Lowered(None, {"x": ins[0]}, output, use=use, make=make)


def _int8_conv(op: Conv2d, operands: dict[str, str], output: str, be: Any) -> _Lowered:
    """An int8 Conv2d step with its blocked forms (the i16 the pair kernel reads, see
    :func:`cpu_gpu_backends.ops.conv2d.conv2d_plan`): input read in place when it fills
    whole channel blocks (halo: the padding, holding the input zero point), output
    written blocked when the output channels fill whole blocks, a residual read blocked
    exactly when the output is (tied).  NCHW only on a host whose int8 kernel packs byte
    quads (VNNI)."""
    import cpu_gpu_backends as cb
    from cpu_gpu_backends.ops.conv2d import BLOCK
    from cpu_gpu_backends.ops.microkernel import has_vnni

    def make(lay: dict[str, ActLayout]) -> Any:
        return cb.quantized_op(op, in_layout=lay.get("x"), out_layout=lay.get("y"),
                               res_layout=lay.get("residual"), backend=be)

    if has_vnni():
        return _Lowered(make({}), operands, output)
    reads: dict[str, tuple[int, int]] = {"x": tuple(op.pad)} if op.c >= BLOCK else {}
    writes = op.o % BLOCK == 0
    tied = frozenset({"residual"}) if op.epilogue.residual else frozenset()
    if tied and writes:
        reads["residual"] = (0, 0)
    return _Lowered(None, operands, output,
                    use=BlockedUse(reads, writes, tied, op.pad_value), make=make)


def _int8_blocked_or_not(op: Any, operands: dict[str, str], output: str, be: Any
                         ) -> _Lowered:
    """Any other int8 opset step; an Elementwise (a residual's rescale) and a max pool
    also take blocked i16 operands, all of them blocked exactly when the output is (tied),
    so a ResNet block's tensors need not go back to NCHW around them; a global average
    pool reads blocked and writes NCHW (the one unpack, before the classifier)."""
    import cpu_gpu_backends as cb
    from cpu_gpu_backends.ops.conv2d import BLOCK
    from cpu_gpu_backends.ops.microkernel import has_vnni

    def plain() -> Any:  # compiled only when it runs
        return cb.quantized_op(op, backend=be)

    if isinstance(op, GlobalAvgPool) and not has_vnni() and op.c % BLOCK == 0:
        def gap(lay: dict[str, ActLayout]) -> Any:
            return cb.blocked_quantized_global_avg_pool(op, lay["x"], backend=be) \
                if "x" in lay else plain()
        return _Lowered(None, operands, output, use=BlockedUse({"x": (0, 0)}), make=gap)
    if has_vnni() or not isinstance(op, Elementwise | Pool2d) or \
            (op.shape[1] if isinstance(op, Elementwise) else op.c) % BLOCK or \
            (isinstance(op, Pool2d) and op.pool != "max"):
        return _Lowered(plain(), operands, output)
    names = [t.name for t in op.inputs()]

    def make(lay: dict[str, ActLayout]) -> Any:
        if "y" not in lay:
            return plain()
        if isinstance(op, Pool2d):
            return cb.blocked_max_pool2d(lay["x"], (op.kh, op.kw), op.stride, op.pad,
                                         lay["y"], dtype="i16", backend=be)
        return cb.blocked_quantized_elementwise(op, [lay[k] for k in names], lay["y"],
                                                backend=be)

    use = BlockedUse(dict.fromkeys(names, (0, 0)), True, frozenset(names))
    return _Lowered(None, operands, output, use=use, make=make)


def _conv_use(x: tuple[int, ...], w: tuple[int, ...], group: int, pads: tuple[int, ...],
              residual: bool) -> BlockedUse:
    """What a float Conv kernel takes blocked: its input when the padding is symmetric
    (the halo holds it) and the channels fill the kernel's blocks (a depthwise one: whole
    blocks), its output when its kernel has a blocked form (depthwise: whole blocks), a
    fused residual exactly when its output is blocked."""
    from cpu_gpu_backends.ops.conv2d import BLOCK
    from cpu_gpu_backends.ops.microkernel import default_tile

    c = x[1]
    blocks = c >= BLOCK if group == 1 else c % BLOCK == 0 and w[0] == c \
        and BLOCK % default_tile(False).vl == 0
    reads: dict[str, tuple[int, int]] = {}
    if blocks and pads[0] == pads[2] and pads[1] == pads[3]:
        reads["x"] = (pads[0], pads[1])
    if residual:
        reads["residual"] = (0, 0)
    return BlockedUse(reads, writes=blocks or group == 1,
                      tied=frozenset({"residual"} if residual else ()))


__all__ = ["HostProgram", "HostCall"]
