"""utils.splits.split_external and grouped_draw: the external set's one dev/test split and the
draws of multi-source training (seeded, grouped, stratified); utils.experiments.fit_head /
head_cv against the transfer protocol's own cross-validation."""
import numpy as np
import pandas as pd
import pytest

from utils import crossval, experiments as xp, splits
from utils.datasets import ImageSet
from utils.transfer import Features


def fake_external(seed=0):
    """300 tumour images (3 types, near-duplicate groups of 1-3) and 240 healthy slices (80
    subjects x 3 views; a subject's slices form one group across views)."""
    rng = np.random.default_rng(seed)
    rows = []
    for t in ("glioma", "meningioma", "pituitary"):
        g = 0
        while sum(r["tumour_type"] == t for r in rows) < 100:
            for _ in range(rng.integers(1, 4)):
                rows.append({"tumour_type": t, "view": "", "group": f"k:{t}{g}", "y": 1})
            g += 1
    rows = [r for i, r in enumerate(rows)]
    for s in range(80):
        for v in ("axial", "coronal", "sagittal"):
            rows.append({"tumour_type": "none", "view": v, "group": f"ixi:{s}", "y": 0})
    table = pd.DataFrame(rows)
    n = len(table)
    return ImageSet(np.zeros((n, 2, 2, 1), np.float32), table["y"].to_numpy(),
                    table["group"].to_numpy(), table, ("no", "yes"))


def test_split_external_is_seeded_grouped_and_stratified():
    data = fake_external()
    dev, test = splits.split_external(data, seed=13)
    assert len(dev) + len(test) == len(data) and not set(dev) & set(test)
    assert splits.straddling_groups(dev, test, data.groups) == 0      # grouped
    again = splits.split_external(data, seed=13)
    assert np.array_equal(dev, again[0]) and np.array_equal(test, again[1])   # seeded
    assert not np.array_equal(test, splits.split_external(data, seed=14)[1])
    strata = splits.external_strata(data)
    for s in sorted(set(strata)):   # each tumour type and each healthy view on both sides
        n_dev, n_test = np.sum(strata[dev] == s), np.sum(strata[test] == s)
        assert n_dev > 0 and n_test > 0
        assert abs(n_dev - n_test) <= 0.25 * (n_dev + n_test), s


def test_grouped_draw_takes_whole_groups_in_proportion_and_nests():
    data = fake_external(1)
    strata, groups = splits.external_strata(data), data.groups
    dev, _ = splits.split_external(data)
    for k in (10, 40, 80):
        d = splits.grouped_draw(strata, groups, k, pool=dev, seed=5)
        assert set(d) <= set(dev)
        assert 0.7 * k <= len(d) <= 1.6 * k + 6
        rest = np.setdiff1d(dev, d)
        assert splits.straddling_groups(d, rest, groups) == 0          # whole groups only
        assert len(set(strata[d])) == len(set(strata[dev]))            # every stratum drawn
        assert np.array_equal(d, splits.grouped_draw(strata, groups, k, pool=dev, seed=5))
    small = splits.grouped_draw(strata, groups, 20, pool=dev, seed=5)
    large = splits.grouped_draw(strata, groups, 80, pool=dev, seed=5)
    assert set(small) <= set(large)
    assert len(splits.grouped_draw(strata, groups, 0, pool=dev)) == 0
    assert np.array_equal(splits.grouped_draw(strata, groups, 10 ** 6, pool=dev), np.sort(dev))
    assert not np.array_equal(small, splits.grouped_draw(strata, groups, 20, pool=dev, seed=6))


