"""The graph level: a typed DAG of canonical ops (``ir``), their shape rules (``shapes``),
the numpy float reference (``reference``), the graph passes (``passes``) and the pipeline
that runs them (``pipeline``).  ``docs/graph.md`` lists them in data-flow order."""

from compiler.graph.errors import (
    GraphError,
    GraphVerifyError,
    ModelError,
    ShapeError,
    UnsupportedOpError,
)
from compiler.graph.ir import Graph, Node, QuantParams, TensorType, format_graph, verify

__all__ = ["Graph", "Node", "TensorType", "QuantParams", "verify", "format_graph",
           "GraphError", "GraphVerifyError", "ModelError", "ShapeError", "UnsupportedOpError"]
