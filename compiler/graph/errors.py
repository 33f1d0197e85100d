"""Errors of the graph level (frontend, graph IR, graph passes); all are :class:`VtaError`.

The CLI prints any of them as one ``error: ...`` line, so every message names what is wrong
(the input, the node, the dimension) and what was expected.
"""

from __future__ import annotations

from compiler.errors import CompilerError, VerifyError


class GraphError(CompilerError, ValueError):
    """Base class: a model or graph the graph level cannot accept."""


class ModelError(GraphError):
    """A model file is malformed, truncated or not ONNX, or its content is inconsistent."""


class UnsupportedOpError(GraphError):
    """The model uses ops nothing supports; the message lists every one of them."""


class ShapeError(GraphError):
    """A shape is unknown (a dynamic dimension without ``input_shapes``) or inconsistent."""


class GraphVerifyError(VerifyError):
    """A graph IR invariant does not hold (SSA, order, definitions, types): a compiler bug."""


__all__ = ["GraphError", "ModelError", "UnsupportedOpError", "ShapeError", "GraphVerifyError"]
