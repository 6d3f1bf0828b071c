"""Which purifiers of a bundle form a pipeline's pool."""

from __future__ import annotations

from collections.abc import Sequence

from matt.errors import InputError


def select_pool(pool: int | Sequence[int] | None, pool_size: int) -> tuple[int, ...]:
    """``None`` → every purifier; ``K`` → the first K; a list → those indices, in that order."""
    if pool is None:
        return tuple(range(pool_size))
    if isinstance(pool, bool):
        raise InputError(f"pool must be None, a count or a list of indices, got {pool!r}")
    if isinstance(pool, int):
        if not 1 <= pool <= pool_size:
            raise InputError(f"pool of {pool}: the bundle has {pool_size} purifiers, "
                             f"choose 1 to {pool_size}")
        return tuple(range(pool))
    indices = tuple(pool)
    if not indices:
        raise InputError("pool: the list of purifier indices is empty")
    for index in indices:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < pool_size:
            raise InputError(f"pool index {index!r} is not one of the bundle's purifiers "
                             f"0..{pool_size - 1}")
    if len(set(indices)) != len(indices):
        raise InputError(f"pool indices must be distinct, got {list(indices)}")
    return indices
