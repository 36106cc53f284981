"""Checks for the labs: what a machine can check of an open-ended experiment.

A lab ends with a dict of what the student measured and a report.  These checks say whether the
lab ran (the dict holds the required finite numbers), whether its splits are grouped, whether a
figure lies in the interval reported for it, and whether the report is filled in; the rest is
for the rubric.  Show several in one cell with ``display(...)``; the grader reads each.
"""
from __future__ import annotations

import math
import re
import time

import numpy as np

from ..exercises import Feedback, correct, is_unanswered, parse_pair, unanswered, wrong
from ..metrics import cluster_bootstrap_ci

#: What a report must at least hold to count as filled in.
MIN_WORDS = 40


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def check_ran(result, required) -> Feedback:
    """The lab ran: ``result`` is a dict with a finite number (or a pair of finite numbers, for
    an interval) under every key of ``required``."""
    if is_unanswered(result) or not isinstance(result, dict):
        return unanswered(f"the dict `lab` with the keys {list(required)}")
    missing = [k for k in required if k not in result or is_unanswered(result[k])]
    if len(missing) == len(required):
        return unanswered(f"the figures of `lab` ({', '.join(required)})")
    if missing:
        return wrong(f"the lab has not filled in {missing} yet.")
    bad = []
    for k in required:
        v = result[k]
        values = v if isinstance(v, (tuple, list, np.ndarray)) else [v]
        if not len(values) or not all(_finite(x) for x in values):
            bad.append(k)
    if bad:
        return wrong(f"{bad} must be finite numbers (an interval: a pair of numbers).")
    return correct(f"the lab ran and filled in {len(required)} figures.")


def check_folds_grouped(folds, groups, n: int | None = None) -> Feedback:
    """Every ``(train_idx, test_idx)`` of ``folds`` keeps each group on one side, and the test
    parts test every image once (cross-validation) when ``n`` is given."""
    if is_unanswered(folds) or (isinstance(folds, (list, tuple)) and any(f is Ellipsis for f in folds)):
        return unanswered("the list of (train_idx, test_idx) folds you evaluated on")
    groups = np.asarray(groups)
    try:
        pairs = [(np.asarray(tr, dtype=int).ravel(), np.asarray(te, dtype=int).ravel())
                 for tr, te in folds]
    except (TypeError, ValueError):
        return wrong("expected a list of (train_idx, test_idx) pairs of index arrays.")
    if not pairs:
        return wrong("the list of folds is empty.")
    for i, (tr, te) in enumerate(pairs):
        if tr.size == 0 or te.size == 0:
            return wrong(f"fold {i}: both parts need images.")
        if min(tr.min(), te.min()) < 0 or max(tr.max(), te.max()) >= len(groups):
            return wrong(f"fold {i}: indices must lie between 0 and {len(groups) - 1}.")
        if set(tr) & set(te):
            return wrong(f"fold {i}: some images are in both parts.")
        straddle = len(set(groups[tr]) & set(groups[te]))
        if straddle:
            return wrong(f"fold {i}: {straddle} groups have images in training and in test; "
                         "split by group (splits.grouped_kfold / grouped_holdout).")
    if n is not None:
        tested = np.concatenate([te for _, te in pairs])
        if len(tested) != n or len(set(tested)) != n:
            return wrong(f"the test parts should test each of the {n} images exactly once "
                         f"(they test {len(set(tested))} distinct images, {len(tested)} in all).")
    return correct(f"{len(pairs)} split(s), no group on both sides of any.")


def check_in_interval(value, interval, what: str = "the figure") -> Feedback:
    """``value`` lies inside the reported ``interval`` ``(low, high)`` (its own interval)."""
    if is_unanswered(value):
        return unanswered(what)
    if not _finite(value):
        return wrong(f"{what} must be a number, got {value!r}.")
    pair = parse_pair(interval, "its interval (low, high)")
    if isinstance(pair, Feedback):
        return pair
    lo, hi = pair
    v = float(value)
    if lo > hi:
        return wrong(f"the interval ({lo:.3f}, {hi:.3f}) has its bounds swapped.")
    if not lo <= v <= hi:
        return wrong(f"{what} {v:.3f} lies outside its interval ({lo:.3f}, {hi:.3f}): the "
                     "interval must be computed for the same figure on the same predictions.")
    if hi - lo <= 0:  # every fold or resample agreed, or the figure was copied: say which to check
        return correct(f"{what} {v:.3f}, but its interval has width 0: make sure it was computed "
                       "(every fold gave the same result?) and not copied from the figure.")
    return correct(f"{what} {v:.3f} in ({lo:.3f}, {hi:.3f}).")


