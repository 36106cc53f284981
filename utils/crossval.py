"""Cross-validation: train and test a model on every fold of a grouped, stratified K-fold split.

* :func:`fold_splits` - the folds (:func:`utils.splits.grouped_kfold` on the data's groups);
* :func:`run_cv` - any Keras model builder (e.g. :func:`utils.cnn.paper_cnn`), optionally with a
  grouped inner validation split for early stopping, class weights, a cosine learning-rate
  schedule and test-time augmentation;
* :func:`run_transfer_cv` - a pretrained backbone (:mod:`utils.transfer`): a new head on cached
  frozen features, or its top blocks fine-tuned on cached augmented views;
* :class:`CVResult` - what both return: one row per fold and the out-of-fold probability of
  every image;
* :func:`summarise` (mean, SD and t-interval of each metric over the folds, kept inside [0, 1]
  for the rates), :func:`pooled_accuracy` (the out-of-fold accuracy of all images with a
  cluster bootstrap interval by near-duplicate group), :func:`compare` (two models on the same
  folds: corrected resampled t-test, group bootstrap of the pooled difference, McNemar) and
  :func:`comparison_table` (one row per model).

Every split is checked (:func:`utils.splits.check_split`): no image and no near-duplicate group
may be on both sides.  The metrics of a fold are :func:`utils.metrics.binary_metrics`.

Typical use::

    from utils import cnn, crossval, datasets
    data = datasets.load_brain_mri(size=128)
    res = crossval.run_cv(cnn.paper_cnn, data, folds=5, epochs=10)
    res.folds                        # one row per fold: accuracy, auc, sensitivity, ...
    crossval.summarise(res.folds)    # mean, SD and t-based 95 % CI of the fold mean
    crossval.pooled_accuracy(res, data.y, data.groups)   # all images, grouped bootstrap CI
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from . import config, splits, transfer
from .metrics import (binary_metrics, bounded_t_interval, cluster_bootstrap_ci, cluster_bootstrap_diff,
                      corrected_resampled_ttest, mcnemar_test, t_interval)

#: The metric columns of a fold table (the keys of :func:`utils.metrics.binary_metrics` that are
#: rates); :func:`summarise` and :func:`comparison_table` summarise them.
METRICS = ("accuracy", "auc", "sensitivity", "specificity")


@dataclass
class CVResult:
    """What :func:`run_cv` and :func:`run_transfer_cv` return; unpacks as
    ``folds, oof = run_cv(...)``.

    ``folds``: one row per fold (fold, n_train, n_val, n_test, epochs, accuracy, auc,
    sensitivity, specificity, tp, fn, tn, fp, seconds). ``oof``: the out-of-fold probability of
    every image (each image is in exactly one test fold). ``fold_of``: its test fold.
    ``histories``: the Keras history dict of each fold.
    """

    folds: object
    oof: np.ndarray
    fold_of: np.ndarray
    histories: list = field(default_factory=list)
    name: str = ""

    def __iter__(self):
        return iter((self.folds, self.oof))

    def overall(self, y, threshold: float = 0.5) -> dict:
        """Metrics of the pooled out-of-fold predictions (all images at once)."""
        return binary_metrics(y, self.oof, threshold)


def fold_splits(data, folds=5, seed: int = 42):
    """``folds`` as a list of (train, test) index arrays: a number means
    :func:`utils.splits.grouped_kfold` on ``data.y`` and ``data.groups``."""
    if isinstance(folds, int):
        return splits.grouped_kfold(data.y, data.groups, n_splits=folds, seed=seed)
    return [(np.asarray(tr), np.asarray(te)) for tr, te in folds]


def run_cv(build_fn, data, folds=5, epochs: int = 10, batch_size: int = 32, seed: int = 42,
           inner_val: float | None = None, patience: int = 8, min_epochs: int = 0,
           tta: bool = False, drop_remainder: bool = False, class_weight=None,
           lr_schedule: str | None = None, check_groups: bool = True, verbose: int = 0,
           name: str = "", callbacks=None, progress=None,
           model_seed: int | None = None) -> CVResult:
    """Train and test ``build_fn()`` on each fold of a grouped, stratified K-fold split.

    ``data`` is a :class:`utils.datasets.ImageSet`; ``folds`` is a number of folds (split by
    :func:`utils.splits.grouped_kfold` on ``data.groups`` with ``seed``) or an explicit list of
    ``(train_idx, test_idx)``.  Every split is checked: no image and (``check_groups``) no
    duplicate group may be on both sides.

    ``inner_val`` (e.g. 0.2) carves a *grouped* validation split out of each training fold and
    stops early on its loss (``patience`` epochs, best weights restored, not before
    ``min_epochs``); without it the model trains exactly ``epochs`` epochs, as in the paper.
    ``tta`` averages the predictions of each test image and its left-right mirror image.
    ``drop_remainder`` reshuffles every epoch and drops the last, incomplete batch: with
    BatchNormalization a final batch of two or three images would pull the moving averages
    far off (the paper's CNN has no BatchNormalization and trains on every batch, as Keras'
    ``fit`` does by default). ``class_weight="balanced"`` weights each class by the inverse of
    its share in the training part (or pass a dict as to Keras). ``lr_schedule="cosine"``
    lowers the learning rate from the optimizer's initial value along a half cosine to 5 % of it
    at the last epoch, so the weights settle instead of jumping around until training stops.
    Models are seeded with ``seed + fold``, so a run is repeatable on one machine;
    ``model_seed`` (default ``seed``) replaces ``seed`` there, so that the same folds (and inner
    validation splits, drawn with ``seed``) can be trained from other initial weights, batch
    orders and dropout masks: the training-seed noise of :func:`utils.experiments.seed_repeats`.
    ``progress`` (optional) is called with each fold's result row.
    """
    import keras
    import pandas as pd

    X, y, groups = data.X, np.asarray(data.y), np.asarray(data.groups)
    fold_list = fold_splits(data, folds, seed)
    train_seed = seed if model_seed is None else int(model_seed)
    oof = np.full(len(y), np.nan)
    fold_of = np.full(len(y), -1)
    rows, histories = [], []
    for k, (train, test) in enumerate(fold_list):
        splits.check_split(train, test, groups if check_groups else None)
        start = time.perf_counter()
        model, history, fit_idx, val_idx = fit_fold(
            build_fn, X, y, groups, train, train_seed + k, epochs=epochs, batch_size=batch_size,
            inner_val=inner_val, patience=patience, min_epochs=min_epochs,
            drop_remainder=drop_remainder, class_weight=class_weight, lr_schedule=lr_schedule,
            verbose=verbose, callbacks=callbacks, split_seed=seed + k)
        prob = predict(model, X[test], tta=tta)
        seconds = time.perf_counter() - start
        oof[test], fold_of[test] = prob, k
        row = {"fold": k, "n_train": len(fit_idx), "n_val": 0 if val_idx is None else len(val_idx),
               "n_test": len(test), "epochs": len(history.history["loss"])}
        row.update(binary_metrics(y[test], prob))
        row["seconds"] = seconds
        rows.append(row)
        histories.append(history.history)
        if progress is not None:
            progress(row)
        keras.backend.clear_session()
    return CVResult(pd.DataFrame(rows), oof, fold_of, histories, name)


def fit_fold(build_fn, X, y, groups, train, seed: int, epochs: int = 10, batch_size: int = 32,
             inner_val: float | None = None, patience: int = 8, min_epochs: int = 0,
             drop_remainder: bool = False, class_weight=None, lr_schedule: str | None = None,
             verbose: int = 0, callbacks=None, split_seed: int | None = None):
    """Train ``build_fn()`` on the images ``train`` of ``X`` as :func:`run_cv` trains one fold
    (the recipe, its options and their meaning are :func:`run_cv`'s), seeded with ``seed``;
    the grouped inner validation part is drawn with ``split_seed`` (default ``seed``), so that
    other training seeds can be run on the same inner split.

    With ``inner_val`` a grouped validation part of ``train`` stops the training early.
    Returns ``(model, history, fit_idx, val_idx)``: the trained model, its Keras history,
    the images it was fitted on and those of the inner validation part (``None`` without one).
    :func:`utils.experiments.fit_final` trains a final model on all images with it.
    """
    import keras

    train = np.asarray(train)
    config.seed_everything(seed)
    fit_idx, val_idx = train, None
    cbs = list(callbacks or [])
    if inner_val:
        inner_tr, inner_va = splits.grouped_holdout(y[train], groups[train], inner_val,
                                                    seed=seed if split_seed is None else split_seed)
        fit_idx, val_idx = train[inner_tr], train[inner_va]
        splits.check_split(fit_idx, val_idx, groups)
        cbs.append(keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=patience, restore_best_weights=True,
            start_from_epoch=min_epochs))
    model = build_fn()
    if lr_schedule == "cosine":
        cbs.append(_cosine_callback(float(model.optimizer.learning_rate.numpy()), epochs))
    elif lr_schedule is not None:
        raise ValueError(f"lr_schedule must be None or 'cosine', not {lr_schedule!r}")
    train_data = {"x": X[fit_idx], "y": y[fit_idx], "batch_size": batch_size}
    if drop_remainder:
        train_data = {"x": _batches(X[fit_idx], y[fit_idx], batch_size, seed), "shuffle": False}
    weights = class_weight
    if isinstance(class_weight, str) and class_weight == "balanced":
        counts = np.bincount(y[fit_idx].astype(int), minlength=2)
        weights = {c: len(fit_idx) / (2.0 * counts[c]) for c in (0, 1)}
    history = model.fit(
        **train_data, epochs=epochs, verbose=verbose, class_weight=weights,
        validation_data=None if val_idx is None else (X[val_idx], y[val_idx]),
        callbacks=cbs)
    return model, history, fit_idx, val_idx


def _cosine_callback(initial: float, epochs: int, floor: float = 0.05):
    import keras

    def rate(epoch, lr):
        return initial * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * epoch / max(epochs - 1, 1))))

    return keras.callbacks.LearningRateScheduler(rate)


def _batches(X, y, batch_size: int, seed: int):
    """A tf.data pipeline: reshuffled every epoch, full batches only."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((X, y.astype("float32")))
    ds = ds.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size, drop_remainder=True).prefetch(2)


