"""Evaluating a classifier: counts, metrics, confidence intervals, tests, plots, split variability.

Everything is written out from the four counts of the confusion matrix so that a reader can
follow it by hand; the chapter checks each function against scikit-learn.  Class 1 (tumour,
"yes") is the positive class unless ``positive`` says otherwise.

* counts and metrics: :func:`confusion_counts`, :func:`metrics_from_counts`,
  :func:`classification_metrics` (from predicted labels), :func:`binary_metrics` (from predicted
  probabilities, with AUC: one row of a cross-validation table), :func:`auc_by_pairs`;
* intervals: :func:`wilson_ci`, :func:`wald_ci`, :func:`bootstrap_ci` (proportions over
  independent images), :func:`cluster_bootstrap_ci` and :func:`cluster_bootstrap_diff` (images
  that share a group: near-duplicates, one patient's images), :func:`cluster_bootstrap_mean`
  (the same resampling for a mean of one value per image or case), :func:`t_interval` (a mean over
  folds or seeds) and :func:`bounded_t_interval` (the same for a rate, kept inside [0, 1]);
* tests: :func:`paired_test` (per-fold scores of two models, naive),
  :func:`corrected_resampled_ttest` (the same with Nadeau and Bengio's correction for the
  overlapping training sets) and :func:`mcnemar_test` (their predictions of the same images);

Spread over folds or seeds is always the sample standard deviation (``ddof=1``).
* plots: :func:`plot_confusion` (two or more classes), :func:`plot_roc_pr`;
* how much one split says: :func:`split_variability`.
"""
from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

METRICS = ("accuracy", "precision", "recall", "specificity", "f1", "balanced_accuracy", "npv")


# --------------------------------------------------------------------------------------------
# Counts and metrics
# --------------------------------------------------------------------------------------------
def confusion_counts(y_true, y_pred, positive=1) -> dict:
    """The four counts ``{"tp", "tn", "fp", "fn"}`` of a binary prediction.

    TP: positive predicted positive; TN: negative predicted negative; FP: negative predicted
    positive (false alarm); FN: positive predicted negative (missed case).
    """
    t = np.asarray(y_true).ravel()
    p = np.asarray(y_pred).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} entries but y_pred has {p.size}")
    labels = set(np.unique(t)) | set(np.unique(p))
    if len(labels) > 2:
        raise ValueError(f"binary labels expected, got {sorted(labels)}; threshold scores first")
    tp = int(np.sum((t == positive) & (p == positive)))
    tn = int(np.sum((t != positive) & (p != positive)))
    fp = int(np.sum((t != positive) & (p == positive)))
    fn = int(np.sum((t == positive) & (p != positive)))
    return {"tp": tp, "tn": tn, "fp": fp, "fn": fn}


def _div(a: float, b: float, zero_division: float) -> float:
    return float(a) / b if b else float(zero_division)


def metrics_from_counts(tp: int, tn: int, fp: int, fn: int, zero_division: float = 0.0) -> dict:
    """Accuracy (the paper's eq. 1), precision, recall (= sensitivity), specificity, F1,
    balanced accuracy and negative predictive value from the four counts.

    A ratio whose denominator is 0 (e.g. precision when nothing is predicted positive) is
    ``zero_division`` (0.0, scikit-learn's default value).
    """
    accuracy = _div(tp + tn, tp + tn + fp + fn, zero_division)
    precision = _div(tp, tp + fp, zero_division)
    recall = _div(tp, tp + fn, zero_division)
    specificity = _div(tn, tn + fp, zero_division)
    f1 = _div(2 * tp, 2 * tp + fp + fn, zero_division)  # = harmonic mean of precision, recall
    return {"accuracy": accuracy, "precision": precision, "recall": recall,
            "specificity": specificity, "f1": f1,
            "balanced_accuracy": (recall + specificity) / 2,
            "npv": _div(tn, tn + fn, zero_division)}


def classification_metrics(y_true, y_pred, positive=1, zero_division: float = 0.0) -> dict:
    """Counts and metrics of a binary prediction in one dict (see :func:`metrics_from_counts`)."""
    counts = confusion_counts(y_true, y_pred, positive)
    return {**counts, **metrics_from_counts(**counts, zero_division=zero_division)}


