"""``weights.pt`` → bundle: ONNX graphs, checksums, manifest, parity checks, TensorRT engines."""

from matt.export.bundle_writer import export_bundle, write_bundle
from matt.export.options import ExportOptions

__all__ = ["ExportOptions", "export_bundle", "write_bundle"]