def check_report(text, mentions=(), min_words: int = MIN_WORDS) -> Feedback:
    """The report is filled in: at least ``min_words`` words of the student's own, and it
    mentions each of ``mentions`` (words such as "interval" or "grouped")."""
    if is_unanswered(text) or not isinstance(text, str):
        return unanswered("your report as a string")
    words = re.findall(r"[\w.%+-]+", re.sub(r"\.\.\.|your report here", " ", text, flags=re.I))
    if not words:
        return unanswered("your report as a string")
    if len(words) < min_words:
        return wrong(f"the report has {len(words)} words; write at least {min_words}: what you "
                     "did, what you measured (with its interval) and what it means.")
    lowered = text.lower()
    absent = [m for m in mentions if m.lower() not in lowered]
    if absent:
        return wrong(f"the report does not mention {absent}.")
    if not re.search(r"\d", text):
        return wrong("the report quotes no number; state the figures you measured.")
    return correct(f"report of {len(words)} words (the rubric grades its content).")


#: How far a reported grouped interval may lie from the check's own recomputation (absolute, on
#: each bound, plus a share of the width for the resampling noise of another seed or n_boot).
INTERVAL_TOL = 0.01
INTERVAL_REL_TOL = 0.15


def _close_interval(got, want) -> bool:
    width = max(want[1] - want[0], 0.0)
    tol = INTERVAL_TOL + INTERVAL_REL_TOL * width
    return abs(got[0] - want[0]) <= tol and abs(got[1] - want[1]) <= tol


def check_grouped_interval(value, interval, y_true, y_pred, groups, what: str = "the figure",
                           metric=None, pred_b=None, n_boot: int = 1000, seed: int = 0) -> Feedback:
    """``value`` is ``metric(y_true, y_pred)`` (minus ``metric(y_true, pred_b)`` for a paired
    difference) and ``interval`` is its **grouped** (cluster bootstrap) interval over ``groups``.

    :func:`check_in_interval` accepts any interval that contains the figure, so an image-level
    (Wilson, plain bootstrap) interval of clustered data would pass; this check recomputes the
    group bootstrap (:func:`utils.metrics.cluster_bootstrap_ci`, or ``cluster_bootstrap_diff``
    with ``pred_b``) from the predictions and groups and compares the bounds within
    :data:`INTERVAL_TOL` + :data:`INTERVAL_REL_TOL` x width (another seed or ``n_boot`` passes, an
    interval that ignores the groups does not)."""
    from ..metrics import _accuracy, cluster_bootstrap_diff, wilson_ci

    first = check_in_interval(value, interval, what)
    if not first.ok:
        return first
    if any(is_unanswered(a) for a in (y_true, y_pred, groups)):
        return unanswered("the predictions and groups the interval was computed on")
    lo, hi = parse_pair(interval, "its interval (low, high)")
    metric = metric or _accuracy
    try:
        t, p, g = np.asarray(y_true), np.asarray(y_pred), np.asarray(groups)
        figure = float(metric(t, p)) - (0.0 if pred_b is None else float(metric(t, np.asarray(pred_b))))
        if pred_b is None:
            want = cluster_bootstrap_ci(t, p, g, metric=metric, n_boot=n_boot, seed=seed)
        else:
            d = cluster_bootstrap_diff(t, p, np.asarray(pred_b), g, metric=metric, n_boot=n_boot, seed=seed)
            want = (d["ci_low"], d["ci_high"])
    except (TypeError, ValueError) as err:
        return wrong(f"could not recompute {what} from the predictions and groups: {err}")
    if not math.isclose(figure, float(value), abs_tol=1e-6):
        return wrong(f"{what} {float(value):.3f} is not the figure of these predictions "
                     f"({figure:.3f}).")
    if pred_b is None and metric is _accuracy and len(np.unique(g)) < len(g):
        # Weak clustering leaves the two intervals within the tolerance of each other, so the
        # image-level (Wilson) interval of an accuracy is refused by name, wherever it lies.
        k = int(np.sum(t == p))
        w = wilson_ci(k, len(t))
        if abs(lo - w[0]) <= 1e-4 and abs(hi - w[1]) <= 1e-4:
            return wrong(f"({lo:.3f}, {hi:.3f}) is the Wilson interval of {k}/{len(t)} images, "
                         f"which treats the images as independent; {len(np.unique(g))} groups "
                         "share them: resample the groups (metrics.cluster_bootstrap_ci).")
    if not _close_interval((lo, hi), want):
        narrower = (hi - lo) < (want[1] - want[0]) - INTERVAL_TOL
        hint = (" It is narrower: was it computed per image (Wilson, plain bootstrap) instead of "
                "resampling the groups (metrics.cluster_bootstrap_ci)?" if narrower else "")
        return wrong(f"the interval ({lo:.3f}, {hi:.3f}) is not the group-bootstrap interval of "
                     f"{what} over its {len(np.unique(g))} groups, about ({want[0]:.3f}, "
                     f"{want[1]:.3f}).{hint}")
    return correct(f"{what} {float(value):.3f} in ({lo:.3f}, {hi:.3f}), the group-bootstrap "
                   f"interval over {len(np.unique(g))} groups.")


