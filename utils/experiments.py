"""The brain tumour chapters' experiments: the models' settings (:func:`protocol`), grouped
cross-validation of each model with them (:func:`run_protocol`) and the paper's own protocol
repeated over seeds (:func:`paper_protocol_repeats`).

The chapter *A CNN for brain tumours* and ``python -m utils.benchmark_brain`` share these
settings.  The building blocks come from the layers below, and this module passes on the ones
the chapters use (``from utils import experiments as xp``; ``xp.paper_cnn`` is
:func:`utils.cnn.paper_cnn`):

* models: ``paper_cnn``, ``improved_cnn``, ``layer_table``, ``PAPER_SIZE`` (:mod:`utils.cnn`);
* images: ``load_brain_cropped``, ``augmentation`` (:mod:`utils.preprocessing`);
* cross-validation: ``run_cv``, ``CVResult``, ``summarise``, ``pooled_accuracy``, ``compare``,
  ``METRICS`` (:mod:`utils.crossval`);
* tests: ``corrected_resampled_ttest``, ``paired_test`` (naive), ``mcnemar_test``,
  ``cluster_bootstrap_ci`` (:mod:`utils.metrics`);
* result files: ``save_results``, ``load_results`` (:mod:`utils.results`).

Typical use::

    from utils import datasets, experiments as xp
    data = datasets.load_brain_mri(size=128)
    res = xp.run_cv(xp.paper_cnn, data, folds=5, epochs=10)
    res.folds                        # one row per fold: accuracy, auc, sensitivity, ...
    xp.summarise(res.folds)          # mean, SD and t-based 95 % CI of the fold mean
    better = xp.run_protocol("improved")   # the chapter's improved CNN, same folds
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from . import config, datasets, splits
from .cnn import PAPER_SIZE, improved_cnn, layer_table, paper_cnn
from .crossval import (METRICS, CVResult, compare, fit_fold, fit_transfer, pooled_accuracy, predict,
                       run_cv, run_transfer_cv, summarise)
from .metrics import (binary_metrics, cluster_bootstrap_ci, corrected_resampled_ttest, mcnemar_test,
                      paired_test)
from .preprocessing import augmentation, load_brain_cropped
from .results import load_results, save_results

__all__ = [  # what this module defines, then what it passes on to the chapters
    "PAPER_ACCURACY", "PAPER_EPOCHS", "MODELS", "protocol", "builder", "load_for", "run_protocol",
    "FinalModel", "fit_final", "fit_head", "head_cv", "load_external_for", "external_scores",
    "paper_split", "paper_protocol_repeats",
    "SEED_RECORD", "seed_record_path", "training_seeds", "seed_repeats", "seed_spread", "seed_record_entry",
    "record_seed_repeats", "load_seed_record", "seed_difference", "seed_table",
    "seed_record_agreement", "sign_verdict",
    "PAPER_SIZE", "paper_cnn", "improved_cnn", "layer_table", "load_brain_cropped", "augmentation",
    "METRICS", "CVResult", "run_cv", "summarise", "pooled_accuracy", "compare",
    "corrected_resampled_ttest", "paired_test", "mcnemar_test", "cluster_bootstrap_ci",
    "save_results", "load_results",
]

PAPER_ACCURACY = 0.78  # the single 80/20 split reported for the CNN in section 3.3
PAPER_EPOCHS = 10


# ------------------------------------------------------------------------------------------
# The chapter's protocols (shared by the chapter and ``python -m utils.benchmark_brain``)
# ------------------------------------------------------------------------------------------
MODELS = ("paper", "improved", "transfer", "finetune")


def protocol(name: str, quick: bool | None = None) -> dict:
    """Settings of one model's grouped-CV experiment, by mode (quick: tiny and fast).

    Keys: ``size`` (pixels), ``crop`` (crop to the head first), ``folds``, ``build`` (keyword
    arguments of the model builder) and ``fit`` (keyword arguments of :func:`run_cv`, or of
    :func:`utils.crossval.run_transfer_cv` for the transfer models).
    """
    quick = config.is_quick() if quick is None else bool(quick)

    def pick(q, f):
        return q if quick else f

    if name == "paper":
        return {"model": "paper", "size": pick(64, PAPER_SIZE), "crop": False, "folds": pick(2, 5),
                "build": {"fourth_kernel": 3},
                "fit": {"epochs": pick(2, PAPER_EPOCHS), "batch_size": 32}}
    if name == "improved":
        # Chosen on the chapter's grouped folds (see the chapter for what else was tried):
        # 64 px did as well as 96 px at less than half the cost.
        return {"model": "improved", "size": 64, "crop": True, "folds": pick(2, 5),
                "build": {"widths": (16, 32, 64, 128), "convs_per_block": 2,
                          "standardise_input": True, "dropout": 0.3, "l2": 1e-4},
                "fit": {"epochs": pick(2, 50), "batch_size": 16, "inner_val": 0.2,
                        "patience": 10, "min_epochs": 15, "drop_remainder": True,
                        "class_weight": "balanced", "lr_schedule": "cosine", "tta": True}}
    # The transfer models use the settings of the chapter "Transfer learning for brain tumour
    # MRI" (its SETTINGS cell): head-cropped images at 224 px, the same grouped folds.
    if name == "transfer":  # utils.transfer: frozen ImageNet EfficientNet-Lite0, light head
        return {"model": "transfer", "size": pick(64, 224), "crop": True, "rgb": True,
                "folds": pick(2, 5), "build": {},
                "fit": {"mode": "features", "head": "light", "epochs": pick(2, 60)}}
    if name == "finetune":  # the same backbone with its top blocks fine-tuned (the chapter's best)
        return {"model": "finetune", "size": pick(64, 224), "crop": True, "rgb": True,
                "folds": pick(2, 5), "build": {},
                "fit": {"mode": "finetune", "n_blocks": pick(3, 9), "n_views": pick(2, 8),
                        "epochs": pick(1, 15), "warmup_epochs": pick(1, 0), "learning_rate": 3e-4}}
    raise ValueError(f"unknown model {name!r}; choose from {MODELS}")


def builder(name: str, input_shape, **kwargs):
    """A zero-argument function that builds model ``name`` for ``input_shape``."""
    fn = {"paper": paper_cnn, "improved": improved_cnn}.get(name)
    if fn is None:
        raise ValueError(f"unknown model {name!r}; choose from {MODELS}")
    return lambda: fn(input_shape=tuple(input_shape), **kwargs)


def load_for(settings: dict, subset: int | None = None):
    """The brain MRI ImageSet at the size (and cropping) that ``settings`` asks for."""
    if settings.get("crop"):
        return load_brain_cropped(settings["size"], subset=subset)
    return datasets.load_brain_mri(size=settings["size"], subset=subset,
                                   mode="RGB" if settings.get("rgb") else "L")


def run_protocol(name: str, data=None, folds=None, seed: int = 42, quick: bool | None = None,
                 progress=None, model_seed: int | None = None) -> CVResult:
    """Grouped K-fold CV of model ``name`` with the settings of :func:`protocol`.

    ``"paper"`` and ``"improved"`` are trained by :func:`run_cv`; ``"transfer"`` and
    ``"finetune"`` by :func:`utils.crossval.run_transfer_cv` (frozen backbone with cached
    features, or top blocks fine-tuned on cached augmented views), whose feature or view
    extraction time is added to the first fold's ``seconds``.  ``seed`` draws the folds;
    ``model_seed`` (default ``seed``) the training (see :func:`seed_repeats`).
    """
    settings = protocol(name, quick)
    data = load_for(settings) if data is None else data
    folds = settings["folds"] if folds is None else folds
    if name in ("transfer", "finetune"):
        res = run_transfer_cv(data, folds=folds, seed=seed, progress=progress, verbose=False,
                              model_seed=model_seed, **settings["fit"])
        res.folds.loc[0, "seconds"] += getattr(res, "setup_seconds", 0.0)
        return res
    build = builder(name, data.X.shape[1:], **settings["build"])
    return run_cv(build, data, folds=folds, seed=seed, name=name, progress=progress,
                  model_seed=model_seed, **settings["fit"])


# ------------------------------------------------------------------------------------------
# Final models: one protocol trained on all images
# ------------------------------------------------------------------------------------------
@dataclass
class FinalModel:
    """A protocol's model trained on all the images it was given (:func:`fit_final`).

    ``model`` is one Keras model: its input is what ``load_for(settings).X`` holds (the images
    cropped to the head if the protocol crops, resized, with their channels, floats in [0, 1]),
    its output P(tumour); the transfer models carry their backbone's input scaling inside
    (:func:`utils.transfer.with_preprocessing`), so ``model.save("x.keras")`` is the whole
    model.  ``predict`` applies the protocol's test-time augmentation (``tta``: the average with
    the mirror image) as its cross-validation did.  ``threshold``: the decision threshold, 0.5
    unless one was chosen on training data.  ``n_images``: the images given; ``n_train``: those
    the weights were fitted on; ``n_val``: those of the grouped inner validation part that
    stopped the training (``"improved"``: about 20 % of the groups, so ``n_train`` is about 80 %
    of ``n_images``; 0 for the other protocols, where ``n_train == n_images``).
    """

    name: str
    settings: dict
    model: object
    threshold: float = 0.5
    seed: int = 42
    n_train: int = 0
    n_val: int = 0
    n_images: int = 0
    tta: bool = False
    epochs: int = 0
    seconds: float = 0.0
    history: dict = field(default_factory=dict, repr=False)

    def predict(self, X, batch_size: int = 64) -> np.ndarray:
        """P(tumour) for images ``X`` (N, H, W, C) in [0, 1], with the protocol's TTA."""
        return predict(self.model, X, tta=self.tta, batch_size=batch_size)

    def predict_features(self, F, batch_size: int = 256) -> np.ndarray:
        """P(tumour) from the images' cached frozen features ``F`` (N, 1280), as
        :func:`utils.transfer.extract_features` gives them (pooled): the layers after the
        backbone's pooling (``head_gap``: dropout, the output) applied in inference mode, what
        :meth:`predict` computes from the images without running the backbone again.  Only for
        the frozen-backbone ``"transfer"`` protocol (no test-time augmentation)."""
        names = [layer.name for layer in self.model.layers]
        if self.name != "transfer" or self.tta or "head_gap" not in names:
            raise ValueError(f"predict_features needs the frozen-backbone transfer model, not {self.name!r}")
        head = self.model.layers[names.index("head_gap") + 1:]
        F = np.asarray(F, dtype=np.float32)
        out = []
        for i in range(0, len(F), batch_size):
            x = F[i:i + batch_size]
            for layer in head:
                x = layer(x, training=False)
            out.append(np.asarray(x).ravel())
        return np.concatenate(out) if out else np.zeros(0)

    def classify(self, X) -> np.ndarray:
        """1 (tumour) where ``predict(X) >= threshold``, else 0."""
        return (self.predict(X) >= self.threshold).astype(int)