def test_external_subset_draws_inside_each_half_of_the_whole_sets_split():
    data = fake_external(2)
    table = data.table
    dev_all, test_all = splits.split_external(table)          # the table alone splits the same
    assert np.array_equal(dev_all, splits.split_external(data)[0])
    keep, part = splits.external_subset(table, None)
    assert np.array_equal(keep, np.arange(len(table)))
    assert np.array_equal(np.flatnonzero(part == "test"), test_all)   # whole set: the same split
    for subset, seed in ((60, 0), (120, 1), (200, 7)):
        keep, part = splits.external_subset(table, subset, seed=seed)
        assert 0.7 * subset <= len(keep) <= 1.5 * subset + 10
        assert set(keep[part == "test"]) <= set(test_all)      # a subset's test is the set's test
        assert set(keep[part == "dev"]) <= set(dev_all)
        assert (part == "test").any() and (part == "dev").any()
        small = table.iloc[keep].reset_index(drop=True).assign(external_split=part)
        d, t = splits.split_external(small)                     # the recorded halves come back
        assert np.array_equal(keep[t], keep[part == "test"]) and len(d) + len(t) == len(keep)
        rest = np.setdiff1d(np.arange(len(table)), keep)
        assert splits.straddling_groups(keep, rest, table["group"]) == 0   # whole groups
    with pytest.raises(ValueError, match="split by its loader"):
        splits.split_external(small, seed=14)


