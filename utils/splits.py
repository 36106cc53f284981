"""Seeded, stratified and grouped splits (scikit-learn underneath).

Groups are duplicate groups (see :mod:`utils.dedup`) or patients: all members of a group always
land on the same side of a split.
"""
from __future__ import annotations

import numpy as np


def grouped_kfold(y, groups, n_splits: int = 5, seed: int = 42):
    """Stratified, grouped K-fold: a list of ``(train_idx, test_idx)`` index arrays.

    Class proportions are kept as close as the groups allow; no group is split.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    y, groups = np.asarray(y), np.asarray(groups)
    if len(y) != len(groups):
        raise ValueError(f"y has {len(y)} entries but groups has {len(groups)}")
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return [(tr, te) for tr, te in cv.split(np.zeros(len(y)), y, groups)]


def stratified_kfold(y, n_splits: int = 5, seed: int = 42):
    """Plain stratified K-fold, ignoring groups (what most papers do)."""
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y)
    cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return [(tr, te) for tr, te in cv.split(np.zeros(len(y)), y)]


def grouped_holdout(y, groups, test_size: float = 0.2, seed: int = 42):
    """One stratified, grouped train/test split with about ``test_size`` of the data in test."""
    n_splits = max(2, int(round(1.0 / test_size)))
    return grouped_kfold(y, groups, n_splits=n_splits, seed=seed)[0]


def random_holdout(y, test_size: float = 0.2, seed: int | None = None):
    """The paper's protocol: one random stratified split that ignores duplicates."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    return tuple(train_test_split(idx, test_size=test_size, random_state=seed, stratify=y))


def straddling_groups(train_idx, test_idx, groups) -> int:
    """How many groups have members on both sides of a split (0 for a leakage-free split)."""
    groups = np.asarray(groups)
    return len(set(groups[np.asarray(train_idx)]) & set(groups[np.asarray(test_idx)]))


def check_split(train_idx, test_idx, groups=None) -> None:
    """Raise ``ValueError`` if a split overlaps by index or (when given) by group."""
    overlap = set(np.asarray(train_idx)) & set(np.asarray(test_idx))
    if overlap:
        raise ValueError(f"{len(overlap)} samples are in both train and test")
    if groups is not None:
        n = straddling_groups(train_idx, test_idx, groups)
        if n:
            raise ValueError(f"{n} duplicate/patient groups straddle the split (leakage)")


def groups_spread(folds, groups) -> int:
    """How many groups have members in the test parts of more than one fold.

    ``folds`` is a list of ``(train_idx, test_idx)`` pairs (as :func:`grouped_kfold` and
    :func:`stratified_kfold` return). 0 means every group is tested inside one fold; a positive
    number counts the groups whose members are tested against their own copies in training.
    """
    groups = np.asarray(groups)
    folds_of: dict = {}
    for i, (_, test) in enumerate(folds):
        for g in groups[np.asarray(test)]:
            folds_of.setdefault(g, set()).add(i)
    return sum(len(f) > 1 for f in folds_of.values())


# ------------------------------------------------------------------------------------------
# The external set: one development/test split, and grouped draws from a pool
# ------------------------------------------------------------------------------------------
#: The seed and test share of the external set's one development/test split.
EXTERNAL_SPLIT_SEED, EXTERNAL_TEST_SIZE = 13, 0.5


def _table_and_y(data):
    """``(table, y)`` of an ImageSet of the external set, or of its table alone (column ``y``)."""
    table = getattr(data, "table", data)
    y = np.asarray(data.y) if hasattr(data, "y") else table["y"].to_numpy()
    return table, y


def external_strata(data) -> np.ndarray:
    """The strata of the external brain MRI set (an ImageSet of
    :func:`utils.datasets.load_brain_mri_external`, or its table): the tumour type for a tumour
    image, ``"healthy <view>"`` for a healthy slice."""
    table, y = _table_and_y(data)
    return np.where(y == 1, table["tumour_type"].astype(str).to_numpy(),
                    "healthy " + table["view"].astype(str).to_numpy())


def _split_external_rows(table, seed: int, test_size: float):
    groups = table["group"].to_numpy()
    dev, test = grouped_holdout(external_strata(table), groups, test_size, seed=seed)
    check_split(dev, test, groups)
    return np.sort(dev), np.sort(test)


