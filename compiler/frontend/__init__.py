"""Model frontends: ONNX files -> the graph IR (``compiler.graph``)."""

from compiler.frontend.onnx_import import SUPPORTED_ONNX_OPS, import_onnx, load_model

__all__ = ["import_onnx", "load_model", "SUPPORTED_ONNX_OPS"]