def predict(model, X, tta: bool = False, batch_size: int = 64) -> np.ndarray:
    """Probabilities of class 1 for the images (or cached features) ``X``; ``tta`` averages
    with the left-right mirrored images.

    Calls the model directly in inference mode, batch by batch: ``model.predict`` would trace
    a new graph for every fold's model (and warn about "retracing" from the fifth on).
    """
    def once(images):
        out = [np.asarray(model(images[i:i + batch_size], training=False)).ravel()
               for i in range(0, len(images), batch_size)]
        return np.concatenate(out) if out else np.zeros(0)

    X = np.asarray(X, dtype=np.float32)
    prob = once(X)
    if tta:
        prob = (prob + once(X[:, :, ::-1])) / 2
    return prob


# ------------------------------------------------------------------------------------------
# Transfer learning
# ------------------------------------------------------------------------------------------
def run_transfer_cv(data, folds=5, mode: str = "features", head: str = "light",
                    epochs: int | None = None, batch_size: int = 32,
                    learning_rate: float | None = None, seed: int = 42, n_blocks: int = 6,
                    n_views: int = 6, warmup_epochs: int = 0, dropout: float = 0.3,
                    tta: bool | None = None, features: transfer.Features | None = None,
                    views: transfer.Views | None = None, keep_models: bool = False,
                    progress=None, verbose: bool = True, model_seed: int | None = None):
    """Grouped K-fold cross-validation of a transfer model on ``data`` (an ImageSet).

    ``mode="features"``: the backbone is frozen; its features are computed once
    (:func:`utils.transfer.extract_features`, cached) and only a new head is trained per fold:
    ``head="paper"`` (Flatten -> 256 -> 128 -> 1 on the 7x7x1280 map, as the paper) or
    ``head="light"`` (dropout -> Dense(1) on the pooled 1280 features).  Defaults: 10 epochs
    at 1e-3 for the paper head (the 10 epochs of the author's code), 60 for the light head.

    ``mode="finetune"``: the last ``n_blocks`` Lite0 blocks are unfrozen (:func:`utils.transfer.fine_tune`:
    BatchNorm in inference mode, low learning rate, default 3e-4) with the light head; each epoch
    shows every training image as one of ``n_views`` cached augmented views
    (:func:`utils.transfer.frozen_views`).  ``warmup_epochs`` first train the head alone at 1e-3.

    ``tta`` (default: on for fine-tuning) averages the predictions of each test image and its
    mirror image.  ``folds`` is a number (split by :func:`utils.splits.grouped_kfold` with
    ``seed``) or a list of (train, test); every split is checked for group leakage.
    ``model_seed`` (default ``seed``) seeds the heads and the fine-tuning (``model_seed + fold``)
    while the folds and the cached augmented views keep ``seed``.

    Returns a :class:`CVResult`: ``folds`` (one row per fold: fold, backbone,
    model, n_train, n_val, n_test, epochs, accuracy, auc, sensitivity, specificity, tp, fn, tn,
    fp, seconds), ``oof`` (out-of-fold probabilities), ``fold_of``, ``histories`` and ``name``;
    plus ``setup_seconds`` (feature or view extraction) and, with ``keep_models``, ``models``:
    one flat image -> probability Keras model per fold (input: :func:`utils.transfer.preprocess`-ed images).
    """
    import keras
    import pandas as pd

    y, groups = np.asarray(data.y).astype(int), np.asarray(data.groups)
    fold_list = fold_splits(data, folds, seed)
    prep = _transfer_setup(data, mode, head, epochs, learning_rate, seed, n_blocks, n_views, tta,
                           features, views, verbose)
    label = prep.label
    oof = np.full(len(y), np.nan)
    fold_of = np.full(len(y), -1)
    rows, histories, models = [], [], []
    train_seed = seed if model_seed is None else int(model_seed)
    for k, (train, test) in enumerate(fold_list):
        splits.check_split(train, test, groups)
        start = time.perf_counter()
        model, hist, prob = _transfer_fold(prep, y, train, test, train_seed + k, batch_size,
                                           warmup_epochs, dropout, flat=keep_models)
        if keep_models:
            models.append(model)
        seconds = time.perf_counter() - start
        oof[test], fold_of[test] = prob, k
        row = {"fold": k, "backbone": transfer.backbone_name(prep.backbone_key), "model": label,
               "n_train": len(train), "n_val": 0, "n_test": len(test),
               "epochs": prep.epochs + (warmup_epochs if mode == "finetune" else 0)}
        row.update(binary_metrics(y[test], prob))
        row["seconds"] = seconds
        rows.append(row)
        histories.append(hist)
        if progress is not None:
            progress(row)
        if not keep_models:
            keras.backend.clear_session()
    result = CVResult(pd.DataFrame(rows), oof, fold_of, histories, label)
    result.setup_seconds = prep.setup_seconds
    result.backbone = transfer.backbone_name(prep.backbone_key)
    result.models = models
    return result


