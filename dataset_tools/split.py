"""Deterministic splits grouped so that a group (a scene photo, a mesh) never spans splits."""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from dataset_tools.layout import SPLITS
from dataset_tools.records import ManifestRecord


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
# Share of groups (scene photos, by default) whose samples go to test/.
TEST_FRACTION = 0.15
GROUP_KEYS = {"scene": ("scene",), "mesh": ("inserted_mesh",),
              "both": ("scene", "inserted_mesh"), "none": ()}  # --by -> manifest keys


def plan_split(samples: dict[str, ManifestRecord], test_fraction: float,
               val_fraction: float, seed: int, by: str) -> dict[str, str]:
    """sample id -> split. `samples` maps id -> manifest record (needs "scene" and
    and inserted_mesh unless by == "none"). With "both", scenes and meshes are split
    separately; a sample goes to train or test only when its scene and its mesh agree, and to
    val otherwise, so train and test share no scene and no mesh (val then grows beyond
    val_fraction: it is for checkpoint choice, where such overlap leaks nothing into test)."""
    if by not in GROUPINGS:
        raise ValueError(f"--by must be one of {', '.join(GROUPINGS)}, got {by!r}")
    if not GROUP_KEYS[by]:
        return assign_groups(list(samples), test_fraction, val_fraction, seed)
    assignments = group_assignments(samples, test_fraction, val_fraction, seed, by)
    plan = {}
    for sample_id, record in samples.items():
        splits = {assignment[record.group(key)] for key, assignment in assignments.items()}
        plan[sample_id] = splits.pop() if len(splits) == 1 else "val"
    return plan


def group_assignments(samples: dict[str, ManifestRecord], test_fraction: float, val_fraction: float,
                      seed: int, by: str) -> dict[str, dict[str, str]]:
    """Manifest key ("scene", "inserted_mesh") -> group -> split: each key's groups split on
    their own, as `plan_split` does."""
    return {key: assign_groups([record.group(key) for record in samples.values()],
                               test_fraction, val_fraction, seed)
            for key in GROUP_KEYS[by]}


def hashed_split(key: str, test_fraction: float, val_fraction: float, seed: int) -> str:
    """A split for a group no split has seen: test with probability `test_fraction`, val with
    `val_fraction`, from the group's name and the seed alone (the same on every machine)."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    share = int.from_bytes(digest[:8], "big") / 2.0**64
    return "test" if share < test_fraction else "val" if share < test_fraction + val_fraction \
        else "train"


def _settled(counts: dict[str, int], by: str) -> str:
    """The split of a group from the splits its samples are in: with --by both a group's
    samples are in its own split or in val, so any train (test) sample makes it a train (test)
    group, and a group seen only in val stays val. Otherwise the split most of them are in."""
    if by == "both":
        in_train, in_test = counts.get("train", 0), counts.get("test", 0)
        if in_train or in_test:
            return "train" if in_train >= in_test else "test"
        return "val"
    return max(sorted(counts), key=lambda split: counts[split])


@dataclass(frozen=True)
class SplitRule:
    """Where a new sample of a dataset goes so that it leaks no group across splits: a group
    (scene or mesh, after `by`) that the dataset already holds keeps its split; a new group
    gets `hashed_split`; with --by both a sample whose groups disagree goes to val (as in
    `plan_split`); with --by none each sample is its own group."""

    by: str
    test: float
    val: float
    seed: int
    known: dict[str, dict[str, str]] = field(default_factory=dict)  # key -> group -> split

    @classmethod
    def from_samples(cls, by: str, test: float, val: float, seed: int,
                     samples: dict[str, ManifestRecord],
                     base: dict[str, dict[str, str]] | None = None) -> SplitRule:
        """The rule of a dataset whose samples (id -> manifest record) were split `by`: a
        group's split is the one its records name in "split_groups" (what `shadow-dataset
        split --by both` records), else the one its samples' "split" implies (`_settled`);
        `base` (key -> group -> split) fills in groups that have no sample yet."""
        if by not in GROUPINGS:
            raise ValueError(f"--by must be one of {', '.join(GROUPINGS)}, got {by!r}")
        keys = GROUP_KEYS[by]
        seen: dict[str, dict[str, Counter]] = {key: defaultdict(Counter) for key in keys}
        recorded: dict[str, dict[str, str]] = {key: {} for key in keys}
        for record in samples.values():
            groups = record.split_groups or {}
            for key in keys:
                if getattr(record, key) is None:
                    continue
                if groups.get(key) in SPLITS:
                    recorded[key][record.group(key)] = groups[key]
                elif record.split in SPLITS:
                    seen[key][record.group(key)][record.split] += 1
        known = {key: {**(base or {}).get(key, {}),
                       **{group: _settled(counts, by) for group, counts in seen[key].items()},
                       **recorded[key]}
                 for key in keys}
        return cls(by, test, val, seed, known)

    def groups_of(self, record: ManifestRecord) -> dict[str, str]:
        """What `split_groups` of a new sample's record holds: with --by both, the split of
        its scene and of its mesh (the sample's own split is val when they differ)."""
        keys = GROUP_KEYS[self.by]
        if len(keys) < 2:
            return {}
        return {key: self.group_split(key, record.group(key)) for key in keys}

    def group_split(self, key: str, group: str) -> str:
        known = self.known.get(key, {})
        if group in known:
            return known[group]
        return hashed_split(group, self.test, self.val, self.seed)

    def split_of(self, record: ManifestRecord) -> str:
        """The split of a new sample (its manifest record: id, scene, inserted_mesh)."""
        keys = GROUP_KEYS[self.by]
        if not keys:
            return hashed_split(record.id, self.test, self.val, self.seed)
        splits = {self.group_split(key, record.group(key)) for key in keys}
        return splits.pop() if len(splits) == 1 else "val"
