"""Tests of utils.metrics: every hand-written metric against scikit-learn, the intervals
against known values and scipy, the paired t-test and McNemar's test, the plots (two classes and
more) and the split-variability simulation."""
import math

import numpy as np
import pytest

from utils import metrics

sk = pytest.importorskip("sklearn.metrics")


@pytest.fixture
def labels():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 2, 200)
    scores = np.clip(0.35 * y_true + rng.normal(0.35, 0.25, 200), 0, 1)
    return y_true, scores, (scores > 0.5).astype(int)


def test_confusion_counts_match_sklearn(labels):
    y_true, _, y_pred = labels
    c = metrics.confusion_counts(y_true, y_pred)
    tn, fp, fn, tp = sk.confusion_matrix(y_true, y_pred).ravel()
    assert (c["tp"], c["tn"], c["fp"], c["fn"]) == (tp, tn, fp, fn)
    assert sum(c.values()) == len(y_true)


def test_confusion_counts_other_positive_label():
    c = metrics.confusion_counts(["yes", "no", "yes"], ["yes", "yes", "no"], positive="yes")
    assert c == {"tp": 1, "tn": 0, "fp": 1, "fn": 1}


def test_confusion_counts_rejects_bad_input():
    with pytest.raises(ValueError, match="entries"):
        metrics.confusion_counts([0, 1], [0])
    with pytest.raises(ValueError, match="binary"):
        metrics.confusion_counts([0, 1, 2], [0, 1, 2])


def test_metrics_match_sklearn(labels):
    y_true, _, y_pred = labels
    m = metrics.classification_metrics(y_true, y_pred)
    assert m["accuracy"] == pytest.approx(sk.accuracy_score(y_true, y_pred))
    assert m["precision"] == pytest.approx(sk.precision_score(y_true, y_pred))
    assert m["recall"] == pytest.approx(sk.recall_score(y_true, y_pred))
    assert m["specificity"] == pytest.approx(sk.recall_score(y_true, y_pred, pos_label=0))
    assert m["f1"] == pytest.approx(sk.f1_score(y_true, y_pred))
    assert m["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(y_true, y_pred))
    assert m["npv"] == pytest.approx(sk.precision_score(y_true, y_pred, pos_label=0))


def test_metrics_from_counts_by_hand():
    m = metrics.metrics_from_counts(tp=32, tn=44, fp=16, fn=8)
    assert m["accuracy"] == pytest.approx(0.76)           # the paper's eq. (1)
    assert m["precision"] == pytest.approx(32 / 48)
    assert m["recall"] == pytest.approx(0.8)
    assert m["specificity"] == pytest.approx(44 / 60)
    assert m["f1"] == pytest.approx(2 * (32 / 48) * 0.8 / (32 / 48 + 0.8))


def test_zero_division_is_zero_like_sklearn():
    y_true, y_pred = np.array([1, 1, 0, 0]), np.zeros(4, int)   # never predicts positive
    m = metrics.classification_metrics(y_true, y_pred)
    assert m["precision"] == 0.0 and m["recall"] == 0.0 and m["specificity"] == 1.0
    assert np.isnan(metrics.metrics_from_counts(0, 4, 0, 0, zero_division=np.nan)["precision"])


def test_always_yes_baseline():
    y = np.array([1] * 61 + [0] * 39)
    m = metrics.classification_metrics(y, np.ones_like(y))
    assert m["accuracy"] == pytest.approx(0.61)
    assert m["recall"] == 1.0 and m["specificity"] == 0.0 and m["balanced_accuracy"] == 0.5


def test_auc_by_pairs_matches_sklearn(labels):
    y_true, scores, _ = labels
    assert metrics.auc_by_pairs(y_true, scores) == pytest.approx(sk.roc_auc_score(y_true, scores))
    tied = np.round(scores, 1)   # many ties count one half
    assert metrics.auc_by_pairs(y_true, tied) == pytest.approx(sk.roc_auc_score(y_true, tied))
    with pytest.raises(ValueError):
        metrics.auc_by_pairs([1, 1], [0.2, 0.3])


def test_wilson_paper_example():
    lo, hi = metrics.wilson_ci(40, 51)        # 78 % of 51 test images
    assert lo == pytest.approx(0.654, abs=2e-3) and hi == pytest.approx(0.875, abs=2e-3)


@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (40, 51), (51, 51), (700, 1000)])
def test_wilson_matches_scipy(k, n):
    stats = pytest.importorskip("scipy.stats")
    ref = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    lo, hi = metrics.wilson_ci(k, n)
    assert (lo, hi) == pytest.approx((ref.low, ref.high), abs=1e-9)
    assert 0.0 <= lo <= k / n <= hi <= 1.0