def _transfer_setup(data, mode, head, epochs, learning_rate, seed, n_blocks, n_views, tta,
                    features, views, verbose):
    """What every fold of :func:`run_transfer_cv` (and :func:`fit_transfer`) shares: the cached
    frozen features (and their mirror images for TTA) or the cached views, the defaults of
    epochs and learning rate, the model's label; checks the options."""
    import keras

    if mode not in ("features", "finetune"):
        raise ValueError(f"mode must be 'features' or 'finetune', not {mode!r}")
    if head not in ("paper", "light"):
        raise ValueError(f"head must be 'paper' or 'light', not {head!r}")
    size = int(np.shape(data.X)[1])
    tta = (mode == "finetune") if tta is None else tta
    start_setup = time.perf_counter()
    F = F_mirror = None
    if mode == "features":
        kind = "map" if head == "paper" else "pooled"
        if features is None:
            features = transfer.extract_features(data, kind=kind, verbose=verbose)
        elif features.kind != kind:
            raise ValueError(f"the {head} head needs {kind} features, got {features.kind}")
        F = features.values
        if tta:
            mirrored = type(data)(data.X[:, :, ::-1], data.y, data.groups, None) \
                if hasattr(data, "table") else data[:, :, ::-1]
            F_mirror = transfer.extract_features(mirrored, kind=kind, verbose=verbose).values
        epochs = epochs or (10 if head == "paper" else 60)
        learning_rate = learning_rate or 1e-3
        label = f"{transfer.backbone_name(features.backbone)}, frozen, {head} head"
        backbone_key = features.backbone
    else:
        if head != "light":
            raise ValueError("fine-tuning uses the light head (the paper head's 16 M weights "
                             "on 200 images would drown the backbone's updates)")
        probe = transfer.build_classifier(size, head="light", weights=None)
        blocks = transfer.fine_tune(probe, n_blocks)
        split = transfer.split_layer(probe, blocks[0])
        if views is None:
            views = transfer.frozen_views(data, split, n_views=n_views, seed=seed, verbose=verbose)
        elif views.split != split:
            raise ValueError(f"views end at {views.split}, but unfreezing {n_blocks} blocks "
                             f"needs them to end at {split}")
        epochs = epochs or 15
        learning_rate = learning_rate or 3e-4
        label = (f"{transfer.backbone_name()}, fine-tuned ({blocks[0]}..{blocks[-1]} unfrozen), "
                 f"light head")
        backbone_key = transfer.BACKBONE
        del probe
        keras.backend.clear_session()
    return SimpleNamespace(mode=mode, head=head, size=size, tta=tta, F=F, F_mirror=F_mirror,
                           views=views, n_blocks=n_blocks, epochs=epochs,
                           learning_rate=learning_rate, label=label, backbone_key=backbone_key,
                           setup_seconds=time.perf_counter() - start_setup)


