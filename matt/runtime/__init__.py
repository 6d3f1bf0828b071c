"""The runtime: a bundle's engines behind random patch-to-engine scheduling.

``Pipeline.load(bundle, backend="auto")`` picks TensorRT on a GPU with TensorRT, ONNX Runtime
on a GPU without it, ONNX Runtime on the CPU otherwise. The ONNX Runtime path needs numpy and
onnxruntime only: nothing here imports torch unless the torch or TensorRT backend is asked for.
"""

from matt.runtime import backends
from matt.runtime.devices import available_backends, choose_backend
from matt.runtime.engines.base import Concurrency, EngineSet, Runner
from matt.runtime.pipeline import Pipeline

__all__ = ["Concurrency", "EngineSet", "Pipeline", "Runner", "available_backends", "backends",
           "choose_backend"]