def test_head_cv_is_the_transfer_protocols_cross_validation():
    rng = np.random.default_rng(0)
    n = 60
    y = np.repeat([0, 1], n // 2)
    F = (rng.normal(0, 1, (n, 16)) + 0.8 * y[:, None]).astype(np.float32)
    groups = np.arange(n) // 2
    data = ImageSet(np.zeros((n, 8, 8, 3), np.float32), y, groups, None, ("no", "yes"))
    feats = Features(F, "efficientnet_lite0", "top_activation", "pooled", 8, True, 0.0, None)
    s = xp.protocol("transfer", quick=True)
    cv = crossval.run_transfer_cv(data, folds=2, seed=42, features=feats, verbose=False,
                                  **s["fit"])
    oof, (on_all,) = xp.head_cv(F, y, groups, folds=2, seed=42, quick=True, evaluate=(F,))
    np.testing.assert_allclose(oof, cv.oof, atol=1e-5)
    assert on_all.shape == (2, n)
    head = xp.fit_head(F, y, seed=3, quick=True)
    p = crossval.predict(head, F)
    assert p.shape == (n,) and np.all((p >= 0) & (p <= 1))
    np.testing.assert_allclose(p, crossval.predict(xp.fit_head(F, y, seed=3, quick=True), F),
                               atol=1e-6)


def test_external_scores_rows_per_type_and_view_match_scores_with_ci():
    """The per-type and per-view rows bootstrap only their rate, with the intervals that
    scores_with_ci gives the same images (same resamples)."""
    from utils import calibration as cal

    data = fake_external(3)
    rng = np.random.default_rng(0)
    p = np.clip(0.35 * data.y + rng.uniform(0, 0.65, len(data.y)), 0, 1)
    s = xp.external_scores(data.y, p, data.table, threshold=0.45, n_boot=60, seed=2)
    t = data.table
    for col, label, rate in (("tumour_type", 1, "sensitivity"), ("view", 0, "specificity")):
        for value in sorted(set(t.loc[data.y == label, col])):
            m = (data.y == label) & (t[col].to_numpy() == value)
            ref = cal.scores_with_ci(data.y[m], p[m], t["group"].to_numpy()[m], threshold=0.45,
                                     n_boot=60, seed=2).loc[rate]
            row = s.loc[f"{rate} {value}"]
            assert 0 < row["value"] < 1
            for k in ("value", "ci_low", "ci_high", "n"):
                assert row[k] == pytest.approx(ref[k]), (value, k)


def test_head_cv_trains_on_copies_of_training_images_only(monkeypatch):
    """With ``augmented``, each fold's head sees its training images and their copies, never a
    copy of a test image; the test images are scored as they are."""
    n = 40
    y = np.tile([0, 1], n // 2)
    groups = np.arange(n) // 2
    F = np.arange(n, dtype=np.float32)[:, None] * np.ones((1, 4), np.float32)   # row i encodes i
    copies = [F + 1000, F + 2000]                                                # copy c of i: i + 1000 c
    seen, scored = [], []
    real_fit = xp.fit_head

    def spy(Ftr, ytr, seed=42, quick=None):
        seen.append((Ftr[:, 0].astype(int), np.asarray(ytr)))
        return real_fit(Ftr / 3000.0, ytr, seed, quick)

    monkeypatch.setattr(xp, "fit_head", spy)
    monkeypatch.setattr(xp, "predict", lambda head, G: scored.append(G[:, 0].astype(int)) or
                        np.full(len(G), 0.5))
    oof, _ = xp.head_cv(F, y, groups, folds=2, seed=42, quick=True, augmented=copies)
    assert len(seen) == 2 and not np.isnan(oof).any()
    for (codes, ytr), test_codes in zip(seen, scored):
        train = np.sort(codes[codes < 1000])
        assert set(codes) == set(train) | set(train + 1000) | set(train + 2000)
        assert np.array_equal(ytr, y[codes % 1000])             # each copy keeps its image's label
        assert not set(test_codes) & set(train) and np.all(test_codes < 1000)


def test_head_cv_in_two_worker_processes_gives_the_same_figures():
    """workers=2 trains the fold heads in spawned processes, each seeded as in a serial run:
    the out-of-fold and the evaluated probabilities are the same, bit for bit."""
    rng = np.random.default_rng(1)
    n = 48
    y = np.repeat([0, 1], n // 2)
    F = (rng.normal(0, 1, (n, 8)) + 0.6 * y[:, None]).astype(np.float32)
    groups = np.arange(n) // 2
    serial = xp.head_cv(F, y, groups, folds=3, seed=42, quick=True, evaluate=(F[::-1],))
    parallel = xp.head_cv(F, y, groups, folds=3, seed=42, quick=True, evaluate=(F[::-1],),
                          workers=2)
    assert np.array_equal(serial[0], parallel[0]) and not np.isnan(parallel[0]).any()
    assert np.array_equal(serial[1][0], parallel[1][0]) and parallel[1][0].shape == (3, n)
    other = xp.head_cv(F, y, groups, folds=3, seed=42, model_seed=7, quick=True, workers=2)
    assert not np.array_equal(serial[0], other[0])          # the seed reaches the workers


def test_head_cv_final_head_is_fit_head_on_all_images_here_and_in_workers():
    """``final=`` trains, beside the folds, the head on all images (and their copies) with the
    model seed, as fit_head would: the same probabilities, serially and in worker processes."""
    rng = np.random.default_rng(2)
    n = 40
    y = np.repeat([0, 1], n // 2)
    F = (rng.normal(0, 1, (n, 8)) + 0.6 * y[:, None]).astype(np.float32)
    copies = [F + rng.normal(0, 0.1, F.shape).astype(np.float32)]
    groups = np.arange(n) // 2
    G = F[::-1].copy()
    oof, folds, (p_final,) = xp.head_cv(F, y, groups, folds=2, seed=42, model_seed=5, quick=True,
                                        evaluate=(G,), final=(G,))
    plain = xp.head_cv(F, y, groups, folds=2, seed=42, model_seed=5, quick=True, evaluate=(G,))
    assert np.array_equal(oof, plain[0]) and np.array_equal(folds[0], plain[1][0])
    expected = crossval.predict(xp.fit_head(F, y, 5, quick=True), G)
    np.testing.assert_array_equal(p_final, expected)
    with_copies = xp.head_cv(F, y, groups, folds=2, seed=42, model_seed=5, quick=True,
                             augmented=copies, final=(G, F), workers=2)
    head = xp.fit_head(np.concatenate([F] + copies), np.tile(y, 2), 5, quick=True)
    assert len(with_copies[2]) == 2
    np.testing.assert_array_equal(with_copies[2][0], crossval.predict(head, G))
    np.testing.assert_array_equal(with_copies[2][1], crossval.predict(head, F))
    assert not np.array_equal(with_copies[2][0], p_final)   # the copies reach the final head