def _transfer_fold(prep, y, train, test, seed, batch_size, warmup_epochs, dropout, flat):
    """Train one fold's transfer model on the images ``train`` (seeded with ``seed``) and
    predict the images ``test``; returns ``(model, history, prob)``, ``model`` being the flat
    image -> probability model (input: :func:`utils.transfer.preprocess`-ed images) when
    ``flat`` or for fine-tuning, else the feature-space head."""
    config.seed_everything(seed)
    if prep.mode == "features":
        F = prep.F
        model = (transfer.paper_head(F.shape[1:], prep.learning_rate) if prep.head == "paper"
                 else transfer.light_head(F.shape[1:], dropout, prep.learning_rate))
        hist = model.fit(F[train], y[train], epochs=prep.epochs, batch_size=batch_size,
                         verbose=0, shuffle=True).history
        prob = predict(model, F[test])
        if prep.tta:
            prob = (prob + predict(model, prep.F_mirror[test])) / 2
        if flat:
            model = _attach_head(model, prep.size, prep.head)
        return model, hist, prob
    return _fine_tune_fold(prep.views.values, y, train, test, prep.n_blocks, prep.epochs,
                           batch_size, prep.learning_rate, warmup_epochs, dropout, prep.tta,
                           seed, prep.size)


def fit_transfer(data, train=None, seed: int = 42, mode: str = "features", head: str = "light",
                 epochs: int | None = None, batch_size: int = 32,
                 learning_rate: float | None = None, n_blocks: int = 6, n_views: int = 6,
                 warmup_epochs: int = 0, dropout: float = 0.3, tta: bool | None = None,
                 features: transfer.Features | None = None, views: transfer.Views | None = None,
                 verbose: bool = False):
    """Train one transfer model as :func:`run_transfer_cv` trains a fold (same options), on the
    images ``train`` of ``data`` (default: all), seeded with ``seed``.

    Returns ``(model, history, tta)``: the flat image -> probability Keras model (its input:
    :func:`utils.transfer.preprocess`-ed images), its training history and whether the recipe
    averages each prediction with the mirror image's (on for fine-tuning unless ``tta=False``).
    """
    y = np.asarray(data.y).astype(int)
    train = np.arange(len(y)) if train is None else np.asarray(train)
    prep = _transfer_setup(data, mode, head, epochs, learning_rate, seed, n_blocks, n_views, tta,
                           features, views, verbose)
    model, hist, _ = _transfer_fold(prep, y, train, np.zeros(0, dtype=int), seed, batch_size,
                                    warmup_epochs, dropout, flat=True)
    return model, hist, prep.tta


