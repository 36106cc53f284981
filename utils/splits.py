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