def fit_final(name: str, data=None, seed: int = 42, quick: bool | None = None) -> FinalModel:
    """Train protocol ``name`` (one of :data:`MODELS`, settings of :func:`protocol`) on **all**
    images of ``data`` (default: the 253 brain MRIs, ``load_for(protocol(name))``), with the
    recipe of one cross-validation fold (``"improved"`` fits its weights on about 80 % of them,
    see :class:`FinalModel` ``n_train``/``n_val``).

    ``"paper"``/``"improved"``: :func:`utils.crossval.fit_fold` (for ``"improved"`` its grouped
    inner validation part, 20 % of the groups, stops the training early, as in every fold);
    ``"transfer"``/``"finetune"``: :func:`utils.crossval.fit_transfer` (a light head on cached
    frozen features; the top blocks fine-tuned on cached views), the trained network then
    wrapped with its input scaling.  Seeded with ``seed`` (a fold ``k`` of the CV uses
    ``seed + k``).  Returns a :class:`FinalModel`.
    """
    settings = protocol(name, quick)
    data = load_for(settings) if data is None else data
    X, y, groups = data.X, np.asarray(data.y), np.asarray(data.groups)
    every = np.arange(len(y))
    start = time.perf_counter()
    if name in ("transfer", "finetune"):
        fit = dict(settings["fit"])
        flat, history, tta = fit_transfer(data, every, seed=seed, **fit)
        from .transfer import with_preprocessing

        model = with_preprocessing(flat, channels=int(X.shape[-1]), name=f"final_{name}")
        n_val, epochs = 0, len(history.get("loss", [])) or int(fit.get("epochs") or 0)
        n_fit = len(y)
    else:
        fit = dict(settings["fit"])
        tta = bool(fit.pop("tta", False))
        build = builder(name, X.shape[1:], **settings["build"])
        model, hist, fit_idx, val_idx = fit_fold(build, X, y, groups, every, seed, **fit)
        history = hist.history
        n_val, epochs = (0 if val_idx is None else len(val_idx)), len(history.get("loss", []))
        n_fit = len(y) if fit_idx is None else len(fit_idx)
    seconds = time.perf_counter() - start
    return FinalModel(name=name, settings=settings, model=model, seed=seed, n_train=n_fit,
                      n_val=n_val, n_images=len(y), tta=tta, epochs=epochs, seconds=seconds,
                      history=history)


