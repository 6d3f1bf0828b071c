"""torch engines: the pool's modules on the CPU, or on a CUDA GPU with one stream per engine.

The GPU path where TensorRT is absent, and the way its scheduling is tested: each engine
enqueues its upload, forward pass and download on its own stream, so the scheduler can launch
every engine of a batch before waiting for any. The modules are rebuilt from the ``weights.pt``
(a bundle's ONNX graphs do not give them back); loaded with ``weights_only=True``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from matt.core.types import NDArray
from matt.errors import BackendUnavailable, BundleError
from matt.formats.bundle import Bundle, Manifest, ModelFile
from matt.formats.checksums import sha256_file
from matt.formats.weights import WeightsFile, load_weights
from matt.runtime.engines.base import Concurrency, Done, EngineSet, Pending, Runner, check_inputs


class _WithSoftmax(nn.Module):
    """The classifier as the bundle's graph has it: images in [0, 1] → probabilities."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.classifier(images), dim=-1)


class _StreamPending:
    """A run enqueued on a CUDA stream; the tensors are kept alive until it is waited for."""

    def __init__(self, event: torch.cuda.Event, host_output: torch.Tensor,
                 keep_alive: tuple[torch.Tensor, ...]) -> None:
        self.event, self.host_output, self.keep_alive = event, host_output, keep_alive

    def wait(self) -> NDArray:
        self.event.synchronize()
        self.keep_alive = ()
        output: NDArray = self.host_output.numpy()
        return output


class TorchRunner(Runner):
    """One module on one device; on CUDA it owns a stream and runs asynchronously.

    Thread-safe: torch streams accept work from several threads, and each call uses its own
    tensors.
    """

    def __init__(self, module: nn.Module, device: str, name: str) -> None:
        self.name = name
        self.device = torch.device(device)
        self.module = module.to(self.device).eval()
        self.stream = (torch.cuda.Stream(self.device)  # type: ignore[no-untyped-call]
                       if self.device.type == "cuda" else None)

    def launch(self, inputs: NDArray) -> Pending:
        check_inputs(self.name, inputs)
        if self.stream is None:
            return Done(self._run(inputs))
        with torch.inference_mode(), torch.cuda.stream(self.stream):
            host_input = torch.from_numpy(inputs).pin_memory()
            device_input = host_input.to(self.device, non_blocking=True)
            device_output = self.module(device_input)
            host_output = torch.empty(device_output.shape, dtype=device_output.dtype,
                                      pin_memory=True)
            host_output.copy_(device_output, non_blocking=True)
            event = torch.cuda.Event()  # type: ignore[no-untyped-call]
            event.record(self.stream)
        return _StreamPending(event, host_output, (host_input, device_input, device_output))

    def _run(self, inputs: NDArray) -> NDArray:
        with torch.inference_mode():
            output: NDArray = self.module(torch.from_numpy(inputs)).numpy()
            return output

    def close(self) -> None:
        self.module = None  # type: ignore[assignment]


def load_weights_file(weights: str | Path | WeightsFile) -> WeightsFile:
    return weights if isinstance(weights, WeightsFile) else load_weights(weights)


def weights_beside(bundle: Bundle) -> Path:
    """The ``weights.pt`` a bundle was exported from, found in or beside the bundle folder.

    Raises:
        BundleError: not found, or its sha256 is not the one the manifest recorded.
    """
    name = bundle.manifest.export.get("weights_file")
    expected = bundle.manifest.export.get("weights_sha256")
    folders = (bundle.root, bundle.root.parent)
    if name and expected:
        for folder in folders:
            candidate = folder / str(name)
            if candidate.is_file() and sha256_file(candidate) == expected:
                return candidate
    raise BundleError(
        f"backend 'torch' rebuilds the modules from the weights.pt this bundle was exported "
        f"from ({name or 'not recorded'}, sha256 {str(expected)[:12]}…), and it is not in "
        f"{folders[0]} or {folders[1]}; use Pipeline.from_weights(path) or another backend")


def manifest_from_weights(weights: WeightsFile, source: Any) -> Manifest:
    """A manifest describing a ``weights.pt`` as a bundle would, so pipelines look alike."""
    path = Path(source) if isinstance(source, str | Path) else None
    file_name = path.name if path else "<in memory>"
    digest = sha256_file(path) if path else ""

    def parameters(state: dict[str, torch.Tensor]) -> int:
        return int(sum(tensor.numel() for tensor in state.values()))

    purifiers = tuple(
        ModelFile(name=member.name, file=file_name, sha256=digest, spec=member.spec.to_dict(),
                  parameters=parameters(member.state_dict),
                  macs_per_pixel=member.spec.macs_per_pixel,
                  receptive_radius=member.spec.receptive_radius,
                  provenance=dict(member.provenance))
        for member in weights.pool)
    classifier = ModelFile(name="classifier", file=file_name, sha256=digest,
                           spec=weights.classifier_spec.to_dict(),
                           parameters=parameters(weights.classifier_state), macs_per_pixel=0)
    return Manifest(dataset=weights.dataset, input_shape=weights.input_shape,
                    class_names=weights.class_names, patch=weights.tiling.patch,
                    halo=weights.tiling.halo, purifiers=purifiers, classifier=classifier,
                    export={"weights_file": file_name, "weights_sha256": digest})


def open_engines(weights: WeightsFile, pool_indices: tuple[int, ...], device: str) -> EngineSet:
    """One runner per selected pool member and one for the classifier (+ softmax)."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BackendUnavailable(f"torch on {device}: this torch build sees no CUDA device")
    purifiers = [TorchRunner(weights.pool[i].build(), device, weights.pool[i].name)
                 for i in pool_indices]
    classifier = TorchRunner(_WithSoftmax(weights.build_classifier()), device, "classifier")
    gpu = device.startswith("cuda")
    concurrency = Concurrency.STREAMS if gpu else Concurrency.SEQUENTIAL
    threads = "one stream per engine" if gpu else f"{torch.get_num_threads()} threads"
    description = f"torch {torch.__version__} on {device} ({threads}, {concurrency.value}, fp32)"
    return EngineSet(purifiers, classifier, concurrency, description)
