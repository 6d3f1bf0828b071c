"""``weights.pt`` → bundle: ONNX graphs, checksums, manifest, parity checks, TensorRT engines."""

from matt.export.bundle_writer import export_bundle, write_bundle

__all__ = ["export_bundle", "write_bundle"]