def check_fold_interval(value, interval, scores_a, scores_b, n_train, n_test,
                        what: str = "the difference") -> Feedback:
    """``value`` is the mean fold difference ``scores_a - scores_b`` and ``interval`` its
    corrected resampled t-interval (Nadeau-Bengio, :func:`utils.metrics.corrected_resampled_ttest`)
    over the same grouped folds, recomputed here; a plain paired t-interval (too narrow: the
    folds share training images) is refused."""
    from ..metrics import corrected_resampled_ttest

    first = check_in_interval(value, interval, what)
    if not first.ok:
        return first
    if any(is_unanswered(a) for a in (scores_a, scores_b, n_train, n_test)):
        return unanswered("the per-fold scores and the training/test sizes")
    try:
        test = corrected_resampled_ttest(scores_a, scores_b, n_train, n_test)
    except (TypeError, ValueError) as err:
        return wrong(f"could not recompute the corrected t-interval: {err}")
    lo, hi = parse_pair(interval, "its interval (low, high)")
    if not math.isclose(test["mean_diff"], float(value), abs_tol=1e-6):
        return wrong(f"{what} {float(value):.3f} is not the mean fold difference "
                     f"({test['mean_diff']:.3f}).")
    want = (test["ci_low"], test["ci_high"])
    if not (math.isclose(lo, want[0], abs_tol=1e-6) and math.isclose(hi, want[1], abs_tol=1e-6)):
        return wrong(f"the interval ({lo:.3f}, {hi:.3f}) is not the corrected resampled "
                     f"t-interval of these folds ({want[0]:.3f}, {want[1]:.3f}); use "
                     "metrics.corrected_resampled_ttest (the folds share training images).")
    return correct(f"{what} {float(value):+.3f} in its corrected t-interval ({lo:+.3f}, {hi:+.3f}).")


def check_locked_apart(folds, locked_idx, groups) -> Feedback:
    """The development ``folds`` never touch the locked test part ``locked_idx``: no image and
    no group of it appears in any fold (the locked figure is then a first look)."""
    if is_unanswered(folds) or is_unanswered(locked_idx):
        return unanswered("the development folds and the locked test indices")
    groups = np.asarray(groups)
    locked = np.asarray(locked_idx, dtype=int).ravel()
    try:
        used = np.unique(np.concatenate([np.r_[np.asarray(tr, int).ravel(), np.asarray(te, int).ravel()]
                                         for tr, te in folds]))
    except (TypeError, ValueError):
        return wrong("expected a list of (train_idx, test_idx) pairs of index arrays.")
    if set(used) & set(locked):
        return wrong(f"{len(set(used) & set(locked))} locked test images are in the development "
                     "folds: develop on the development part only.")
    shared = set(groups[used]) & set(groups[locked])
    if shared:
        return wrong(f"{len(shared)} groups have images in the development folds and in the locked "
                     "test part: split by group (splits.grouped_holdout).")
    return correct(f"the development folds use {len(used)} images, none of the {len(locked)} "
                   "locked ones and none of their groups.")