def binary_metrics(y_true, prob, threshold: float = 0.5, auc: bool = True) -> dict:
    """Accuracy, AUC, sensitivity (recall of class 1), specificity and the confusion counts of
    predicted *probabilities* of class 1: one row of a cross-validation table.

    The probabilities are thresholded at ``threshold`` for the counts (:func:`confusion_counts`);
    the AUC uses them as they are.  Unlike :func:`classification_metrics` (from predicted labels,
    where an undefined ratio is 0 as in scikit-learn), an undefined value here is NaN: AUC when
    the test set holds only one class, sensitivity/specificity when there is no positive/negative
    case.  A fold without positives then drops out of a mean instead of counting as 0.
    Keys, in this order: ``accuracy, auc, sensitivity, specificity, tp, fn, tn, fp``.
    ``auc=False`` skips the AUC (NaN), for a bootstrap that needs only the counts' rates.
    """
    y = np.asarray(y_true).astype(int).ravel()
    p = np.asarray(prob, dtype=float).ravel()
    c = confusion_counts(y, (p >= threshold).astype(int), positive=1)
    tp, tn, fp, fn = c["tp"], c["tn"], c["fp"], c["fn"]
    area = float("nan")
    if auc and 0 < y.sum() < len(y):
        from sklearn.metrics import roc_auc_score

        area = float(roc_auc_score(y, p))
    return {
        "accuracy": (tp + tn) / len(y) if len(y) else float("nan"),
        "auc": area,
        "sensitivity": tp / (tp + fn) if tp + fn else float("nan"),
        "specificity": tn / (tn + fp) if tn + fp else float("nan"),
        "tp": tp, "fn": fn, "tn": tn, "fp": fp,
    }


def auc_by_pairs(y_true, scores, positive=1) -> float:
    """ROC AUC as a probability: the share of (positive, negative) pairs the scores rank right.

    Ties count one half.  Equal to the area under the ROC curve (Mann-Whitney U / n_pos n_neg).
    """
    t = np.asarray(y_true).ravel() == positive
    s = np.asarray(scores, dtype=float).ravel()
    pos, neg = s[t], s[~t]
    if not len(pos) or not len(neg):
        raise ValueError("AUC needs at least one positive and one negative example")
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


