"""Pure index arithmetic and randomness shared by the torch reference and the runtime (no torch)."""

from matt.core.assign import EngineDraw, group_by_engine
from matt.core.inputs import as_image_batch, check_image_batch
from matt.core.tiling import PatchPlan, extract_windows, stitch_windows
from matt.core.types import NDArray

__all__ = [
    "EngineDraw",
    "NDArray",
    "PatchPlan",
    "as_image_batch",
    "check_image_batch",
    "extract_windows",
    "group_by_engine",
    "stitch_windows",
]
