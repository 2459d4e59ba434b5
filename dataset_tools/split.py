"""Deterministic splits grouped so that a group (a scene photo, a mesh) never spans splits."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence


def stable_order(keys: Sequence[str], seed: int) -> list[str]:
    """The keys in an order that depends only on the keys themselves and the seed."""
    def rank(key: str) -> str:
        return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()

    return sorted(set(keys), key=rank)


def assign_groups(groups: Sequence[str], test_fraction: float, val_fraction: float = 0.0,
                  seed: int = 0) -> dict[str, str]:
    """group -> "train" | "val" | "test". At least one test group (and one val group when
    val_fraction > 0) as long as one group is left for training."""
    ordered = stable_order(groups, seed)
    count = len(ordered)

    def share(fraction: float) -> int:
        if fraction <= 0 or count < 2:
            return 0
        return max(1, math.floor(fraction * count + 0.5))

    n_test = min(share(test_fraction), max(count - 1, 0))
    n_val = min(share(val_fraction), max(count - 1 - n_test, 0))
    split = {}
    for position, group in enumerate(ordered):
        split[group] = "test" if position < n_test else "val" if position < n_test + n_val \
            else "train"
    return split