def _clone_layer(layer):
    """A new layer with ``layer``'s configuration (so each model owns its nodes); the weights
    are copied once the clone is built."""
    return layer.__class__.from_config(layer.get_config())


def _attach_head(head_model, size: int, head: str):
    """A flat image -> probability model: the frozen Lite0 with a trained feature-space head.

    The head's layers are copied (configuration and weights), so that the new model is the
    only user of its layers (:func:`utils.viz.grad_cam` reads the output layer's input).
    """
    import keras

    base = transfer.lite0_backbone(size)
    x = base.output
    if head == "light":
        x = keras.layers.GlobalAveragePooling2D(name="head_gap")(x)
    pairs = []
    for layer in head_model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        clone = _clone_layer(layer)
        x = clone(x)
        pairs.append((clone, layer))
    for clone, layer in pairs:
        clone.set_weights(layer.get_weights())
    model = keras.Model(base.input, x, name=f"lite0_{head}_head")
    for layer in model.layers:
        layer.trainable = False
    return model


def _fine_tune_fold(Z, y, train, test, n_blocks, epochs, batch_size, learning_rate,
                    warmup_epochs, dropout, tta, seed, size):
    """Train one fold's fine-tuned model on cached views; return (flat model, history, prob)."""
    import keras

    config.seed_everything(seed)
    model = transfer.build_classifier(size, head="light", dropout=dropout)
    blocks = transfer.fine_tune(model, n_blocks, learning_rate)
    split = transfer.split_layer(model, blocks[0])
    top = transfer.trainable_part(model, split)
    rng = np.random.default_rng(seed)
    history = {"loss": [], "accuracy": []}

    def run(n_epochs):
        for _ in range(n_epochs):
            view = rng.integers(0, Z.shape[1], len(train))
            h = top.fit(Z[train, view], y[train], epochs=1, batch_size=batch_size, verbose=0,
                        shuffle=True)
            history["loss"] += h.history["loss"]
            history["accuracy"] += h.history["accuracy"]

    if warmup_epochs:
        frozen = [layer for layer in top.layers if not layer.name.startswith("head_")]
        for layer in frozen:
            layer.trainable = False
        top.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy",
                    metrics=["accuracy"])
        run(warmup_epochs)
        transfer.fine_tune(model, n_blocks, learning_rate)  # unfreeze again, BN stays frozen
    top.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy",
                metrics=["accuracy"])
    run(epochs)
    prob = predict(top, Z[test, 0])
    if tta:
        prob = (prob + predict(top, Z[test, 1])) / 2
    for layer in model.layers:
        layer.trainable = False
    return model, history, prob