def split_external(data, seed: int = EXTERNAL_SPLIT_SEED, test_size: float = EXTERNAL_TEST_SIZE):
    """The external set split once into *external-dev* and *external-test*: stratified by
    :func:`external_strata` (each tumour type, each view of the healthy slices on both sides in
    about equal numbers), grouped by the table's ``group`` (IXI subjects, near-duplicate groups:
    none on both sides) and seeded.  Returns ``(dev_idx, test_idx)``, sorted; raises if a group
    straddles the split.

    The split is made on the **whole** external table: the loader
    (:func:`utils.datasets.load_brain_mri_external`) splits it before it draws a quick-mode
    subset (:func:`external_subset`) and records each row's half in the column
    ``external_split``; when that column is there, it is the split returned, so a subset's
    external-test images are external-test images of the whole set at every size.  Such a set
    cannot be split with another ``seed`` or ``test_size`` (``ValueError``)."""
    table, _ = _table_and_y(data)
    if "external_split" in table.columns:
        if (seed, test_size) != (EXTERNAL_SPLIT_SEED, EXTERNAL_TEST_SIZE):
            raise ValueError("this external set was split by its loader (seed "
                             f"{EXTERNAL_SPLIT_SEED}, test_size {EXTERNAL_TEST_SIZE}); load the "
                             "whole set to split it otherwise")
        part = table["external_split"].to_numpy()
        dev, test = np.flatnonzero(part == "dev"), np.flatnonzero(part == "test")
        check_split(dev, test, table["group"].to_numpy())
        return dev, test
    return _split_external_rows(table, seed, test_size)


def external_subset(table, subset: int | None, seed: int = 42,
                    split_seed: int = EXTERNAL_SPLIT_SEED, test_size: float = EXTERNAL_TEST_SIZE):
    """The external set's split and, inside each half, a subset: ``(keep, part)``.

    The whole ``table`` is split once (:func:`split_external`, ``split_seed``); then about
    ``subset`` rows are drawn, whole groups per stratum (:func:`grouped_draw`, ``seed``), inside
    external-dev and inside external-test in proportion to their sizes.  ``keep``: the kept row
    indices, sorted (every row when ``subset`` is None or not smaller than the table); ``part``:
    ``"dev"`` or ``"test"`` for each kept row.  Every kept external-test row is an
    external-test row of the whole set."""
    dev, test = _split_external_rows(table, split_seed, test_size)
    n = len(table)
    if subset is None or subset >= n:
        keep = np.arange(n)
    else:
        strata, groups = external_strata(table), table["group"].to_numpy()
        keep = np.sort(np.concatenate([
            grouped_draw(strata, groups, max(1, int(round(subset * len(half) / n))), pool=half,
                         seed=seed) for half in (dev, test)]))
    in_test = np.zeros(n, bool)
    in_test[test] = True
    return keep, np.where(in_test[keep], "test", "dev")


def grouped_draw(strata, groups, k: int, pool=None, seed: int = 0) -> np.ndarray:
    """About ``k`` indices drawn from ``pool`` (default: every index): whole groups, seeded,
    each stratum contributing in proportion to its size in the pool (at least one group from
    every stratum; a group whose members lie in several strata, as an IXI subject's slices in
    three views, counts in the stratum of all of them).  Returns the drawn indices, sorted; ``k=0`` gives none and
    ``k >= len(pool)`` the whole pool.  The draw for a larger ``k`` with the same seed contains
    the draw for a smaller one (a learning curve adds images, it never swaps them)."""
    strata, groups = np.asarray(strata), np.asarray(groups)
    if len(strata) != len(groups):
        raise ValueError(f"strata has {len(strata)} entries but groups has {len(groups)}")
    pool = np.arange(len(groups)) if pool is None else np.asarray(pool, dtype=int)
    if k <= 0:
        return np.zeros(0, dtype=int)
    if k >= len(pool):
        return np.sort(pool)
    rng = np.random.default_rng(seed)
    # a group belongs to the strata of its members (an IXI subject's slices span three views:
    # its stratum is all three), so that whole groups are drawn, never a part of one
    members_of: dict = {}
    for i in pool:
        members_of.setdefault(groups[i], []).append(i)
    group_stratum = {g: "|".join(sorted(set(strata[m]))) for g, m in members_of.items()}
    taken = []
    for stratum in sorted(set(group_stratum.values())):
        these_groups = sorted(g for g, st in group_stratum.items() if st == stratum)
        size = sum(len(members_of[g]) for g in these_groups)
        target = max(1, int(round(k * size / len(pool))))
        n = 0
        for g in rng.permutation(np.array(these_groups, dtype=object)):   # fixed order per seed
            if n >= target:
                break
            taken.extend(members_of[g])
            n += len(members_of[g])
    return np.sort(np.array(taken, dtype=int))