def test_wilson_narrows_with_n_and_confidence():
    w = lambda ci: ci[1] - ci[0]  # noqa: E731
    assert w(metrics.wilson_ci(80, 100)) < w(metrics.wilson_ci(8, 10))
    assert w(metrics.wilson_ci(8, 10, 0.90)) < w(metrics.wilson_ci(8, 10, 0.99))
    with pytest.raises(ValueError):
        metrics.wilson_ci(11, 10)
    with pytest.raises(ValueError):
        metrics.wilson_ci(1, 10, confidence=95)


def test_wald_is_symmetric_and_can_leave_unit_interval():
    lo, hi = metrics.wald_ci(40, 51)
    assert (40 / 51 - lo) == pytest.approx(hi - 40 / 51)
    assert metrics.wald_ci(10, 10) == (1.0, 1.0)         # the Wald interval collapses at p = 1
    assert metrics.wilson_ci(10, 10)[0] < 0.75


def test_bootstrap_ci(labels):
    y_true, _, y_pred = labels
    acc = np.mean(y_true == y_pred)
    lo, hi, samples = metrics.bootstrap_ci(y_true, y_pred, n_boot=500, seed=1, return_samples=True)
    assert lo < acc < hi and len(samples) == 500
    assert metrics.bootstrap_ci(y_true, y_pred, n_boot=500, seed=1) == (lo, hi)
    wl, wh = metrics.wilson_ci(int((y_true == y_pred).sum()), len(y_true))
    assert abs(lo - wl) < 0.05 and abs(hi - wh) < 0.05    # both describe the same uncertainty
    f1_lo, f1_hi = metrics.bootstrap_ci(y_true, y_pred, metric=sk.f1_score, n_boot=200)
    assert 0 <= f1_lo <= f1_hi <= 1


def test_binary_metrics_known_numbers():
    y = [1, 1, 1, 0, 0, 0, 0, 1]
    p = [0.9, 0.8, 0.3, 0.2, 0.6, 0.1, 0.4, 0.7]
    m = metrics.binary_metrics(y, p)
    assert (m["tp"], m["fn"], m["tn"], m["fp"]) == (3, 1, 3, 1)
    assert m["accuracy"] == 0.75 and m["sensitivity"] == 0.75 and m["specificity"] == 0.75
    assert m["auc"] == pytest.approx(14 / 16)
    assert math.isnan(metrics.binary_metrics([1, 1], [0.2, 0.9])["auc"])
    assert list(m) == ["accuracy", "auc", "sensitivity", "specificity", "tp", "fn", "tn", "fp"]
    assert all(type(m[k]) is int for k in ("tp", "fn", "tn", "fp"))


