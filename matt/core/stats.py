"""The one confidence interval every table here prints beside a rate."""

from __future__ import annotations

import math

Z_95 = 1.959963984540054
"""The two-sided 95 % normal quantile."""


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (95 % by default).

    The ends are exact where the rate is: 0 successes give a lower end of 0 and ``trials``
    successes an upper end of 1, not 1 - 1e-16, so "inside the interval" holds for the rate
    itself (a tiling with every image right was once judged outside its own interval).
    """
    if trials < 1:
        return (0.0, 1.0)
    p = successes / trials
    scale = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / scale
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / scale
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= trials else min(1.0, centre + half)
    return (low, high)
