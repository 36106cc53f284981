"""Calibration, operating points and grouped intervals for predicted probabilities.

* :func:`reliability` (the points of a reliability diagram, as
  ``sklearn.calibration.calibration_curve`` with their counts), :func:`expected_calibration_error`
  (ECE), :func:`brier` (as ``sklearn.metrics.brier_score_loss``);
* :func:`fit_temperature` / :func:`apply_temperature`: temperature scaling (one number ``T``,
  ``p' = sigmoid(logit(p) / T)``), fitted by maximum likelihood on *development* predictions;
* :func:`threshold_for_sensitivity`: the highest threshold that reaches a target sensitivity on
  development predictions; :func:`predictive_values`: PPV and NPV over prevalence, and
  :func:`predictive_value_band` their band from the rates' interval ends;
* :func:`scores_with_ci`: accuracy, AUC, sensitivity, specificity, Brier score and ECE, each
  with a cluster bootstrap interval over ``groups`` (:func:`utils.metrics.cluster_bootstrap_ci`).

Typical use::

    T = calibration.fit_temperature(y_dev, p_dev)           # out-of-fold predictions only
    p_ext = calibration.apply_temperature(p_ext_raw, T)
    t95 = calibration.threshold_for_sensitivity(y_dev, p_dev, 0.95)
    calibration.scores_with_ci(y_ext, p_ext, groups_ext, threshold=t95)
"""
from __future__ import annotations

import numpy as np

from .metrics import auc_by_pairs, binary_metrics, cluster_bootstrap_ci

_EPS = 1e-7


def _yp(y, p):
    y = np.asarray(y).astype(int).ravel()
    p = np.asarray(p, dtype=float).ravel()
    if len(y) != len(p):
        raise ValueError(f"y has {len(y)} entries but p has {len(p)}")
    if len(p) and (p.min() < 0 or p.max() > 1):
        raise ValueError("probabilities must lie in [0, 1]")
    return y, p


# ------------------------------------------------------------------------------------------
# Calibration
# ------------------------------------------------------------------------------------------
def _bins(p, n_bins: int):
    """Bin of each probability: ``n_bins`` equal-width bins of [0, 1] (1.0 in the last),
    the binning of ``calibration_curve(strategy="uniform")``."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.searchsorted(edges[1:-1], p, side="right")


def reliability(y, p, n_bins: int = 10):
    """The points of a reliability diagram: one row per non-empty bin of equal width, with
    ``bin``, ``mean_predicted`` (mean probability in the bin), ``fraction_positive`` (share of
    class 1 there) and ``count``.  The first two columns are
    ``sklearn.calibration.calibration_curve(y, p, n_bins=n_bins)`` (its ``prob_pred`` and
    ``prob_true``)."""
    import pandas as pd

    y, p = _yp(y, p)
    b = _bins(p, n_bins)
    rows = [{"bin": k, "mean_predicted": float(p[b == k].mean()),
             "fraction_positive": float(y[b == k].mean()), "count": int(np.sum(b == k))}
            for k in range(n_bins) if np.any(b == k)]
    return pd.DataFrame(rows, columns=["bin", "mean_predicted", "fraction_positive", "count"])


def expected_calibration_error(y, p, n_bins: int = 10) -> float:
    """ECE: the mean over equal-width bins of ``|fraction positive - mean probability|``,
    weighted by the share of images in each bin (0 for a perfectly calibrated model).

    The bins are those of :func:`reliability`.  With ``n_k`` images in bin ``k``, weight
    ``n_k / N`` times ``|positives_k / n_k - sum of p_k / n_k|`` is ``|positives_k - sum of
    p_k| / N``: two sums per bin, no table (a bootstrap computes it thousands of times)."""
    y, p = _yp(y, p)
    if not len(p):
        return float("nan")
    b = _bins(p, n_bins)
    positives = np.bincount(b, weights=y, minlength=n_bins)
    predicted = np.bincount(b, weights=p, minlength=n_bins)
    return float(np.sum(np.abs(positives - predicted)) / len(p))


def brier(y, p) -> float:
    """Brier score: the mean squared difference between probability and outcome (0 is best;
    always answering 0.5 scores 0.25).  Equals ``sklearn.metrics.brier_score_loss``."""
    y, p = _yp(y, p)
    return float(np.mean((p - y) ** 2))


def _logit(p):
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


def apply_temperature(p, temperature: float) -> np.ndarray:
    """``sigmoid(logit(p) / temperature)``: ``T > 1`` softens over-confident probabilities,
    ``T < 1`` sharpens them; the order of the images, hence the AUC, is unchanged (and so is
    the decision at 0.5)."""
    z = _logit(p) / float(temperature)
    return 1.0 / (1.0 + np.exp(-z))


def fit_temperature(y, p, bounds=(0.05, 20.0)) -> float:
    """The temperature that minimises the log loss of :func:`apply_temperature` on ``(y, p)``
    (fit it on development predictions, e.g. out-of-fold ones, never on the test set)."""
    from scipy.optimize import minimize_scalar

    y, p = _yp(y, p)
    z = _logit(p)

    def nll(log_t):
        q = np.clip(1.0 / (1.0 + np.exp(-z / np.exp(log_t))), _EPS, 1 - _EPS)
        return -float(np.mean(y * np.log(q) + (1 - y) * np.log1p(-q)))

    res = minimize_scalar(nll, bounds=tuple(np.log(bounds)), method="bounded")
    return float(np.exp(res.x))


# ------------------------------------------------------------------------------------------
# Operating points
# ------------------------------------------------------------------------------------------
def threshold_for_sensitivity(y, p, target: float = 0.95) -> float:
    """The highest threshold ``t`` at which ``p >= t`` finds at least ``target`` of the class-1
    images of ``(y, p)`` (the development predictions).  A higher threshold means fewer false
    alarms, so this is the most specific operating point with the wanted sensitivity there."""
    y, p = _yp(y, p)
    pos = np.sort(p[y == 1])[::-1]
    if not len(pos):
        raise ValueError("no class-1 images to reach a sensitivity on")
    if not 0 < target <= 1:
        raise ValueError(f"target must be in (0, 1], not {target}")
    k = int(np.ceil(target * len(pos) - 1e-9))   # positives that must be at or above t
    return float(pos[k - 1])


def predictive_values(sensitivity: float, specificity: float, prevalence):
    """PPV and NPV (Bayes' rule) at each ``prevalence``: a dict of two arrays."""
    prev = np.asarray(prevalence, dtype=float)
    tp, fp = sensitivity * prev, (1 - specificity) * (1 - prev)
    tn, fn = specificity * (1 - prev), (1 - sensitivity) * prev
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"ppv": tp / (tp + fp), "npv": tn / (tn + fn)}