# ------------------------------------------------------------------------------------------
# A locked test set, scored once (lab 08, the capstone)
# ------------------------------------------------------------------------------------------
def _sensitivity(t, p):
    pos = t == 1
    if not pos.any():
        raise ValueError("no positive image")
    return float(np.mean(p[pos] == 1))


def _specificity(t, p):
    neg = t == 0
    if not neg.any():
        raise ValueError("no negative image")
    return float(np.mean(p[neg] == 0))


class LockedTest:
    """A test set that may be scored once.

    ``data`` has ``X``, ``y`` and ``groups`` (an :class:`utils.datasets.ImageSet`).
    :meth:`evaluate` takes a function from images to 0/1 predictions, scores it once (accuracy,
    sensitivity, specificity, each with a group-bootstrap 95 % interval) and records the look;
    a second call raises ``RuntimeError`` and is recorded too.
    """

    def __init__(self, data, name: str = "external test set"):
        self._data, self.name = data, name
        self.looks, self.result, self.scored = 0, None, None

    def __len__(self):
        return len(self._data.y)

    def evaluate(self, predict, threshold: float = 0.5, seed: int = 0) -> dict:
        self.looks += 1
        if self.looks > 1:
            raise RuntimeError(f"the {self.name} was already scored once; its figure is "
                               f"{self.result}. Choose on development data, not on it.")
        y, groups = np.asarray(self._data.y), np.asarray(self._data.groups)
        pred = np.asarray(predict(self._data.X)).ravel()
        if pred.dtype.kind == "f" and not np.isin(pred, (0.0, 1.0)).all():
            pred = (pred >= threshold).astype(int)
        pred = pred.astype(int)
        out = {"n": int(len(y)), "groups": int(len(np.unique(groups)))}
        for name, metric in (("accuracy", None), ("sensitivity", _sensitivity),
                             ("specificity", _specificity)):
            try:
                value = float(np.mean(pred == y)) if metric is None else metric(y, pred)
            except ValueError:
                continue
            out[name] = value
            out[f"{name}_ci"] = cluster_bootstrap_ci(y, pred, groups, metric=metric, seed=seed)
        self.result = out
        #: What the one look scored (labels, 0/1 predictions, groups), for the checks that
        #: recompute its intervals (utils.checks.labs.check_grouped_interval).
        self.scored = {"y": y, "pred": pred, "groups": groups}
        return out


def check_locked_once(test) -> Feedback:
    """The locked test set was scored exactly once."""
    if is_unanswered(test) or not isinstance(test, LockedTest):
        return unanswered("the LockedTest that holds the external test set")
    if test.looks == 0:
        return wrong("the locked test set has not been scored yet: score the final model once, "
                     "with test.evaluate(predict), at the end.")
    if test.looks > 1:
        return wrong(f"the locked test set was scored {test.looks} times; a figure chosen among "
                     "several looks is no test figure. Restart the kernel, make every choice on "
                     "the development folds and score it once.")
    return correct(f"scored once: {len(test)} images.")


class LabClock:
    """The wall time of a lab, from the cell that starts the clock to the cell that reads it.

    ``clock = LabClock("lab_08")`` in the lab's first code cell; ``clock.report()`` in its last
    one prints the seconds with the mode they were measured in and glues them as
    ``lab_08_seconds`` (and ``lab_08_mode``), so the chapter's prose can state the lab's run time
    in this build instead of a typed estimate. Reading it again reports the longer time.
    """

    def __init__(self, name: str):
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name or ""):
            raise ValueError(f"a lab clock needs a glue-safe name such as 'lab_08', not {name!r}")
        self.name = name
        self.started = time.perf_counter()

    @property
    def seconds(self) -> float:
        """Seconds since the clock was started."""
        return time.perf_counter() - self.started

    def report(self, quiet: bool = False) -> float:
        """Print and glue the seconds so far (``<name>_seconds``, ``<name>_mode``); return them."""
        from ..config import mode
        from ..prose import glue

        seconds, run_mode = self.seconds, mode()
        glue(f"{self.name}_seconds", seconds, display=False)
        glue(f"{self.name}_mode", run_mode, display=False)
        if not quiet:
            print(f"{self.name}: {seconds:.0f} s from its first cell to here, {run_mode} mode")
        return seconds