# ------------------------------------------------------------------------------------------
# Summaries
# ------------------------------------------------------------------------------------------
def summarise(df, columns=METRICS, confidence: float = 0.95):
    """Mean, SD (sample SD, ``ddof=1``), min, max and a t-based CI of the mean for each column.

    ``df`` is a per-fold (or per-seed) DataFrame; columns it lacks are skipped. The CI is
    ``mean +/- t(0.975, n-1) * SD / sqrt(n)``: it describes the uncertainty of the *mean over
    folds*, and treats folds as independent, which they are not quite (their training sets
    overlap), so it is if anything too narrow.  For the rates of :data:`METRICS` it is clipped
    to [0, 1] (:func:`utils.metrics.bounded_t_interval`; column ``ci_clipped`` says where);
    other columns (e.g. seconds) keep the plain t-interval.
    """
    import pandas as pd

    rows = {}
    for col in columns:
        if col not in df:
            continue
        v = df[col].astype(float).dropna()
        if col in METRICS:
            b = bounded_t_interval(v, confidence)
            lo, hi, clipped = b["ci_low"], b["ci_high"], b["clipped"]
        else:
            (lo, hi), clipped = t_interval(v, confidence), False
        rows[col] = {"n": len(v), "mean": v.mean(), "sd": v.std(ddof=1) if len(v) > 1 else float("nan"),
                     "min": v.min(), "max": v.max(), "ci_low": lo, "ci_high": hi,
                     "ci_clipped": clipped}
    return pd.DataFrame.from_dict(rows, orient="index")


def pooled_accuracy(result, y, groups, threshold: float = 0.5, n_boot: int = 2000,
                    confidence: float = 0.95, seed: int = 0) -> dict:
    """Accuracy of the pooled out-of-fold predictions of ``result`` (a :class:`CVResult`, or an
    array of out-of-fold probabilities) over all images, with a **cluster bootstrap** interval
    that resamples the near-duplicate ``groups`` (:func:`utils.metrics.cluster_bootstrap_ci`).

    A Wilson interval would count the 253 brain MRIs as 253 independent trials; copies of one
    picture sit in the same test fold and are mostly right or wrong together, so they are one
    piece of evidence, and the interval resamples pictures, not images.  Returns ``accuracy``,
    ``correct``, ``images``, ``groups``, ``ci_low``, ``ci_high`` and ``interval`` (its name).
    """
    oof = np.asarray(getattr(result, "oof", result), dtype=float)
    y, groups = np.asarray(y).astype(int), np.asarray(groups)
    pred = (oof >= threshold).astype(int)
    lo, hi = cluster_bootstrap_ci(y, pred, groups, n_boot=n_boot, confidence=confidence, seed=seed)
    n_groups = int(len(np.unique(groups)))
    return {"accuracy": float(np.mean(pred == y)), "correct": int(np.sum(pred == y)),
            "images": int(len(y)), "groups": n_groups, "ci_low": lo, "ci_high": hi,
            "interval": f"cluster bootstrap over {n_groups} groups"}