def fit_head(F, y, seed: int = 42, quick: bool | None = None):
    """The transfer protocol's light head (:func:`protocol` ``"transfer"``: dropout, Dense(1),
    its epochs, learning rate 1e-3, batches of 32) trained on cached frozen features ``F``
    (N, 1280) with labels ``y``, seeded with ``seed``: what :func:`utils.crossval.run_transfer_cv`
    trains in a fold, without the images.  Predict with :func:`utils.crossval.predict`."""
    from . import transfer

    fit = protocol("transfer", quick)["fit"]
    F, y = np.asarray(F, dtype=np.float32), np.asarray(y).astype(int)
    config.seed_everything(seed)
    head = transfer.light_head(F.shape[1:], 0.3, 1e-3)
    head.fit(F, y, epochs=int(fit["epochs"]), batch_size=32, verbose=0, shuffle=True)
    return head


def _head_task(task):
    """One head of :func:`head_cv`, here or in a worker process: ``(F, y, seed, quick,
    evaluate)`` -> the head's probabilities on each array of ``evaluate``."""
    import keras

    F, y, seed, quick, evaluate = task
    head = fit_head(F, y, seed, quick)
    out = [predict(head, G) for G in evaluate]
    keras.backend.clear_session()
    return out


_POOLS: dict = {}


def _silent_worker():
    """A head worker's native stderr goes to /dev/null before it imports TensorFlow, whose
    start-up lines (no GPU, CPU features) would otherwise land in the chapter's output once
    per worker; a failure still reaches the caller, as the task's exception."""
    import os

    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)


def _head_map(tasks, workers: int):
    """:func:`_head_task` of every task in a pool of ``workers`` processes (``spawn``: each
    worker imports TensorFlow afresh, its stderr silenced by :func:`_silent_worker`), started
    once and kept while the settings a worker reads at start are unchanged."""
    import os

    key = (workers,) + tuple(os.environ.get(v) for v in (config.THREADS_ENV,
                                                         config.DETERMINISTIC_ENV))
    if key not in _POOLS:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        _POOLS[key] = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                          initializer=_silent_worker)
    futures = []
    try:
        futures = [_POOLS[key].submit(_head_task, t) for t in tasks]
        return [f.result() for f in futures]
    except BaseException:                          # a crashed worker or an interrupt:
        for f in futures:                          # no task left waiting, and a new pool
            f.cancel()                             # next time
        _POOLS.pop(key).shutdown(wait=False, cancel_futures=True)
        raise


def head_cv(F, y, groups, folds: int | None = None, seed: int = 42, quick: bool | None = None,
            model_seed: int | None = None, evaluate=(), augmented=(), workers: int = 1,
            final=None):
    """Grouped K-fold CV of :func:`fit_head` on features ``F``: the folds of
    :func:`utils.splits.grouped_kfold` (``seed``), fold ``k`` trained with ``model_seed + k``
    (default ``seed + k``), as :func:`run_protocol` trains ``"transfer"``.  Returns ``(oof,
    fold_probs)``: the out-of-fold probabilities and, for each array of features in
    ``evaluate``, the fold models' probabilities on it (one row per fold; their mean is the
    ensemble of the fold models).

    ``augmented``: features of augmented copies of the same images, each array aligned with
    ``F`` (row ``i`` a copy of image ``i``).  Each fold also trains on the copies of its
    training images, never on a copy of a test image; the test images are scored as they are.

    ``final``: arrays of features to score with the *final* head as well, the one trained on
    all images (and all their copies) with seed ``model_seed`` (default ``seed``), exactly as
    ``fit_head(F, y, model_seed)`` would train it; it is trained alongside the folds (with
    workers, in the same round) and ``(oof, fold_probs, final_probs)`` is returned,
    ``final_probs`` one array per array of ``final``.

    ``workers > 1`` trains the folds' heads in that many worker processes at once (a head's
    training is mostly Keras's per-step overhead on one core): each head is seeded as in a
    serial run, so the figures are the same.
    """
    y, groups = np.asarray(y).astype(int), np.asarray(groups)
    quick = config.mode() == "quick" if quick is None else bool(quick)   # the workers' mode too
    folds = protocol("transfer", quick)["folds"] if folds is None else folds
    train_seed = seed if model_seed is None else int(model_seed)
    tasks, tests = [], []
    for k, (train, test) in enumerate(splits.grouped_kfold(y, groups, folds, seed)):
        splits.check_split(train, test, groups)
        Ftr = np.concatenate([F[train]] + [np.asarray(A)[train] for A in augmented])
        tasks.append((Ftr, np.tile(y[train], 1 + len(augmented)), train_seed + k, quick,
                      (np.asarray(F)[test],) + tuple(evaluate)))
        tests.append(test)
    if final is not None:
        Fall = np.concatenate([np.asarray(F)] + [np.asarray(A) for A in augmented])
        tasks.append((Fall, np.tile(y, 1 + len(augmented)), train_seed, quick, tuple(final)))
    results = list(_head_map(tasks, workers) if workers > 1 else map(_head_task, tasks))
    final_probs = results.pop() if final is not None else None
    oof = np.full(len(y), np.nan)
    fold_probs = [[] for _ in evaluate]
    for test, (p_test, *p_eval) in zip(tests, results):
        oof[test] = p_test
        for out, p in zip(fold_probs, p_eval):
            out.append(p)
    fold_probs = [np.array(p) for p in fold_probs]
    return (oof, fold_probs) if final is None else (oof, fold_probs, list(final_probs))


EXTERNAL_VIEWS = ("axial", "coronal", "sagittal")


def load_external_for(settings: dict, subset: int | None = None, ixi_views=EXTERNAL_VIEWS):
    """The external brain MRI set (:func:`utils.datasets.load_brain_mri_external`) prepared as
    :func:`load_for` prepares the 253 images for ``settings`` (size, head crop, channels), with
    healthy IXI slices in every view of ``ixi_views`` (default: axial, coronal and sagittal, so
    that the healthy class spans the views the tumour images show)."""
    if settings.get("crop"):
        from .preprocessing import load_brain_external_cropped

        return load_brain_external_cropped(settings["size"], subset=subset, ixi_views=ixi_views)
    return datasets.load_brain_mri_external(size=settings["size"], subset=subset,
                                            mode="RGB" if settings.get("rgb") else "L",
                                            ixi_views=ixi_views)


