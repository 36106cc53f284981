"""Tests of the duplicate audit (utils.dedup) and the leakage-free splits (utils.splits),
on synthetic data and on the real brain MRI set (via the data mirror)."""
from __future__ import annotations

import io

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn")
Image = pytest.importorskip("PIL.Image")

from utils import dedup, splits  # noqa: E402


# ----------------------------------------------------------------------------------------
# Synthetic images
# ----------------------------------------------------------------------------------------
def smooth_image(seed: int, size: int = 128) -> np.ndarray:
    """A random but smooth grayscale picture (low-resolution noise, upsampled)."""
    low = np.random.default_rng(seed).integers(0, 256, (8, 8), dtype=np.uint8)
    return np.asarray(Image.fromarray(low).resize((size, size), Image.BICUBIC))


def reencoded(image: np.ndarray, size: int = 96, quality: int = 60) -> np.ndarray:
    """``image`` resized and saved as JPEG, decoded again."""
    buf = io.BytesIO()
    Image.fromarray(image).resize((size, size), Image.BILINEAR).save(buf, "JPEG",
                                                                     quality=quality)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("L"))


def test_exact_groups():
    shas = ["a", "b", "a", "c", "b", "a"]
    assert dedup.exact_groups(shas).tolist() == [0, 1, 0, 2, 1, 0]
    assert dedup.exact_groups(["x", "y", "z"]).tolist() == [0, 1, 2]
    assert dedup.exact_groups(pd.Series(["q", "q"])).tolist() == [0, 0]


def test_dhash_properties():
    img = smooth_image(0)
    h = dedup.dhash(img)
    assert h.shape == (256,) and h.dtype == bool
    assert dedup.dhash(img, hash_size=8).shape == (64,)
    hashes = np.stack([h, dedup.dhash(reencoded(img)), dedup.dhash(smooth_image(1))])
    dist = dedup.hamming_matrix(hashes)
    assert dist.shape == (3, 3) and (np.diag(dist) == 0).all() and (dist == dist.T).all()
    assert dist[0, 1] <= 20 < 60 < dist[0, 2]


def test_near_groups_synthetic():
    a, b = smooth_image(0), smooth_image(1)
    images = [a, reencoded(a), b, reencoded(a, size=200, quality=40), smooth_image(2)]
    groups = dedup.near_groups(images)
    assert groups.tolist() == [0, 0, 1, 0, 2]
    # two unrelated random images are never grouped
    assert dedup.near_groups([smooth_image(10), smooth_image(11)]).tolist() == [0, 1]
    # max_distance=0 only links identical hashes
    assert dedup.near_groups([a, a.copy(), b], max_distance=0).tolist() == [0, 0, 1]


def test_near_groups_merges_exact_groups_and_is_transitive():
    a, b, c = smooth_image(3), smooth_image(4), smooth_image(5)
    # different pictures that an exact grouping says are the same file are merged
    assert dedup.near_groups([a, b, c], exact=[0, 1, 0]).tolist() == [0, 1, 0]
    # a - a' - a'' chains are linked transitively, and the result is at least as coarse
    images = [a, b, reencoded(a), c, reencoded(reencoded(a), size=120)]
    near = dedup.near_groups(images, exact=[0, 1, 2, 3, 2])
    assert near[0] == near[2] == near[4] and len(set(near)) == 3


def test_audit_and_group_table():
    a, b = smooth_image(6), smooth_image(7)
    files = ["a.png", "a_copy.png", "a_small.jpg", "b.png"]
    shas = ["s1", "s1", "s2", "s3"]
    images = [a, a, reencoded(a), b]
    result = dedup.audit(files, shas, images, labels=["yes", "yes", "no", "no"])
    assert result["n_files"] == 4
    assert result["n_exact_groups"] == 3 and result["n_near_groups"] == 2
    table = result["near_table"]
    assert len(table) == 1 and table.loc[0, "size"] == 3
    assert table.loc[0, "file"] == files[:3]
    assert len(result["label_conflicts"]) == 1  # a and its copy carry two labels
    assert result["label_conflicts"].loc[0, "label"] == ["no", "yes"]
    assert len(result["exact_table"]) == 1