def predictive_value_band(sens_ci, spec_ci, prevalence):
    """The band of PPV and NPV over ``prevalence`` from the interval ends of the sensitivity
    (``sens_ci = (low, high)``) and the specificity: both values grow with both rates, so the
    low ends give the lower edge and the high ends the upper edge.  A dict ``ppv_low``,
    ``ppv_high``, ``npv_low``, ``npv_high`` of arrays (a band of the two intervals' ends, not a
    joint confidence interval)."""
    lo = predictive_values(float(sens_ci[0]), float(spec_ci[0]), prevalence)
    hi = predictive_values(float(sens_ci[1]), float(spec_ci[1]), prevalence)
    return {"ppv_low": lo["ppv"], "ppv_high": hi["ppv"], "npv_low": lo["npv"], "npv_high": hi["npv"]}


# ------------------------------------------------------------------------------------------
# Scores with grouped intervals
# ------------------------------------------------------------------------------------------
def _rate(y, p, threshold, which):
    if which == "auc":   # the rank statistic (= roc_auc_score), without its input checks
        if not 0 < np.sum(y) < len(y) or np.isnan(p).any():
            raise ValueError("auc undefined in this resample")
        return auc_by_pairs(y, p)
    m = binary_metrics(y, p, threshold, auc=False)
    if m[which] != m[which]:
        raise ValueError(f"{which} undefined in this resample")
    return m[which]


def scores_with_ci(y, p, groups, threshold: float = 0.5, n_bins: int = 10, n_boot: int = 1000,
                   seed: int = 0, confidence: float = 0.95):
    """Accuracy, AUC, sensitivity, specificity (at ``threshold``), Brier score and ECE of the
    probabilities ``p``, each with a percentile cluster bootstrap interval that resamples the
    ``groups`` (subjects, near-duplicate groups).  A DataFrame: one row per score, columns
    ``value``, ``ci_low``, ``ci_high``, ``n`` (images the score is computed on)."""
    import pandas as pd

    y, p = _yp(y, p)
    g = np.asarray(groups)
    fns = {
        "accuracy": lambda t, q: _rate(t, q, threshold, "accuracy"),
        "auc": lambda t, q: _rate(t, q, threshold, "auc"),
        "sensitivity": lambda t, q: _rate(t, q, threshold, "sensitivity"),
        "specificity": lambda t, q: _rate(t, q, threshold, "specificity"),
        "brier": brier,
        "ece": lambda t, q: expected_calibration_error(t, q, n_bins),
    }
    counts = {"sensitivity": int(np.sum(y == 1)), "specificity": int(np.sum(y == 0))}
    rows = {}
    for name, fn in fns.items():
        try:
            value = float(fn(y, p))
        except ValueError:
            value = float("nan")
        lo, hi = ((float("nan"), float("nan")) if value != value else
                  cluster_bootstrap_ci(y, p, g, metric=fn, n_boot=n_boot, seed=seed,
                                       confidence=confidence))
        rows[name] = {"value": value, "ci_low": lo, "ci_high": hi,
                      "n": counts.get(name, len(y))}
    return pd.DataFrame.from_dict(rows, orient="index")