def _train_sizes(folds_df):
    """Training images per fold (the inner validation part included: it is part of the training
    fold that overlaps between folds) and test images per fold."""
    n_train = folds_df["n_train"].to_numpy(dtype=float)
    if "n_val" in folds_df:
        n_train = n_train + folds_df["n_val"].to_numpy(dtype=float)
    return n_train, folds_df["n_test"].to_numpy(dtype=float)


def compare(a, b, y=None, groups=None, metric: str = "accuracy", n_boot: int = 2000,
            seed: int = 0, confidence: float = 0.95) -> dict:
    """Compare two models evaluated on the same folds (``a`` and ``b``: :class:`CVResult`, or
    anything with ``folds`` and ``oof``).

    * ``corrected t``: :func:`utils.metrics.corrected_resampled_ttest` of the per-fold
      ``metric`` (Nadeau and Bengio: the fold variance inflated by ``1/k + n_test/n_train``,
      because the folds' training sets overlap); keys ``mean_diff``, ``ci_low``, ``ci_high``,
      ``t``, ``df``, ``p``;
    * with ``y`` and ``groups`` and both out-of-fold predictions: ``pooled`` (the difference of
      the pooled accuracies with a paired cluster bootstrap interval by group) and ``mcnemar``
      (exact McNemar over images: it treats images as independent, so with near-duplicates its
      p-value is too small; kept for comparison).
    """
    fa, fb = a.folds, b.folds
    if len(fa) != len(fb) or ("n_test" in fa and list(fa["n_test"]) != list(fb["n_test"])):
        raise ValueError("compare needs two results on the same folds")
    n_train, n_test = _train_sizes(fa)
    out = {"corrected t": corrected_resampled_ttest(fa[metric].to_numpy(float),
                                                    fb[metric].to_numpy(float), n_train, n_test,
                                                    confidence)}
    oof_a, oof_b = getattr(a, "oof", None), getattr(b, "oof", None)
    if y is not None and groups is not None and oof_a is not None and oof_b is not None:
        y = np.asarray(y).astype(int)
        pa = (np.asarray(oof_a) >= 0.5).astype(int)
        pb = (np.asarray(oof_b) >= 0.5).astype(int)
        out["pooled"] = cluster_bootstrap_diff(y, pa, pb, groups, n_boot=n_boot,
                                               confidence=confidence, seed=seed)
        out["mcnemar"] = mcnemar_test(y, oof_a, oof_b)
    return out


def comparison_table(results, y=None, groups=None):
    """A table to compare models: one row per :class:`CVResult` in ``results`` (model name,
    backbone, mean and SD (``ddof=1``) of each of :data:`METRICS` over the folds, total seconds)
    and, given the labels ``y`` and the near-duplicate ``groups``, the pooled out-of-fold
    accuracy with its cluster bootstrap 95 % interval (:func:`pooled_accuracy`).

    (Not the results page's table, :func:`utils.report.summary_table`, which reads every
    chapter's saved results.)"""
    import pandas as pd

    if (y is None) != (groups is None):
        raise ValueError("the pooled accuracy needs both y and groups (its interval resamples groups)")
    rows = []
    for res in results:
        f = res.folds
        row = {"model": getattr(res, "name", ""), "backbone": getattr(res, "backbone", "")}
        for m in METRICS:
            row[f"{m} mean"] = f[m].mean()
            row[f"{m} sd"] = f[m].std(ddof=1)
        if y is not None:
            pooled = pooled_accuracy(res, y, groups)
            row["pooled accuracy"] = pooled["accuracy"]
            row["group bootstrap 95% CI"] = f"{pooled['ci_low']:.3f}-{pooled['ci_high']:.3f}"
        row["seconds"] = f["seconds"].sum() + getattr(res, "setup_seconds", 0.0)
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------
# Augmentation ablation: each transform family against none, on the same grouped folds
# ------------------------------------------------------------------------------------------
#: The families an ablation compares: "none" and the names of preprocessing.PAIRED_TRANSFORMS.
ABLATION_FAMILIES = ("none", "affine", "flip", "intensity", "gamma", "blur", "elastic")


