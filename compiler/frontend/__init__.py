"""Model frontends into the graph IR (``compiler.graph``): ONNX files (``onnx_import``) and
a small Python graph builder (``builder``)."""

from compiler.frontend.builder import GraphBuilder
from compiler.frontend.onnx_import import SUPPORTED_ONNX_OPS, import_onnx, load_model

__all__ = ["import_onnx", "load_model", "SUPPORTED_ONNX_OPS", "GraphBuilder"]
