"""The ONNX Runtime path runs in a process where torch cannot be imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

CHILD = textwrap.dedent("""
    import importlib.abc, sys

    class BlockTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError(f"{name} is blocked in this test")
            return None

    sys.meta_path.insert(0, BlockTorch())
    try:
        import torch  # noqa: F401
        raise SystemExit("torch imported despite the block")
    except ImportError:
        pass

    import numpy as np
    from matt.runtime import Pipeline, available_backends

    with Pipeline.load(sys.argv[1], seed=3) as pipe:
        images = np.random.default_rng(0).random((4, *pipe.input_shape), dtype=np.float32)
        probabilities = pipe.predict(images)
        print(pipe.backend_name, pipe.device)
    np.save(sys.argv[2], probabilities)
    print(",".join(available_backends()))
    print("torch loaded:", any(m == "torch" or m.startswith("torch.") for m in sys.modules))
""")


def test_onnxruntime_pipeline_without_torch(rgb_bundle, tmp_path):
    from matt.runtime import Pipeline

    _, bundle = rgb_bundle
    out = tmp_path / "probabilities.npy"
    result = subprocess.run([sys.executable, "-c", CHILD, str(bundle.root), str(out)],
                            capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).parents[2])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "onnxruntime cpu"
    assert "torch@cpu" not in lines[1].split(",") and "onnxruntime@cpu" in lines[1].split(",")
    assert lines[2] == "torch loaded: False"
    with Pipeline.load(bundle, backend="onnxruntime", seed=3) as pipe:
        images = np.random.default_rng(0).random((4, *pipe.input_shape), dtype=np.float32)
        np.testing.assert_allclose(np.load(out), pipe.predict(images), atol=1e-6)
