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


GROUPINGS = ("scene", "mesh", "both", "none")


def plan_split(samples: dict[str, dict], test_fraction: float, val_fraction: float, seed: int,
               by: str) -> dict[str, str]:
    """sample id -> split. `samples` maps id -> manifest record (needs "scene" and
    "inserted_mesh" unless by == "none"). With "both", scenes and meshes are split
    separately; a sample goes to train or test only when its scene and its mesh agree, and to
    val otherwise, so train and test share no scene and no mesh (val then grows beyond
    val_fraction: it is for checkpoint choice, where such overlap leaks nothing into test)."""
    if by not in GROUPINGS:
        raise ValueError(f"--by must be one of {', '.join(GROUPINGS)}, got {by!r}")
    keys = {"scene": ("scene",), "mesh": ("inserted_mesh",), "both": ("scene", "inserted_mesh"),
            "none": ()}[by]
    if not keys:
        return assign_groups(list(samples), test_fraction, val_fraction, seed)
    assignments = []
    for key in keys:
        groups = [str(record[key]) for record in samples.values()]
        assignments.append((key, assign_groups(groups, test_fraction, val_fraction, seed)))
    plan = {}
    for sample_id, record in samples.items():
        splits = {assignment[str(record[key])] for key, assignment in assignments}
        plan[sample_id] = splits.pop() if len(splits) == 1 else "val"
    return plan