# --------------------------------------------------------------------------------------------
# Confidence intervals
# --------------------------------------------------------------------------------------------
def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, not {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_ci(k: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``k / n`` (e.g. correct / test images).

    ``centre = (p + z^2/2n) / (1 + z^2/n)``, ``half = z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n)``.
    Unlike the textbook ``p +- z sqrt(p(1-p)/n)`` (Wald) interval it stays inside [0, 1] and
    keeps its coverage for small ``n`` and for ``p`` near 0 or 1.  ``k`` may be fractional
    (``k = p * n``) to draw the interval of a given accuracy for many ``n``.
    """
    if n <= 0:
        raise ValueError("n must be positive")
    if not 0 <= k <= n:
        raise ValueError(f"k must be between 0 and n={n}, not {k}")
    z = _z(confidence)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if k == 0 else max(0.0, centre - half)   # exact at the ends (no round-off)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return float(lo), float(hi)


def wald_ci(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The normal-approximation (Wald) interval ``p +- z sqrt(p(1-p)/n)``, for comparison only."""
    if n <= 0:
        raise ValueError("n must be positive")
    z = _z(confidence)
    p = k / n
    half = z * np.sqrt(p * (1 - p) / n)
    return float(p - half), float(p + half)


def bootstrap_ci(y_true, y_pred, metric=None, n_boot: int = 2000, confidence: float = 0.95,
                 seed: int = 0, return_samples: bool = False):
    """Percentile bootstrap interval of ``metric(y_true, y_pred)`` (default: accuracy).

    The test set is resampled with replacement ``n_boot`` times.  ``metric`` is any function
    of ``(y_true, y_pred)``; a resample where it is undefined (raises) is skipped.
    """
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if len(t) != len(p):
        raise ValueError(f"y_true has {len(t)} entries but y_pred has {len(p)}")
    if metric is None:
        def metric(a, b):
            return float(np.mean(a == b))
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(int(n_boot)):
        idx = rng.integers(0, len(t), len(t))
        try:
            values.append(float(metric(t[idx], p[idx])))
        except (ValueError, ZeroDivisionError):
            continue
    values = np.asarray(values)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(values, [alpha, 1 - alpha])
    return (float(lo), float(hi), values) if return_samples else (float(lo), float(hi))


def _accuracy(a, b) -> float:
    return float(np.mean(np.asarray(a) == np.asarray(b)))


def _group_members(groups):
    """Indices of the members of each group, groups in sorted order of their labels."""
    g = np.asarray(groups)
    _, inverse = np.unique(g, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.flatnonzero(np.diff(inverse[order])) + 1
    return np.split(order, bounds)


def _cluster_resamples(groups, n_boot: int, seed: int):
    """Yield ``n_boot`` index arrays: each draws as many groups as there are, with replacement
    (``rng.integers``, seeded), and takes every image of every drawn group."""
    members = _group_members(groups)
    rng = np.random.default_rng(seed)
    for _ in range(int(n_boot)):
        pick = rng.integers(0, len(members), len(members))
        yield np.concatenate([members[j] for j in pick])


def _percentile(values, confidence: float):
    values = np.asarray(values, dtype=float)
    if not len(values):
        return float("nan"), float("nan")
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(values, [alpha, 1 - alpha])
    return float(lo), float(hi)


def cluster_bootstrap_ci(y_true, y_pred, groups, metric=None, n_boot: int = 2000,
                         confidence: float = 0.95, seed: int = 0, return_samples: bool = False):
    """Percentile *group* (cluster) bootstrap interval of ``metric(y_true, y_pred)`` (default:
    accuracy of predicted labels).

    Use it when images are not independent: near-duplicate copies of one picture, or several
    images of one patient.  Each resample draws as many **groups** as there are, with
    replacement, and keeps all images of every drawn group together; the interval is the middle
    ``confidence`` share of the ``n_boot`` resampled values (seeded by ``seed``).  Copies that
    are all right or all wrong together then count as one piece of evidence, not several, and
    the interval is wider than one that resamples images.  With one image per group it *is*
    :func:`bootstrap_ci` (same seed, same resamples, same interval).

    ``metric`` is any function of ``(y_true, y_pred)`` arrays (e.g. a sensitivity, or an AUC of
    probabilities); a resample where it is undefined (raises ``ValueError`` or
    ``ZeroDivisionError``) is skipped.
    """
    t, p, g = np.asarray(y_true), np.asarray(y_pred), np.asarray(groups)
    if not len(t) == len(p) == len(g):
        raise ValueError(f"y_true, y_pred and groups have {len(t)}, {len(p)} and {len(g)} entries")
    metric = metric or _accuracy
    values = []
    for idx in _cluster_resamples(g, n_boot, seed):
        try:
            values.append(float(metric(t[idx], p[idx])))
        except (ValueError, ZeroDivisionError):
            continue
    values = np.asarray(values)
    lo, hi = _percentile(values, confidence)
    return (lo, hi, values) if return_samples else (lo, hi)


def cluster_bootstrap_mean(values, groups, n_boot: int = 2000, seed: int = 0,
                           confidence: float = 0.95) -> tuple[float, float, float]:
    """The mean of per-image (or per-case) ``values`` with a percentile *group* bootstrap
    interval: ``(mean, low, high)``.

    For a mean of one number per unit (a Dice per case, an error 0/1 per image, a warning flag
    per input) rather than a metric of predictions against labels (:func:`cluster_bootstrap_ci`).
    The resamples are those of :func:`cluster_bootstrap_ci` with the same ``groups`` and
    ``seed``: each draws as many groups as there are, with replacement, and keeps every value of
    every drawn group; ``low`` and ``high`` are the middle ``confidence`` share of the ``n_boot``
    resampled means.  With one value per group, the groups' labels sorted in the values' order,
    it is the ordinary bootstrap of the mean (:func:`bootstrap_ci`, same seed, same resamples);
    constant values give a zero-width interval.
    """
    v, g = np.asarray(values, dtype=float).ravel(), np.asarray(groups).ravel()
    if len(v) != len(g):
        raise ValueError(f"values and groups have {len(v)} and {len(g)} entries")
    if not len(v):
        raise ValueError("cluster_bootstrap_mean needs at least one value")
    means = [float(np.mean(v[idx])) for idx in _cluster_resamples(g, n_boot, seed)]
    lo, hi = _percentile(means, confidence)
    return float(np.mean(v)), lo, hi


def cluster_bootstrap_diff(y_true, pred_a, pred_b, groups, metric=None, n_boot: int = 2000,
                           confidence: float = 0.95, seed: int = 0) -> dict:
    """Paired group bootstrap of ``metric(y, pred_a) - metric(y, pred_b)`` (default: the
    difference of two models' accuracies on the same images).

    Both models are scored on the *same* resampled groups in every resample, so the interval
    reflects the images on which they differ.  Returns ``diff`` (on all images), ``ci_low``,
    ``ci_high``, ``share_above_0`` (share of resamples where A is ahead) and ``groups``.
    Like McNemar's test this holds the trained models fixed (it says nothing about retraining),
    but unlike McNemar it keeps near-duplicates or one patient's images together.
    """
    t, a, b, g = (np.asarray(v) for v in (y_true, pred_a, pred_b, groups))
    if not len(t) == len(a) == len(b) == len(g):
        raise ValueError("y_true, pred_a, pred_b and groups need the same length")
    metric = metric or _accuracy
    values = []
    for idx in _cluster_resamples(g, n_boot, seed):
        try:
            values.append(float(metric(t[idx], a[idx])) - float(metric(t[idx], b[idx])))
        except (ValueError, ZeroDivisionError):
            continue
    values = np.asarray(values)
    lo, hi = _percentile(values, confidence)
    return {"diff": float(metric(t, a)) - float(metric(t, b)), "ci_low": lo, "ci_high": hi,
            "share_above_0": float(np.mean(values > 0)) if len(values) else float("nan"),
            "groups": int(len(np.unique(g)))}


def t_interval(values, confidence: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean of ``values`` (NaNs dropped)."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    n = len(v)
    if n < 2:
        return (float("nan"), float("nan"))
    mean, sem = v.mean(), v.std(ddof=1) / math.sqrt(n)
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * sem
    return (float(mean - half), float(mean + half))


def bounded_t_interval(values, confidence: float = 0.95, bounds=(0.0, 1.0)) -> dict:
    """:func:`t_interval` of a mean of rates (accuracy, AUC, sensitivity ... over folds), clipped
    to ``bounds`` (default [0, 1]), with the clipping flagged.

    Returns ``{"ci_low", "ci_high", "clipped"}``; ``clipped`` is True when the t-interval
    reached past a bound (e.g. five fold sensitivities of 1.0, 0.95, 1.0, 1.0, 0.9 give an upper
    end above 1).  Why clip rather than use another interval: the t-interval is the book's
    interval for a mean over folds, and clipping only removes values a mean of rates cannot
    take, so the clipped interval contains the true mean whenever the unclipped one does (its
    coverage is unchanged) and its other end stays comparable across tables.  A logit-scale
    interval would respect the bounds by construction but is undefined as soon as one fold
    scores exactly 0 or 1, which is common on ~50-image folds.  The flag tells a reader that the
    interval is against a bound, where the symmetric t-approximation is at its weakest.
    """
    lo, hi = t_interval(values, confidence)
    low_bound, high_bound = bounds
    clipped = bool((lo == lo and lo < low_bound) or (hi == hi and hi > high_bound))
    if lo == lo:
        lo = max(lo, low_bound)
    if hi == hi:
        hi = min(hi, high_bound)
    return {"ci_low": float(lo), "ci_high": float(hi), "clipped": clipped}


# --------------------------------------------------------------------------------------------
# Tests: are two models different?
# --------------------------------------------------------------------------------------------
def paired_test(a, b, confidence: float = 0.95) -> dict:
    """Paired t-test of two models' per-fold scores (same folds, same order).

    Over cross-validation folds it is over-confident (the training sets overlap): use
    :func:`corrected_resampled_ttest` there; this one is for truly independent pairs.

    Returns the mean difference ``a - b``, its t-based CI, t, degrees of freedom and the
    two-sided p-value.  With 5 folds the test has 4 degrees of freedom: only large, consistent
    differences are significant.
    """
    from scipy import stats

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired_test needs two 1-D arrays of equal length, got {a.shape} and {b.shape}")
    d = a - b
    n = len(d)
    sd = d.std(ddof=1)
    if sd == 0:
        t, p = (0.0, 1.0) if d.mean() == 0 else (math.copysign(math.inf, d.mean()), 0.0)
    else:
        t = float(d.mean() / (sd / math.sqrt(n)))
        p = float(2 * stats.t.sf(abs(t), n - 1))
    lo, hi = t_interval(d, confidence)
    return {"mean_diff": float(d.mean()), "ci_low": lo, "ci_high": hi, "t": t, "df": n - 1, "p": p}


def corrected_resampled_ttest(a, b, n_train, n_test, confidence: float = 0.95) -> dict:
    """Corrected resampled t-test of two models' per-fold scores (Nadeau and Bengio, 2003).

    The folds of a cross-validation share most of their training images, so the fold
    differences ``d = a - b`` are positively correlated and the naive paired t-test
    (:func:`paired_test`, variance ``s^2 / k``) is over-confident.  Nadeau and Bengio replace
    ``1/k`` by ``1/k + n_test/n_train``:

        t = mean(d) / sqrt((1/k + n_test/n_train) * s^2),   df = k - 1,

    with ``s^2`` the sample variance of the ``k`` differences (``ddof=1``).  ``n_train`` and
    ``n_test`` are the training and test images per fold (numbers, or one per fold: their
    means are used); in 5-fold CV ``n_test/n_train`` is about 1/4, which more than doubles the
    variance.  Returns the mean difference, its corrected t-based CI, t, df, the two-sided
    p-value and the ``correction`` factor ``(1/k + n_test/n_train) / (1/k)``.
    """
    from scipy import stats

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError(f"corrected_resampled_ttest needs two 1-D arrays of equal length >= 2, "
                         f"got {a.shape} and {b.shape}")
    d = a - b
    k = len(d)
    ratio = float(np.mean(n_test)) / float(np.mean(n_train))
    var = (1 / k + ratio) * d.var(ddof=1)
    mean = float(d.mean())
    if var == 0:
        t, p = (0.0, 1.0) if mean == 0 else (math.copysign(math.inf, mean), 0.0)
    else:
        t = mean / math.sqrt(var)
        p = float(2 * stats.t.sf(abs(t), k - 1))
    half = stats.t.ppf(0.5 + confidence / 2, k - 1) * math.sqrt(var)
    return {"mean_diff": mean, "ci_low": mean - half, "ci_high": mean + half, "t": float(t),
            "df": k - 1, "p": p, "correction": (1 / k + ratio) * k}


def mcnemar_test(y_true, prob_a, prob_b, threshold: float = 0.5) -> dict:
    """Exact McNemar test on two models' out-of-fold predictions of the same images.

    ``b01``: images model A gets wrong and B right; ``b10``: A right and B wrong. Under the null
    hypothesis (equal error rates) the discordant images split 50/50; the p-value is the
    two-sided exact binomial test.

    Caveat: it treats the images as independent trials and the trained models as fixed.  Where
    images share a group (near-duplicates, one patient) the discordant images are not
    independent and the p-value is too small; :func:`cluster_bootstrap_diff` keeps the groups
    together, and :func:`corrected_resampled_ttest` also counts the retraining.
    """
    from scipy import stats

    y = np.asarray(y_true).astype(int)
    ra = (np.asarray(prob_a) >= threshold).astype(int) == y
    rb = (np.asarray(prob_b) >= threshold).astype(int) == y
    b01, b10 = int((~ra & rb).sum()), int((ra & ~rb).sum())
    n = b01 + b10
    p = 1.0 if n == 0 else float(stats.binomtest(b10, n, 0.5).pvalue)
    return {"a_wrong_b_right": b01, "a_right_b_wrong": b10, "discordant": n, "p": p}


# --------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------
def plot_confusion(y_true, y_pred, labels=("no", "yes"), ax=None, title: str = "Confusion matrix",
                   positive=1, cmap: str = "Blues"):
    """Seaborn heatmap of the confusion matrix: rows true class, columns predicted class.
    Returns the figure.

    ``labels`` names the classes, and their number decides the layout:

    * **two labels** (a binary problem): the 2x2 matrix of :func:`confusion_counts`, negative
      class first, ``positive`` the positive class.  Each cell shows its name (TN, FP, FN, TP),
      its count and its share of the row (the recall of that class); colour: the count.
    * **more labels**: the classes are ``0 .. len(labels) - 1``.  Each cell shows its count and its
      share of the row (the diagonal: per-class recall); colour: the share, from 0 to 1, so that
      a small class reads as clearly as a large one.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    labels = list(labels)
    k = len(labels)
    if k == 2:
        c = confusion_counts(y_true, y_pred, positive)
        m = np.array([[c["tn"], c["fp"]], [c["fn"], c["tp"]]])
    else:
        from sklearn.metrics import confusion_matrix

        m = confusion_matrix(y_true, y_pred, labels=range(k))
    rows = m.sum(1, keepdims=True)
    share = np.divide(m, rows, out=np.zeros_like(m, dtype=float), where=rows > 0)
    if k == 2:
        names = np.array([["TN", "FP"], ["FN", "TP"]])
        annot = [[f"{names[i, j]} = {m[i, j]}\n({share[i, j]:.0%} of row)" for j in range(2)]
                 for i in range(2)]
        figsize, style = (4.2, 3.6), {"data": m, "square": True, "annot_kws": {"fontsize": 10}}
    else:
        annot = [[f"{m[i, j]}\n({share[i, j]:.0%})" for j in range(k)] for i in range(k)]
        figsize, style = (4.6, 3.9), {"data": share, "vmin": 0, "vmax": 1}
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    sns.heatmap(annot=np.array(annot), fmt="", cmap=cmap, cbar=False, ax=ax, xticklabels=labels,
                yticklabels=labels, linewidths=1, linecolor="white", **style)
    ax.set(xlabel="predicted class", ylabel="true class", title=title)
    if k > 2:  # longer class names
        ax.tick_params(axis="x", rotation=20)
        ax.tick_params(axis="y", rotation=0)
    ax.figure.tight_layout()
    return ax.figure


def plot_roc_pr(y_true, scores, title: str | None = None, label: str = "model", axes=None,
                positive=1):
    """ROC curve (with AUC) and precision-recall curve (with average precision), side by side.

    Chance level is drawn in both: the diagonal for ROC, the positive share (prevalence) for
    precision-recall.  Returns the figure.
    """
    import matplotlib.pyplot as plt
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

    t = np.asarray(y_true).ravel() == positive
    s = np.asarray(scores, dtype=float).ravel()
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(9, 4))
    fpr, tpr, _ = roc_curve(t, s)
    auc = roc_auc_score(t, s)
    axes[0].plot(fpr, tpr, lw=2, label=f"{label} (AUC = {auc:.2f})")
    axes[0].plot([0, 1], [0, 1], "k--", lw=1, label="chance (AUC = 0.50)")
    axes[0].set(xlabel="false positive rate (1 - specificity)", ylabel="true positive rate (recall)",
                title="ROC curve", xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
    prec, rec, _ = precision_recall_curve(t, s)
    ap = average_precision_score(t, s)
    axes[1].step(rec, prec, where="post", lw=2, label=f"{label} (AP = {ap:.2f})")
    axes[1].axhline(t.mean(), color="k", ls="--", lw=1, label=f"chance (prevalence {t.mean():.2f})")
    axes[1].set(xlabel="recall (sensitivity)", ylabel="precision", title="Precision-recall curve",
                xlim=(-0.02, 1.02), ylim=(0, 1.02))
    for ax in axes:
        ax.legend(loc="lower right" if ax is axes[0] else "lower center", fontsize=8)
    fig = axes[0].figure
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# How much does one split say?
# --------------------------------------------------------------------------------------------
def default_model():
    """A cheap, real classifier for pixel features: standardise, then L2 logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=2000))


def cross_validate(X, y, folds, make_model=None) -> np.ndarray:
    """Accuracy of a fresh ``make_model()`` on each ``(train_idx, test_idx)`` of ``folds``."""
    make_model = make_model or default_model
    X, y = np.asarray(X), np.asarray(y)
    return np.array([make_model().fit(X[tr], y[tr]).score(X[te], y[te]) for tr, te in folds])


def split_variability(X, y, make_model=None, n_repeats: int = 100, test_size: float = 0.2,
                      groups=None, seed: int = 0):
    """Train and test a fresh model on ``n_repeats`` different train/test splits.

    Each repeat uses seed ``seed + i``; with ``groups`` the splits are grouped
    (:func:`utils.splits.grouped_holdout`), otherwise random and stratified.  Returns a
    DataFrame with one row per split: ``seed, n_test, accuracy`` and the accuracy of always
    predicting the training set's majority class (``majority``).
    """
    import pandas as pd

    from . import splits

    make_model = make_model or default_model
    X, y = np.asarray(X), np.asarray(y)
    rows = []
    for i in range(int(n_repeats)):
        s = seed + i
        if groups is None:
            tr, te = splits.random_holdout(y, test_size=test_size, seed=s)
        else:
            tr, te = splits.grouped_holdout(y, groups, test_size=test_size, seed=s)
        model = make_model().fit(X[tr], y[tr])
        majority = np.bincount(y[tr]).argmax()
        rows.append({"seed": s, "n_test": len(te), "accuracy": float(model.score(X[te], y[te])),
                     "majority": float(np.mean(y[te] == majority))})
    return pd.DataFrame(rows)