def test_group_rows_shows_each_group_in_a_row(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for k, size in enumerate((32, 48, 32)):
        path = tmp_path / f"img{k}.png"
        Image.fromarray(smooth_image(k, size)).save(path)
        paths.append(path)
    fig = dedup.group_rows([paths[:2], paths[2:]])
    axes = fig.axes
    assert len(axes) == 4  # two rows of two cells, the empty one hidden
    assert axes[0].get_title() == "img0.png\n32x32" and axes[1].get_title() == "img1.png\n48x48"
    assert axes[3].get_title() == "" and not axes[3].get_images()
    plt.close(fig)


# ----------------------------------------------------------------------------------------
# Splits on synthetic groups
# ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def grouped_data():
    """About 300 samples in 90 groups of 1-6 members, one label per group, about 40 % positive."""
    rng = np.random.default_rng(0)
    sizes = rng.integers(1, 7, 90)
    groups = np.repeat(np.arange(90), sizes)
    group_label = (rng.random(90) < 0.4).astype(int)
    y = group_label[groups]
    perm = rng.permutation(len(y))  # members of a group are not contiguous
    return y[perm], groups[perm]


def test_grouped_kfold_keeps_groups_together(grouped_data):
    y, groups = grouped_data
    folds = splits.grouped_kfold(y, groups, n_splits=5, seed=0)
    assert len(folds) == 5
    seen = np.zeros(len(y), int)
    for train, test in folds:
        assert len(set(train) & set(test)) == 0
        assert len(train) + len(test) == len(y)
        assert splits.straddling_groups(train, test, groups) == 0
        splits.check_split(train, test, groups)  # does not raise
        seen[test] += 1
        assert abs(y[test].mean() - y.mean()) < 0.12  # class ratio roughly kept
    assert (seen == 1).all()  # every sample is in exactly one test fold


def test_grouped_kfold_seeds(grouped_data):
    y, groups = grouped_data

    def tests(seed):
        return [sorted(te.tolist()) for _, te in splits.grouped_kfold(y, groups, 5, seed=seed)]

    assert tests(1) == tests(1)
    assert tests(1) != tests(2)
    with pytest.raises(ValueError, match="groups"):
        splits.grouped_kfold(y, groups[:-1])


def test_stratified_kfold_and_holdouts(grouped_data):
    y, groups = grouped_data
    folds = splits.stratified_kfold(y, n_splits=4, seed=0)
    assert sorted(np.concatenate([te for _, te in folds]).tolist()) == list(range(len(y)))
    train, test = splits.grouped_holdout(y, groups, test_size=0.25, seed=0)
    assert splits.straddling_groups(train, test, groups) == 0
    assert 0.15 < len(test) / len(y) < 0.35
    train, test = splits.random_holdout(y, test_size=0.2, seed=0)
    assert len(test) == int(np.ceil(0.2 * len(y))) and len(set(train) | set(test)) == len(y)
    assert set(train).isdisjoint(test)
    assert splits.random_holdout(y, seed=3)[1].tolist() == splits.random_holdout(y, seed=3)[1].tolist()


def test_groups_spread(grouped_data):
    y, groups = grouped_data
    assert splits.groups_spread(splits.grouped_kfold(y, groups, 5, seed=0), groups) == 0
    random_folds = splits.stratified_kfold(y, 5, seed=0)
    spread = splits.groups_spread(random_folds, groups)
    multi = int((np.bincount(groups) > 1).sum())
    assert 0 < spread <= multi
    # by hand: groups 0 and 1 have two members each; 0 is split over two folds, 1 is not
    g = np.array([0, 0, 1, 1, 2])
    folds = [(np.array([1, 2, 3]), np.array([0, 4])), (np.array([0, 4]), np.array([1, 2, 3]))]
    assert splits.groups_spread(folds, g) == 1


def test_check_split_raises_on_overlap():
    with pytest.raises(ValueError, match="both train and test"):
        splits.check_split([0, 1, 2], [2, 3])
    groups = np.array([0, 0, 1, 1])
    with pytest.raises(ValueError, match="straddle"):
        splits.check_split([0, 2], [1, 3], groups)
    splits.check_split([0, 1], [2, 3], groups)
    assert splits.straddling_groups([0, 2], [1, 3], groups) == 2


# ----------------------------------------------------------------------------------------
# The real brain MRI set
# ----------------------------------------------------------------------------------------
@pytest.fixture
def brain(mirror_env):
    from utils import datasets

    return datasets.brain_mri_table()


def test_brain_mri_duplicate_groups(brain):
    assert len(brain) == 253
    assert brain["exact_group"].nunique() == 228
    assert 200 <= brain["near_group"].nunique() <= 215
    # near groups are at least as coarse as exact groups
    assert (brain.groupby("exact_group")["near_group"].nunique() == 1).all()
    # no duplicate group mixes tumour and no-tumour images
    assert (brain.groupby("near_group")["y"].nunique() == 1).all()
    assert (brain.groupby("exact_group")["sha256"].nunique() == 1).all()


def test_brain_mri_random_split_leaks_grouped_does_not(brain):
    y, groups = brain["y"].to_numpy(), brain["near_group"].to_numpy()
    train, test = splits.random_holdout(y, test_size=0.2, seed=0)
    assert splits.straddling_groups(train, test, groups) > 0  # the leak the book shows
    with pytest.raises(ValueError, match="straddle"):
        splits.check_split(train, test, groups)
    train, test = splits.grouped_holdout(y, groups, test_size=0.2, seed=0)
    assert splits.straddling_groups(train, test, groups) == 0
    for train, test in splits.grouped_kfold(y, groups, n_splits=5, seed=42):
        assert splits.straddling_groups(train, test, groups) == 0
        assert abs(y[test].mean() - y.mean()) < 0.1