def augment_images(X, family: str, rng, p: float = 0.5) -> np.ndarray:
    """A copy of the images ``X`` (N, H, W, 1) where each image, with probability ``p``, gets one
    random draw of the transform ``family`` (a name of ``preprocessing.PAIRED_TRANSFORMS``;
    ``"none"`` returns the images unchanged).  Masks play no part (a zero mask is passed)."""
    from .preprocessing import PAIRED_TRANSFORMS

    X = np.asarray(X, dtype=np.float32)
    if family == "none":
        return X.copy()
    if family not in PAIRED_TRANSFORMS:
        raise ValueError(f"unknown family {family!r}; choose from {ABLATION_FAMILIES}")
    transform, out = PAIRED_TRANSFORMS[family], X.copy()
    blank = np.zeros(X.shape[1:3], np.float32)
    for i in np.flatnonzero(rng.random(len(X)) < p):
        out[i, ..., 0] = transform(X[i, ..., 0], blank, rng)[0]
    return np.clip(out, 0.0, 1.0)


def augmentation_ablation(build_fn, X, y, folds, families=ABLATION_FAMILIES, epochs: int = 5,
                          batch_size: int = 16, p: float = 0.5, seed: int = 0) -> dict:
    """Train ``build_fn()`` (a compiled Keras classifier, sigmoid output) once per fold and
    transform family, on the same ``folds`` with the same seed; each epoch sees a fresh
    augmented copy of the training images (:func:`augment_images`), the test images are never
    augmented.  Every family is compared with ``"none"`` by the corrected resampled t-test of
    the fold accuracies (:func:`utils.metrics.corrected_resampled_ttest`, family minus none).

    A model that predicts one class for every test image of a fold scores that fold's share of
    the class, whatever the family; such folds are recorded so that a table of accuracies is not
    read as a difference between transforms.

    Returns ``{"fold_accuracy": DataFrame (fold x family), "fold_positive_rate": DataFrame (fold x
    family: the share of the fold's test images predicted positive), "one_class": {family: the
    folds, numbered from 1, whose test images all got the same prediction} (families without
    such a fold left out), "comparison": DataFrame (one row per family: mean accuracy, folds
    predicted as one class, difference to none, its corrected interval, p), "n_models": folds x
    families trained, "seconds": float}``.
    """
    import pandas as pd

    from .metrics import corrected_resampled_ttest

    if "none" not in families:
        raise ValueError("the ablation compares every family with 'none': include it")
    X, y = np.asarray(X, dtype=np.float32), np.asarray(y)
    start, acc, positive = time.perf_counter(), {f: [] for f in families}, {f: [] for f in families}
    for k, (train, test) in enumerate(folds):
        for family in families:
            config.seed_everything(seed)
            model = build_fn()
            rng = np.random.default_rng([seed, k])          # the same draws for every family's fold
            for _ in range(epochs):
                model.fit(augment_images(X[train], family, rng, p), y[train], epochs=1,
                          batch_size=batch_size, verbose=0)
            prob = np.asarray(predict(model, X[test])).ravel()
            acc[family].append(float(np.mean((prob >= 0.5) == y[test])))
            positive[family].append(float(np.mean(prob >= 0.5)))
    fold_acc, fold_pos = pd.DataFrame(acc), pd.DataFrame(positive)
    one_class = {f: [k + 1 for k, r in enumerate(fold_pos[f]) if r in (0.0, 1.0)] for f in families}
    one_class = {f: folds_ for f, folds_ in one_class.items() if folds_}
    n_train = np.mean([len(tr) for tr, _ in folds])
    n_test = np.mean([len(te) for _, te in folds])
    rows = []
    for family in families:
        row = {"family": family, "accuracy": fold_acc[family].mean(),
               "one-class folds": len(one_class.get(family, []))}
        if family != "none":
            t = corrected_resampled_ttest(fold_acc[family], fold_acc["none"], n_train, n_test)
            row.update(difference=t["mean_diff"], ci_low=t["ci_low"], ci_high=t["ci_high"], p=t["p"])
        rows.append(row)
    return {"fold_accuracy": fold_acc, "fold_positive_rate": fold_pos, "one_class": one_class,
            "comparison": pd.DataFrame(rows).set_index("family"),
            "n_models": len(folds) * len(families), "seconds": time.perf_counter() - start}