def external_scores(y, prob, table, threshold: float = 0.5, n_boot: int = 1000, seed: int = 0):
    """The external figures of one model: a DataFrame with one row per score and
    ``value``, ``ci_low``, ``ci_high``, ``n``: accuracy, AUC, sensitivity, specificity, Brier
    and ECE over the whole set (:func:`utils.calibration.scores_with_ci`, intervals resampling
    ``table["group"]``: IXI subjects, near-duplicate groups of the tumour images), then
    ``sensitivity <type>`` per tumour type and ``specificity <view>`` per view of the healthy
    slices, each with its own grouped interval."""
    import pandas as pd

    from .calibration import scores_with_ci

    y, prob = np.asarray(y).astype(int), np.asarray(prob, dtype=float)
    groups = table["group"].to_numpy()
    out = scores_with_ci(y, prob, groups, threshold=threshold, n_boot=n_boot, seed=seed)
    parts = [out]
    for col, label, rate in (("tumour_type", 1, "sensitivity"), ("view", 0, "specificity")):
        for value in sorted(set(table.loc[y == label, col])):
            m = (y == label) & (table[col].to_numpy() == value)
            parts.append(_rate_with_ci(y[m], prob[m], groups[m], label, threshold, n_boot, seed,
                                       f"{rate} {value}"))
    return pd.concat(parts)


def _rate_with_ci(y, prob, groups, label: int, threshold: float, n_boot: int, seed: int,
                  name: str):
    """One row of :func:`external_scores` for images of one class: the share of them on their
    side of ``threshold`` (sensitivity for ``label`` 1, specificity for 0) with the cluster
    bootstrap interval :func:`utils.calibration.scores_with_ci` gives it (same resamples), without
    its other five scores' resamples."""
    import pandas as pd

    from .metrics import cluster_bootstrap_mean

    y, prob = np.asarray(y), np.asarray(prob, dtype=float)
    hit = (prob >= threshold) if label == 1 else (prob < threshold)   # every image is of ``label``
    if len(y) and not np.all(y == label):
        raise ValueError(f"_rate_with_ci takes images of one class ({label}) only")
    value, lo, hi = (cluster_bootstrap_mean(hit, groups, n_boot=n_boot, seed=seed) if len(y)
                     else (float("nan"),) * 3)
    return pd.DataFrame({"value": [value], "ci_low": [lo], "ci_high": [hi], "n": [len(y)]},
                        index=[name])