def test_binary_metrics_is_the_fold_row_of_both_cross_validations():
    """One function for the two former copies (the CNN chapter's and the transfer chapter's
    cross-validation): the counts are confusion_counts of the thresholded probabilities, the
    rates agree with classification_metrics where defined, and are NaN (not 0) where not."""
    y = np.array([1, 1, 0, 0, 0, 1])
    p = np.array([0.5, 0.49, 0.51, 0.2, 0.0, 1.0])
    m = metrics.binary_metrics(y, p)
    c = metrics.classification_metrics(y, (p >= 0.5).astype(int))
    assert {k: m[k] for k in ("tp", "fn", "tn", "fp")} == {k: c[k] for k in ("tp", "fn", "tn", "fp")}
    assert m["sensitivity"] == c["recall"] and m["specificity"] == c["specificity"]
    assert m["accuracy"] == c["accuracy"] and m["auc"] == pytest.approx(sk.roc_auc_score(y, p))
    assert metrics.binary_metrics(y, p, threshold=0.0)["specificity"] == 0.0
    only_negatives = metrics.binary_metrics([0, 0, 0], [0.1, 0.7, 0.2])
    assert math.isnan(only_negatives["sensitivity"]) and math.isnan(only_negatives["auc"])
    assert only_negatives["specificity"] == pytest.approx(2 / 3)
    assert metrics.classification_metrics([0, 0, 0], [0, 1, 0])["recall"] == 0.0  # the other rule
    with pytest.raises(ValueError, match="binary"):
        metrics.binary_metrics([0, 1, 2], [0.1, 0.7, 0.2])


def test_paired_test_known_numbers():
    from scipy import stats

    a, b = [1, 2, 3, 4, 5], [0, 1, 1, 3, 4]  # differences 1, 1, 2, 1, 1
    r = metrics.paired_test(a, b)
    assert r["mean_diff"] == pytest.approx(1.2)
    assert r["t"] == pytest.approx(6.0)
    assert r["df"] == 4
    ref = stats.ttest_rel(a, b)
    assert r["p"] == pytest.approx(ref.pvalue)
    assert r["ci_low"] < 1.2 < r["ci_high"]
    same = metrics.paired_test([0.8, 0.7], [0.8, 0.7])
    assert same["p"] == 1.0 and same["mean_diff"] == 0
    with pytest.raises(ValueError):
        metrics.paired_test([1, 2], [1, 2, 3])


def test_mcnemar_known_numbers():
    y = np.array([1] * 10)
    a = np.array([1] * 8 + [0] * 2, float)  # A right on 8
    b = np.array([0] * 6 + [1] * 4, float)  # B right on 4 (the last four)
    r = metrics.mcnemar_test(y, a, b)
    # A right & B wrong: images 0-5 (6); A wrong & B right: images 8, 9 (2)
    assert r["a_right_b_wrong"] == 6 and r["a_wrong_b_right"] == 2 and r["discordant"] == 8
    assert r["p"] == pytest.approx(2 * sum(math.comb(8, k) for k in range(3)) / 2 ** 8)


def test_plots_return_titled_figures(labels):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y_true, scores, y_pred = labels
    fig = metrics.plot_confusion(y_true, y_pred, title="CM")
    ax = fig.axes[0]
    assert ax.get_title() == "CM" and ax.get_xlabel() == "predicted class"
    texts = [t.get_text() for t in ax.texts]
    c = metrics.confusion_counts(y_true, y_pred)
    assert any(t.startswith(f"TP = {c['tp']}") for t in texts)
    fig2 = metrics.plot_roc_pr(y_true, scores, title="Curves")
    assert len(fig2.axes) == 2 and fig2._suptitle.get_text() == "Curves"
    assert "AUC" in fig2.axes[0].get_legend().get_texts()[0].get_text()
    plt.close("all")


def test_split_variability_and_cross_validate():
    from sklearn.linear_model import LogisticRegression

    from utils import splits

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 60)
    X = rng.normal(size=(120, 5)) + y[:, None] * 0.8
    groups = np.arange(120) // 2                     # pairs of "duplicates"
    make = lambda: LogisticRegression()              # noqa: E731
    df = metrics.split_variability(X, y, make, n_repeats=6, groups=groups, seed=3)
    assert list(df["seed"]) == [3, 4, 5, 6, 7, 8]
    assert df["accuracy"].between(0, 1).all() and df["accuracy"].nunique() > 1
    assert (df["n_test"] == 24).all()
    df_random = metrics.split_variability(X, y, make, n_repeats=3)
    assert len(df_random) == 3 and (df_random["majority"] == 0.5).all()
    folds = splits.grouped_kfold(y, groups, 4)
    scores = metrics.cross_validate(X, y, folds, make)
    assert scores.shape == (4,) and scores.mean() > 0.6


