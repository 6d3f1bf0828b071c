"""Array aliases for annotations: what the runtime's batches are."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

NDArray = npt.NDArray[np.float32]
"""A float32 array: an NCHW image batch in [0, 1], windows, or probabilities (N, classes)."""

IndexArray = npt.NDArray[np.intp]
"""Indices into a batch (which windows an engine runs)."""

EngineIds = npt.NDArray[np.int64]
"""One drawn engine index per window."""

AnyArray = npt.NDArray[Any]
"""An array of any dtype, before it is checked."""