# ------------------------------------------------------------------------------------------
# The paper's protocol, repeated
# ------------------------------------------------------------------------------------------
def paper_split(n: int, seed: int, test_size: float = 0.2, y=None):
    """One random 80/20 split as in the author's code (``train_test_split`` without
    stratification); pass ``y`` to stratify instead."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    train, test = train_test_split(idx, test_size=test_size, random_state=seed, stratify=y)
    return np.sort(train), np.sort(test)


def paper_protocol_repeats(n_seeds: int = 20, data=None, epochs: int = PAPER_EPOCHS,
                           test_size: float = 0.2, fourth_kernel: int = 3, seeds=None,
                           stratify: bool = False, batch_size: int = 32, progress=None):
    """Repeat the paper's experiment (one random 80/20 split, paper CNN, 10 epochs) per seed.

    Each seed draws its own split (as an unseeded run of the author's script would) and its own
    weight initialisation.  Returns one row per seed: seed, accuracy, AUC, sensitivity,
    specificity, n_test, ``straddling_groups`` (near-duplicate groups with members in train and
    test), ``leaked_test_images`` (test images with a copy in train) and seconds.
    ``data`` defaults to the 253 images at 128 px; ``seeds`` overrides ``range(n_seeds)``.
    """
    import keras
    import pandas as pd

    if data is None:
        data = datasets.load_brain_mri(size=PAPER_SIZE)
    y, groups = np.asarray(data.y), np.asarray(data.groups)
    rows = []
    for seed in (list(seeds) if seeds is not None else range(n_seeds)):
        train, test = paper_split(len(y), seed, test_size, y if stratify else None)
        config.seed_everything(seed)
        start = time.perf_counter()
        model = paper_cnn(data.X.shape[1:], fourth_kernel=fourth_kernel)
        model.fit(data.X[train], y[train], epochs=epochs, batch_size=batch_size, verbose=0)
        prob = predict(model, data.X[test])
        train_groups = set(groups[train])
        row = {"seed": seed, "n_test": len(test),
               "straddling_groups": splits.straddling_groups(train, test, groups),
               "leaked_test_images": int(sum(g in train_groups for g in groups[test]))}
        row.update(binary_metrics(y[test], prob))
        row["seconds"] = time.perf_counter() - start
        rows.append(row)
        if progress is not None:
            progress(row)
        keras.backend.clear_session()
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------
# Training-seed noise: the same folds, other training seeds
# ------------------------------------------------------------------------------------------
#: Where ``python -m utils.benchmark_brain --seeds N --record`` writes its full-mode result,
#: which the chapters read (:func:`load_seed_record`): a recorded result, kept in git, labelled
#: per model with the commit, date, mode and environment that produced it.  A quick-mode run
#: writes next to it, ``brain_seed_repeats_quick.json`` (:func:`seed_record_path`).
SEED_RECORD = config.repo_root() / "utils" / "recorded" / "brain_seed_repeats.json"
SEED_STEP = 100  # training seeds seed, seed + 100, ...: never one of another run's seed + fold


def training_seeds(n_seeds: int, seed: int = 42) -> list[int]:
    """The training seeds of :func:`seed_repeats`: ``seed``, ``seed + 100``, ... (the first is
    the seed of an ordinary run, so its numbers are the chapter's)."""
    if n_seeds < 1:
        raise ValueError(f"n_seeds must be at least 1, not {n_seeds}")
    return [seed + SEED_STEP * i for i in range(n_seeds)]


def seed_repeats(name: str, n_seeds: int = 3, data=None, folds=None, seed: int = 42,
                 quick: bool | None = None, progress=None):
    """Model ``name`` cross-validated (:func:`run_protocol`) on the same folds (drawn with
    ``seed``) once per training seed (:func:`training_seeds`): what changes from run to run
    is only what training draws (initial weights, batch order, dropout).

    Returns ``(table, runs)``: ``table`` has one row per training seed (``training_seed``, the
    fold means of :data:`METRICS`, ``pooled_accuracy``, ``seconds``), ``runs`` the
    :class:`CVResult` of each.  ``progress(training_seed, fold_row)`` is called per fold.
    """
    import pandas as pd

    settings = protocol(name, quick)
    data = load_for(settings) if data is None else data
    rows, runs = [], []
    for train_seed in training_seeds(n_seeds, seed):
        start = time.perf_counter()
        res = run_protocol(name, data=data, folds=folds, seed=seed, quick=quick,
                           model_seed=train_seed,
                           progress=None if progress is None else
                           (lambda row, s=train_seed: progress(s, row)))
        row = {"training_seed": train_seed}
        row.update({m: float(res.folds[m].mean()) for m in METRICS})
        row["pooled_accuracy"] = float(np.mean((res.oof >= 0.5) == np.asarray(data.y)))
        row["seconds"] = time.perf_counter() - start
        rows.append(row)
        runs.append(res)
    return pd.DataFrame(rows), runs


def seed_spread(table, columns=METRICS + ("pooled_accuracy",)) -> dict:
    """Mean, SD (``ddof=1``), min and max over the training seeds of each column of a
    :func:`seed_repeats` table: ``{metric: {"mean", "sd", "min", "max", "n_seeds"}}``."""
    out = {}
    for col in columns:
        values = np.asarray(table[col], dtype=float)
        values = values[np.isfinite(values)]
        out[col] = {"mean": float(values.mean()) if len(values) else float("nan"),
                    "sd": float(values.std(ddof=1)) if len(values) > 1 else float("nan"),
                    "min": float(values.min()) if len(values) else float("nan"),
                    "max": float(values.max()) if len(values) else float("nan"),
                    "n_seeds": int(len(values))}
    return out


def seed_record_entry(name: str, table, runs, environment: dict, folds, seed: int = 42,
                      quick: bool | None = None) -> dict:
    """One model's entry of the seed record: its settings, the per-seed table, the spread over
    seeds (:func:`seed_spread`), the fold interval of the first seed's run (:func:`summarise`,
    the interval a single run reports) and the environment that produced it."""
    first = summarise(runs[0].folds)
    return {"settings": protocol(name, quick), "fold_seed": seed, "folds": folds,
            "per_seed": table.to_dict(orient="records"), "spread": seed_spread(table),
            "fold_interval": {m: {"mean": float(first.loc[m, "mean"]),
                                  "ci_low": float(first.loc[m, "ci_low"]),
                                  "ci_high": float(first.loc[m, "ci_high"])} for m in METRICS},
            "environment": environment}


def seed_record_path(mode: str = "full"):
    """The seed record of a mode: :data:`SEED_RECORD` for full mode, a ``_quick`` file beside
    it for quick mode (so a quick run never replaces a full-mode record)."""
    return _mode_file(SEED_RECORD, mode)


def _mode_file(full_path, mode: str):
    """A recorded result's file for ``mode``: ``full_path`` itself for full mode, a ``_quick``
    file beside it for quick mode."""
    if mode not in config.MODES:
        raise ValueError(f"mode must be one of {config.MODES}, not {mode!r}")
    return full_path if mode == "full" else full_path.with_name(full_path.stem + "_quick.json")


def record_seed_repeats(entries: dict, path=None) -> "Path":
    """Merge ``{model: entry}`` (:func:`seed_record_entry`, all of one mode) into the seed
    record file of that mode (:func:`seed_record_path`; other models' entries stay, each with
    its own label) and return its path."""
    return _merge_record(entries, path, "brain_seed_repeats",
                         "python -m utils.benchmark_brain --seeds N --models ... --record",
                         path_of=seed_record_path)


def _checked_record(path, models, mode: str, what: str, rerun: str,
                    example: str = "paper,improved", settings_of=None,
                    settings_name: str = "protocol", files=None) -> dict:
    """The entries of a recorded-result file (``{"models": {name: entry}}``), each checked: it
    carries its label (commit, date, mode, environment) and was produced with the settings that
    ``settings_of(name, quick)`` (default :func:`protocol`; ``settings_name`` names it in the
    message) gives today for its mode.  Raises ValueError otherwise, naming ``rerun`` (the
    command that re-records it), so that a chapter never shows a stale recorded result.
    ``files`` (optional) is ``(field, want, which)``, ``want`` the chapter's files, either one
    list for every entry or ``{model: files}``: an entry whose ``entry[field]`` names other
    files (in any order) was made on other images than ``which`` and is refused too.
    Returns ``{model: entry}`` with ``entry["label"]`` and ``entry["mode"]`` added."""
    import json
    from pathlib import Path

    path = Path(path)
    if not path.exists():
        raise ValueError(f"no {what} at {path}; record one with {rerun}{example}")
    entries = json.loads(path.read_text(encoding="utf-8")).get("models", {})
    names = list(entries) if models is None else list(models)
    out = {}
    for name in names:
        if name not in entries:
            raise ValueError(f"the {what} {path.name} has no entry for {name!r}; "
                             f"record it with {rerun}{name}")
        entry = dict(entries[name])
        env = entry.get("environment") or {}
        missing = [k for k in ("commit", "date", "mode", "tensorflow", "cpu_cores") if k not in env]
        if missing:
            raise ValueError(f"the {what} of {name!r} lacks its label {missing}")
        today = (settings_of or protocol)(name, env["mode"] == "quick")
        if entry.get("settings") != json.loads(json.dumps(today)):
            raise ValueError(f"the {what} of {name!r} was made with other settings than "
                             f"{settings_name}({name!r}) gives now (stale); re-record it with "
                             f"{rerun}{name}")
        entry["mode"] = env["mode"]
        entry["label"] = (f"mode {env['mode']}, commit {env['commit']}, {env['date']}, "
                          f"{env['cpu_cores']} CPU cores, {env.get('accelerator', '?')}, "
                          f"TensorFlow {env['tensorflow']}")
        out[name] = entry
    if files is not None:
        field, want, which = files
        for name, entry in out.items():
            chapter = want.get(name) if isinstance(want, Mapping) else want
            if chapter is not None and (sorted(map(str, entry.get(field, [])))
                                        != sorted(map(str, chapter))):
                raise ValueError(f"the {what} of {name!r} was made on other images than "
                                 f"{which}; re-record it with {rerun}{name}")
    return out


def _merge_record(entries: dict, path, name: str, command: str, path_of=None) -> "Path":
    """Merge ``{model: entry}`` (all of one mode) into the recorded-result file ``path`` (other
    models' entries stay, each with its own label) and return its path."""
    import json
    from pathlib import Path

    from .results import _jsonable

    modes = {e["environment"]["mode"] for e in entries.values()}
    if len(modes) != 1:
        raise ValueError(f"the entries of one record come from one mode, not {sorted(modes)}")
    path = Path(path or path_of(modes.pop()))   # ``path_of``: the record file of a mode
    record = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    record.setdefault("name", name)
    record["command"] = command
    record.setdefault("models", {}).update(_jsonable(entries))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    return path


def load_seed_record(path=None, models=None, mode: str = "full") -> dict:
    """The seed record, checked (:func:`_checked_record`): every entry (or those in ``models``,
    which must be present) carries its label (commit, date, mode, environment) and was produced
    with the settings that :func:`protocol` gives today for its mode.  Raises ValueError
    otherwise, naming the command that re-records it, so that a chapter never shows a stale
    recorded result.

    ``path`` defaults to the record of ``mode`` (:func:`seed_record_path`).  Returns
    ``{model: entry}`` with ``entry["label"]``: "mode M, commit C, date D, N CPU cores,
    accelerator, TensorFlow V" and ``entry["mode"]``.
    """
    rerun = ("python -m utils.benchmark_brain --seeds 3 --record --models " if mode == "full"
             else "DLBI_MODE=quick python -m utils.benchmark_brain --seeds 3 --record --models ")
    return _checked_record(path or seed_record_path(mode), models, mode, "seed record", rerun)


#: Where ``python -m utils.benchmark_brain --external --record`` writes the external-dev figures
#: of final models that a chapter cannot afford to train in the build (the fine-tuned Lite0 in
#: chapter 13), labelled like :data:`SEED_RECORD`; read with :func:`load_external_record`.
EXTERNAL_RECORD = config.repo_root() / "utils" / "recorded" / "brain_external_dev.json"


def external_record_path(mode: str = "full"):
    """The external-dev record of a mode (a ``_quick`` file beside it for quick mode)."""
    return _mode_file(EXTERNAL_RECORD, mode)


def external_record_entry(name: str, final, table, dev_ids, environment: dict, seed: int = 42,
                          quick: bool | None = None) -> dict:
    """One model's entry of the external-dev record: its settings, the final model's training
    (images given, fitted on, early-stopping part, epochs, seconds), the external-dev table of
    :func:`external_scores` and the ``image_id``s it was computed on, and the environment."""
    return {"settings": protocol(name, quick), "seed": seed, "n_images": final.n_images,
            "n_train": final.n_train, "n_val": final.n_val, "epochs": final.epochs,
            "train_seconds": float(final.seconds), "threshold": float(final.threshold),
            "dev_image_ids": [str(i) for i in dev_ids],
            "dev": {k: {c: float(v) for c, v in row.items()} for k, row in table.iterrows()},
            "environment": environment}


def record_external(entries: dict, path=None) -> "Path":
    """Merge ``{model: entry}`` (:func:`external_record_entry`, one mode) into the external-dev
    record of that mode and return its path."""
    return _merge_record(entries, path, "brain_external_dev",
                         "python -m utils.benchmark_brain --external --record --models ...",
                         path_of=external_record_path)


def load_external_record(dev_ids, path=None, models=None, mode: str = "full") -> dict:
    """The external-dev record, checked like the seed record (label, today's settings) and
    also against ``dev_ids``, the ``image_id``s of the external-dev part the chapter uses: an
    entry scored on other images is refused.  Returns ``{model: entry}`` with ``entry["dev"]``
    a DataFrame (``value``, ``ci_low``, ``ci_high``, ``n`` per score) and ``entry["label"]``."""
    import pandas as pd

    rerun = ("python -m utils.benchmark_brain --external --record --models " if mode == "full"
             else "DLBI_MODE=quick python -m utils.benchmark_brain --external --record --models ")
    out = _checked_record(path or external_record_path(mode), models, mode,
                          "external-dev record", rerun, example=",".join(models or ["finetune"]),
                          files=("dev_image_ids", list(dev_ids), "this external-dev part"))
    for entry in out.values():
        entry["dev"] = pd.DataFrame(entry["dev"]).T
    return out


def seed_difference(record: dict, a: str, b: str, metric: str = "accuracy",
                    design=("fold_seed", "folds")) -> dict:
    """``b - a`` of the fold-mean ``metric`` training seed by training seed, for two entries of
    :func:`load_seed_record` (or :func:`load_unet_seed_record`, with ``design=UNET_DESIGN``)
    recorded in one mode on the same folds (the same entries under the keys ``design``) with
    the same seeds: ``{"per_seed", "mean", "sd", "min", "max", "mode"}``."""
    ea, eb = record[a], record[b]
    sa = [r["training_seed"] for r in ea["per_seed"]]
    sb = [r["training_seed"] for r in eb["per_seed"]]
    if ea["mode"] != eb["mode"] or sa != sb or any(
            k not in ea or k not in eb or ea[k] != eb[k] for k in design):
        raise ValueError(f"{a} and {b} were not recorded in one mode on the same folds and "
                         "seeds; record them together")
    diff = np.array([rb[metric] - ra[metric] for ra, rb in zip(ea["per_seed"], eb["per_seed"])],
                    dtype=float)
    return {"per_seed": diff.tolist(), "mean": float(diff.mean()),
            "sd": float(diff.std(ddof=1)) if len(diff) > 1 else float("nan"),
            "min": float(diff.min()), "max": float(diff.max()), "mode": ea["mode"]}


def sign_verdict(differences) -> str:
    """What differences between two models, one per training seed, say about their order, as a
    clause for the chapters' prose: the same sign for every seed, or a sign that changes (no
    ranking).  A single run's difference is one of these draws and can say neither."""
    d = np.asarray(list(differences), dtype=float)
    if d.size < 2:
        raise ValueError("a verdict over training seeds needs at least two seeds")
    if np.all(d > 0):
        return f"is positive for all {d.size} training seeds"
    if np.all(d < 0):
        return f"is negative for all {d.size} training seeds"
    return (f"changes sign between the {d.size} training seeds: the seeds do not rank the two "
            "models")


def seed_record_agreement(entry: dict, result, training_seed: int | None = None,
                          metrics=("accuracy", "auc"), tol: float = 1e-6) -> dict:
    """Whether a recorded seed entry still describes the code that runs now: its run with
    ``training_seed`` (default: the book's seed) against ``result``, this build's
    :class:`CVResult` of the same recipe on the same folds with that seed, or a mapping
    ``{metric: this build's figure}`` (a U-Net's held-out ``mean_dice``).

    The record checks its settings (:func:`load_seed_record`), but a change in the training
    code would leave the settings and change the models; with deterministic ops the same code
    gives the same fold means on the same machine and library versions, so equal figures mean
    the record still holds, and unequal ones that it is stale **or** comes from another machine
    (the message says which to suspect from the recorded environment).  A build with a
    training seed the record did not run (``DLBI_SEED`` set to another seed) cannot be
    compared: ``same`` is then ``None`` and the message says so.  Returns
    ``{"same", "recorded", "this_build", "message"}``.
    """
    from . import config

    training_seed = config.default_seed() if training_seed is None else int(training_seed)
    runs = {int(r["training_seed"]): r for r in entry["per_seed"]}
    this_build = {m: float(result[m] if isinstance(result, Mapping) else result.folds[m].mean())
                  for m in metrics}
    if training_seed not in runs:
        return {"same": None, "recorded": {}, "this_build": this_build,
                "message": (f"this build trained with seed {training_seed}, which the record "
                            f"did not run (it ran seeds {sorted(runs)}): the two cannot be "
                            "compared; the record's figures are its own, this build's are one "
                            "more draw")}
    recorded = {m: float(runs[training_seed][m]) for m in metrics}
    same = all(abs(recorded[m] - this_build[m]) <= tol for m in metrics)
    figures = ", ".join(f"{m} {recorded[m]:.3f} recorded vs {this_build[m]:.3f} now" for m in metrics)
    if same:
        message = (f"the record's seed-{training_seed} run equals this build's run ({figures}): "
                   "the record describes the code that runs now")
    else:
        env = entry.get("environment") or {}
        here = config.cpu_model()
        if "cpu" not in env:
            cpu = "its CPU was not recorded"
        elif env["cpu"] == here:
            cpu = f"it ran on this machine's CPU type, {here}, so suspect the code first"
        else:
            cpu = (f"it ran on another CPU ({env['cpu']}; this one: {here}), whose floating-point "
                   "kernels alone change CPU training")
        message = (f"the record's seed-{training_seed} run differs from this build's run "
                   f"({figures}): either the training code changed since commit "
                   f"{env.get('commit', '?')} (the record is stale: re-record it) or this "
                   f"machine differs from the recording one ({env.get('cpu_cores', '?')} CPU "
                   f"cores, {env.get('accelerator', '?')}, TensorFlow {env.get('tensorflow', '?')}; "
                   f"{cpu})")
    return {"same": same, "recorded": recorded, "this_build": this_build, "message": message}


def seed_table(record: dict, metric: str = "accuracy"):
    """One row per entry of :func:`load_seed_record`: mode, model, number of training seeds,
    the mean, SD, min and max of the fold-mean ``metric`` over the seeds, and the fold interval
    of the first seed's run (the interval one run reports), for the chapters' tables."""
    import pandas as pd

    rows = []
    for name, e in record.items():
        sp, fi = e["spread"][metric], e["fold_interval"][metric]
        rows.append({"mode": e["mode"], "model": name, "seeds": sp["n_seeds"],
                     f"{metric}, mean over seeds": sp["mean"], "SD over seeds": sp["sd"],
                     "min": sp["min"], "max": sp["max"],
                     "fold 95% CI, first seed": f"{fi['ci_low']:.3f} to {fi['ci_high']:.3f}"})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------
# Training-seed noise of chapter 10's U-Nets: the same hold-out split, other training seeds
# ------------------------------------------------------------------------------------------
#: Where ``python -m utils.benchmark_segmentation --seeds N --record`` writes its full-mode
#: result, which chapter 10 reads (:func:`load_unet_seed_record`); a quick-mode run writes
#: ``unet_seed_repeats_quick.json`` beside it.  Labelled like :data:`SEED_RECORD`.
UNET_SEED_RECORD = config.repo_root() / "utils" / "recorded" / "unet_seed_repeats.json"
#: The held-out figures of a U-Net's seed repeat (:func:`utils.segmentation.heldout_dice`).
UNET_METRICS = ("mean_dice", "median_dice", "pooled_dice")
#: What two U-Net entries must share to be compared seed by seed (:func:`seed_difference`).
UNET_DESIGN = ("split_seed", "heldout_files")


def unet_seed_record_path(mode: str = "full"):
    """The U-Net seed record of a mode (a ``_quick`` file beside it for quick mode)."""
    return _mode_file(UNET_SEED_RECORD, mode)


def unet_seed_record_entry(name: str, table, environment: dict, heldout_files, n_train: int,
                           split_seed: int = 42, quick: bool | None = None) -> dict:
    """One U-Net's entry of the seed record: its recipe
    (:func:`utils.segmentation.unet_recipe`), the hold-out split (its seed, the held-out files,
    the number of training images), the per-seed table (``training_seed``,
    :data:`UNET_METRICS`, ``seconds``), the spread over seeds (:func:`seed_spread`) and the
    environment that produced it."""
    from .segmentation import unet_recipe

    return {"settings": unet_recipe(name, quick), "split_seed": split_seed,
            "heldout_files": [str(f) for f in heldout_files], "n_train": int(n_train),
            "per_seed": table.to_dict(orient="records"),
            "spread": seed_spread(table, UNET_METRICS), "environment": environment}


def record_unet_seed_repeats(entries: dict, path=None) -> "Path":
    """Merge ``{model: entry}`` (:func:`unet_seed_record_entry`, all of one mode) into the
    U-Net seed record of that mode and return its path."""
    return _merge_record(entries, path, "unet_seed_repeats",
                         "python -m utils.benchmark_segmentation --seeds N --models ... --record",
                         path_of=unet_seed_record_path)


def load_unet_seed_record(path=None, models=None, mode: str = "full",
                          heldout: dict | None = None) -> dict:
    """The U-Net seed record, checked like :func:`load_seed_record`: every entry (or those in
    ``models``, which must be present) carries its label and was produced with the recipe that
    :func:`utils.segmentation.unet_recipe` gives today for its mode; ``heldout``
    (``{model: held-out file names}``, optional) must also match the entry's split.  Raises
    ValueError otherwise, naming the command that re-records it.  Returns ``{model: entry}``
    with ``entry["label"]`` and ``entry["mode"]``."""
    from .segmentation import unet_recipe

    rerun = ("python -m utils.benchmark_segmentation --seeds 3 --record --models "
             if mode == "full" else
             "DLBI_MODE=quick python -m utils.benchmark_segmentation --seeds 3 --record --models ")
    return _checked_record(path or unet_seed_record_path(mode), models, mode,
                           "U-Net seed record", rerun, example="lung,scratch,pretrained",
                           settings_of=unet_recipe, settings_name="unet_recipe",
                           files=("heldout_files", heldout or {},
                                  "this hold-out split"))


def _spread_table(record: dict, this_build, metric: str, what: str, seeds_label: str):
    """One row per entry of a seed record: mode, ``what`` (the entry's name), its training
    seeds (column ``seeds_label``), the mean ± SD, min and max of ``metric`` over the seeds,
    and ``this_build[name]`` (this build's figure, where given)."""
    import pandas as pd

    rows = []
    for name, e in record.items():
        sp = e["spread"][metric]
        row = {"mode": e["mode"], what: name,
               seeds_label: ", ".join(str(int(r["training_seed"])) for r in e["per_seed"]),
               f"{metric}, mean ± SD over seeds": f"{sp['mean']:.3f} ± {sp['sd']:.3f}",
               "min": sp["min"], "max": sp["max"]}
        if this_build is not None:
            row[f"this build (seed {config.default_seed()})"] = this_build.get(name, float("nan"))
        rows.append(row)
    return pd.DataFrame(rows)


def unet_seed_table(record: dict, this_build: dict | None = None, metric: str = "mean_dice"):
    """One row per entry of :func:`load_unet_seed_record`: mode, model, training seeds, the
    mean ± SD, min and max of ``metric`` over the seeds, and ``this_build[model]`` (this
    build's seed-42 figure, where given), for chapter 10's table."""
    return _spread_table(record, this_build, metric, "model", "training seeds")


# ------------------------------------------------------------------------------------------
# Training-seed noise of chapter 12's shortcut probes: the lung U-Net over training seeds
# ------------------------------------------------------------------------------------------
#: Where ``python -m utils.benchmark_covid --seeds N --record`` writes its full-mode result,
#: which chapter 12 reads (:func:`load_probe_seed_record`); a quick-mode run writes
#: ``covid_probe_seeds_quick.json`` beside it.  Labelled like :data:`SEED_RECORD`.
PROBE_SEED_RECORD = config.repo_root() / "utils" / "recorded" / "covid_probe_seeds.json"
#: A probe's figures per training seed of the lung U-Net (:func:`utils.covid.probe_summary`).
PROBE_METRICS = ("accuracy", "balanced accuracy", "COVID vs rest", "normal vs pneumonia")
#: The probes of the record: the full image (no mask, so no lung U-Net) and the three variants.
PROBES = ("full_image", "lungs_only", "lungs_removed", "silhouette")
#: What two probe entries must share to be compared seed by seed (:func:`seed_difference`).
PROBE_DESIGN = ("split_seed", "image_files")


def probe_seed_settings(name: str, quick: bool | None = None) -> dict:
    """The settings a probe entry is checked against (``settings_of`` of
    :func:`_checked_record`): the lung U-Net's recipe (:func:`utils.segmentation.lung_recipe`)
    and chapter 12's settings (:func:`utils.covid.probe_settings`: image size, images per
    class, folds), the same for every probe ``name`` of :data:`PROBES`."""
    from .covid import probe_settings
    from .segmentation import lung_recipe

    if name not in PROBES:
        raise ValueError(f"unknown probe {name!r}; choose from {', '.join(PROBES)}")
    return {"lung_recipe": lung_recipe(quick), **probe_settings(quick)}


def probe_seed_record_path(mode: str = "full"):
    """The probe seed record of a mode (a ``_quick`` file beside it for quick mode)."""
    return _mode_file(PROBE_SEED_RECORD, mode)


def probe_seed_record_entry(name: str, table, environment: dict, image_files,
                            split_seed: int = 42, quick: bool | None = None) -> dict:
    """One probe's entry of the probe seed record: its settings (:func:`probe_seed_settings`),
    the lung U-Net's split seed, chapter 12's image files, the per-seed table
    (``training_seed`` of the lung U-Net, :data:`PROBE_METRICS`, the interval of that run,
    ...), the spread over seeds (:func:`seed_spread`) and the environment that produced it."""
    return {"settings": probe_seed_settings(name, quick), "split_seed": split_seed,
            "image_files": [str(f) for f in image_files],
            "per_seed": table.to_dict(orient="records"),
            "spread": seed_spread(table, PROBE_METRICS), "environment": environment}


def record_probe_seeds(entries: dict, path=None) -> "Path":
    """Merge ``{probe: entry}`` (:func:`probe_seed_record_entry`, all of one mode) into the
    probe seed record of that mode and return its path."""
    return _merge_record(entries, path, "covid_probe_seeds",
                         "python -m utils.benchmark_covid --seeds N --record",
                         path_of=probe_seed_record_path)


def load_probe_seed_record(path=None, models=PROBES, mode: str = "full",
                           image_files=None) -> dict:
    """The probe seed record, checked like :func:`load_seed_record`: every entry in ``models``
    (default all of :data:`PROBES`; each must be present) carries its label and was produced
    with the settings :func:`probe_seed_settings` gives today for its mode; ``image_files``
    (chapter 12's image files, optional) must equal the entry's.  Raises ValueError otherwise,
    naming the command that re-records it.  Returns ``{probe: entry}`` with ``entry["label"]``
    and ``entry["mode"]``."""
    rerun = ("python -m utils.benchmark_covid --seeds 3 --record" if mode == "full" else
             "DLBI_MODE=quick python -m utils.benchmark_covid --seeds 3 --record")
    return _checked_record(path or probe_seed_record_path(mode), models, mode,
                           "probe seed record", rerun + ", which records every probe, including ",
                           example=",".join(models or PROBES), settings_of=probe_seed_settings,
                           settings_name="probe_seed_settings",
                           files=None if image_files is None else
                           ("image_files", list(image_files), "chapter 12's"))


def probe_seed_table(record: dict, this_build: dict | None = None, metric: str = "accuracy"):
    """One row per entry of :func:`load_probe_seed_record`: probe, lung U-Net training seeds,
    the mean ± SD, min and max of ``metric`` over them, and ``this_build[probe]`` (this build's
    figure, where given), for chapter 12's table."""
    return _spread_table(record, this_build, metric, "probe", "lung U-Net seeds")