def test_plot_confusion_with_more_classes():
    """The former utils.covid use: three classes, each cell its count and share of the row,
    coloured by the share; rows are the true classes."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y = np.array([0] * 4 + [1] * 2 + [2] * 4)
    pred = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 0])
    fig = metrics.plot_confusion(y, pred, labels=("covid", "normal", "viral_pneumonia"), title="CM3")
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["3\n(75%)", "1\n(25%)", "0\n(0%)", "0\n(0%)", "2\n(100%)", "0\n(0%)",
                     "1\n(25%)", "0\n(0%)", "3\n(75%)"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["covid", "normal", "viral_pneumonia"]
    assert ax.get_title() == "CM3" and ax.get_ylabel() == "true class"
    colours = ax.collections[0].get_array()
    assert colours.max() == 1.0 and colours.min() == 0.0   # shares, not counts
    two = metrics.plot_confusion([0, 1, 1], [0, 1, 0], labels=("no", "yes"))
    assert [t.get_text() for t in two.axes[0].texts][0].startswith("TN = 1")
    plt.close("all")


# --------------------------------------------------------------------------------------------
# Images that share a group: the cluster bootstrap; folds: corrected t-test, bounded intervals
# --------------------------------------------------------------------------------------------
def test_cluster_bootstrap_enumerable_case():
    """Group A: two copies of one picture, both right; group B: one image, wrong.  Drawing two
    groups with replacement gives AA (accuracy 1, probability 1/4), AB or BA (2/3, 1/2) and BB
    (0, 1/4); resampling the three images instead gives 0, 1/3, 2/3, 1 with the binomial
    probabilities 1/27, 6/27, 12/27, 8/27."""
    y = np.array([1, 1, 1])
    pred = np.array([1, 1, 0])
    groups = np.array(["A", "A", "B"])
    lo, hi, samples = metrics.cluster_bootstrap_ci(y, pred, groups, n_boot=8000, seed=3,
                                                   return_samples=True)
    values, counts = np.unique(np.round(samples, 6), return_counts=True)
    assert values.tolist() == [0.0, round(2 / 3, 6), 1.0]
    np.testing.assert_allclose(counts / counts.sum(), [0.25, 0.5, 0.25], atol=0.02)
    assert (lo, hi) == (0.0, 1.0)
    _, _, images = metrics.bootstrap_ci(y, pred, n_boot=8000, seed=3, return_samples=True)
    values, counts = np.unique(np.round(images, 6), return_counts=True)
    assert values.tolist() == [0.0, round(1 / 3, 6), round(2 / 3, 6), 1.0]
    np.testing.assert_allclose(counts / counts.sum(), np.array([1, 6, 12, 8]) / 27, atol=0.02)


def test_cluster_bootstrap_one_image_per_group_is_the_image_bootstrap(labels):
    y_true, _, y_pred = labels
    singletons = np.arange(len(y_true))
    assert metrics.cluster_bootstrap_ci(y_true, y_pred, singletons, n_boot=500, seed=4) == \
        metrics.bootstrap_ci(y_true, y_pred, n_boot=500, seed=4)
    f1 = metrics.cluster_bootstrap_ci(y_true, y_pred, singletons, metric=sk.f1_score, n_boot=200)
    assert f1 == metrics.bootstrap_ci(y_true, y_pred, metric=sk.f1_score, n_boot=200)


def test_cluster_bootstrap_of_copies_is_wider_than_of_images(labels):
    y_true, _, y_pred = labels
    y3, p3 = np.repeat(y_true, 3), np.repeat(y_pred, 3)      # every picture three times
    g3 = np.repeat(np.arange(len(y_true)), 3)
    lo_i, hi_i = metrics.bootstrap_ci(y3, p3, n_boot=2000, seed=0)
    lo_g, hi_g = metrics.cluster_bootstrap_ci(y3, p3, g3, n_boot=2000, seed=0)
    lo_1, hi_1 = metrics.bootstrap_ci(y_true, y_pred, n_boot=2000, seed=0)
    assert hi_g - lo_g > 1.5 * (hi_i - lo_i)                 # about sqrt(3) wider
    assert hi_g - lo_g == pytest.approx(hi_1 - lo_1, abs=0.02)  # = one copy per picture
    assert metrics.cluster_bootstrap_ci(y3, p3, g3, n_boot=300, seed=1) == \
        metrics.cluster_bootstrap_ci(y3, p3, g3, n_boot=300, seed=1)   # seeded
    with pytest.raises(ValueError):
        metrics.cluster_bootstrap_ci(y3, p3, g3[:-1])


def test_cluster_bootstrap_mean_enumerable_case():
    """Group A holds the values 0.2 and 0.4, group B the value 1.0.  Drawing two groups with
    replacement gives AA (mean 0.3, probability 1/4), AB or BA ((0.2 + 0.4 + 1.0) / 3, 1/2) and
    BB (1.0, 1/4): the mean is over values, so a larger group weighs more."""
    values = np.array([0.2, 1.0, 0.4])
    groups = np.array(["A", "B", "A"])
    mean, lo, hi = metrics.cluster_bootstrap_mean(values, groups, n_boot=4000, seed=3)
    assert mean == pytest.approx(1.6 / 3)
    assert (lo, hi) == pytest.approx((0.3, 1.0))
    # the middle 40 %: the quantiles 0.3 and 0.7 both fall on AB/BA (probability 1/2)
    assert metrics.cluster_bootstrap_mean(values, groups, n_boot=4000, seed=3,
                                          confidence=0.4)[1:] == pytest.approx((1.6 / 3,) * 2)
    with pytest.raises(ValueError):
        metrics.cluster_bootstrap_mean(values, groups[:2])
    with pytest.raises(ValueError):
        metrics.cluster_bootstrap_mean([], [])


def test_cluster_bootstrap_mean_properties():
    rng = np.random.default_rng(0)
    values = rng.uniform(0.6, 0.95, 40)
    cases = [f"c{i:02d}" for i in range(40)]                 # sorted as listed
    mean, lo, hi = metrics.cluster_bootstrap_mean(values, cases, n_boot=1000, seed=2)
    assert mean == pytest.approx(values.mean())
    assert lo < mean < hi                                    # the interval holds the mean
    # one value per group: the ordinary bootstrap of the mean, resample for resample
    assert (lo, hi) == metrics.bootstrap_ci(values, values, metric=lambda t, p: float(np.mean(p)),
                                            n_boot=1000, seed=2)
    # the resamples of cluster_bootstrap_ci: the same interval as a metric of the values
    groups = rng.integers(0, 12, 40)
    assert metrics.cluster_bootstrap_mean(values, groups, n_boot=500, seed=5)[1:] == \
        metrics.cluster_bootstrap_ci(values, values, groups, n_boot=500, seed=5,
                                     metric=lambda t, p: float(np.mean(p)))
    # constant values: a zero-width interval at the value
    assert metrics.cluster_bootstrap_mean(np.full(30, 0.25), groups[:30], n_boot=200) == \
        (0.25, 0.25, 0.25)
    # a wider spread gives a wider interval; copies of a value in one group widen it too
    wide = metrics.cluster_bootstrap_mean(values.mean() + 2 * (values - values.mean()), cases)
    assert wide[2] - wide[1] > 1.5 * (hi - lo)
    copies = metrics.cluster_bootstrap_mean(np.repeat(values, 3), np.repeat(cases, 3), n_boot=1000)
    plain = metrics.bootstrap_ci(np.repeat(values, 3), np.repeat(values, 3), n_boot=1000,
                                 metric=lambda t, p: float(np.mean(p)))
    assert copies[2] - copies[1] > 1.5 * (plain[1] - plain[0])


def test_cluster_bootstrap_diff_of_two_models():
    y = np.ones(6, int)
    a = np.array([1, 1, 1, 1, 0, 0])
    b = np.array([1, 1, 0, 0, 0, 0])
    groups = np.array([0, 0, 1, 1, 2, 2])   # A is ahead on group 1 only: +1/3 on all images
    r = metrics.cluster_bootstrap_diff(y, a, b, groups, n_boot=4000, seed=0)
    assert r["diff"] == pytest.approx(1 / 3) and r["groups"] == 3
    # each resample holds j copies of group 1 (j ~ Binomial(3, 1/3)): difference j/3
    assert r["share_above_0"] == pytest.approx(1 - (2 / 3) ** 3, abs=0.02)
    # P(j = 0) = 8/27, P(j = 3) = 1/27: above 2.5 % (95 % interval 0 to 1), below 5 % (90 %: 0 to 2/3)
    assert (r["ci_low"], r["ci_high"]) == (0.0, 1.0)
    r90 = metrics.cluster_bootstrap_diff(y, a, b, groups, n_boot=4000, seed=0, confidence=0.9)
    assert (r90["ci_low"], r90["ci_high"]) == (0.0, pytest.approx(2 / 3))
    same = metrics.cluster_bootstrap_diff(y, a, a, groups, n_boot=100)
    assert same["diff"] == same["ci_low"] == same["ci_high"] == 0.0


def test_corrected_resampled_ttest_by_hand():
    from scipy import stats

    a = np.array([0.9, 0.8, 0.9, 1.0, 0.85])
    b = np.array([0.8, 0.8, 0.8, 0.8, 0.75])       # differences 0.1, 0, 0.1, 0.2, 0.1
    r = metrics.corrected_resampled_ttest(a, b, n_train=200, n_test=50)
    # mean 0.1, sample variance 0.02 / 4 = 0.005; (1/5 + 50/200) * 0.005 = 0.00225
    se = math.sqrt(0.00225)
    assert r["mean_diff"] == pytest.approx(0.1)
    assert r["t"] == pytest.approx(0.1 / se) and r["df"] == 4
    assert r["p"] == pytest.approx(2 * stats.t.sf(0.1 / se, 4))
    half = stats.t.ppf(0.975, 4) * se
    assert (r["ci_low"], r["ci_high"]) == (pytest.approx(0.1 - half), pytest.approx(0.1 + half))
    assert r["correction"] == pytest.approx(2.25)
    naive = metrics.paired_test(a, b)
    assert r["t"] == pytest.approx(naive["t"] / 1.5) and r["p"] > naive["p"]
    per_fold = metrics.corrected_resampled_ttest(a, b, n_train=[200] * 5, n_test=[50] * 5)
    assert per_fold["t"] == pytest.approx(r["t"])
    with pytest.raises(ValueError):
        metrics.corrected_resampled_ttest([1.0], [1.0], 4, 1)


def test_bounded_t_interval_clips_and_flags():
    sens = [1.0, 0.95, 1.0, 1.0, 0.9]
    lo, hi = metrics.t_interval(sens)
    assert hi > 1
    r = metrics.bounded_t_interval(sens)
    assert r == {"ci_low": pytest.approx(lo), "ci_high": 1.0, "clipped": True}
    acc = [0.8, 0.75, 0.85, 0.7, 0.9]
    r = metrics.bounded_t_interval(acc)
    assert not r["clipped"] and (r["ci_low"], r["ci_high"]) == pytest.approx(metrics.t_interval(acc))
    assert metrics.bounded_t_interval([0.0, 0.02, 0.0, 0.1, 0.0])["ci_low"] == 0.0
    nan = metrics.bounded_t_interval([0.5])
    assert math.isnan(nan["ci_low"]) and not nan["clipped"]


def test_binary_metrics_without_auc_gives_the_same_rates():
    rng = np.random.default_rng(3)
    y, p = rng.integers(0, 2, 50), rng.random(50)
    full, rates = metrics.binary_metrics(y, p, 0.4), metrics.binary_metrics(y, p, 0.4, auc=False)
    assert math.isnan(rates["auc"]) and not math.isnan(full["auc"])
    assert {k: v for k, v in full.items() if k != "auc"} == {k: v for k, v in rates.items() if k != "auc"}
