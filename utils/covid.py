"""COVID-19 chest X-ray classification and its shortcut audit (chapter 12).

* :func:`load_images` - the 405 X-rays as cached arrays (COVID adult, normal and viral
  pneumonia paediatric), with patients as groups;
* :func:`lite0_features` - frozen EfficientNet-Lite0 ImageNet features (global average pool),
  cached on disk so that probes on many image variants stay cheap;
* :func:`probe_settings` - the chapter's image size, images per class and folds by mode;
* :func:`probe` - a logistic-regression head evaluated by grouped (patient) cross-validation,
  giving out-of-fold predictions for every image; :func:`probe_summary` its figures (accuracy
  with a patient bootstrap interval, balanced accuracy, COVID-19 or not, normal vs pneumonia);
* :func:`variant_probes` - the probe on each :func:`lung_variants` image set, with the lung
  U-Net's training seed in the feature cache's name;
* :func:`per_class_table` - per-class metrics with Wilson intervals (the confusion matrix is
  :func:`utils.metrics.plot_confusion`);
* :func:`source_features` - image size, aspect, format and border statistics: no anatomy;
* :func:`lung_variants` - lungs only / lungs masked out / the mask silhouette alone;
* :func:`head_model` - backbone + head as one Keras model, for :func:`utils.viz.grad_cam`
  (and :func:`utils.viz.cam_share_inside`: how much of the map falls on the lungs).

The images go into the backbone through :func:`utils.transfer.preprocess`.
"""
from __future__ import annotations

import hashlib
import time

import numpy as np

CLASSES = ("covid", "normal", "viral_pneumonia")
#: The three lung-mask variants (:func:`lung_variants`) and their names in chapter 12's tables.
VARIANTS = {"lungs_only": "lungs only", "lungs_removed": "lungs removed",
            "silhouette": "lung silhouette only"}


def probe_settings(quick: bool | None = None) -> dict:
    """Chapter 12's settings: image ``size`` (the backbone's native 224 px in full mode),
    ``per_class`` (images per class; None: all) and ``folds`` of the grouped cross-validation.
    ``quick`` None: the current mode; True/False: that mode (to check a recorded result)."""
    from .config import is_quick

    quick = is_quick() if quick is None else bool(quick)
    return {"size": 128, "per_class": 12, "folds": 3} if quick else \
        {"size": 224, "per_class": None, "folds": 5}


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------
def load_images(size: int = 224, subset_per_class: int | None = None, seed: int = 42):
    """All chest X-rays of the three classes at ``size`` x ``size`` grayscale in [0, 1].

    Returns ``(X, y, groups, table)``; ``groups`` are patients.  ``subset_per_class`` keeps a
    random subset (quick mode).  The decoded arrays are cached (see
    :func:`utils.data.array_cache`).
    """
    from . import datasets
    from .data import read_image
    from .data import array_cache

    table = datasets.chest_xray_table()
    table = table[table["cls"].isin(CLASSES)].reset_index(drop=True)
    if subset_per_class is not None:
        rng = np.random.default_rng(seed)
        keep = [i for c in CLASSES
                for i in rng.permutation(np.flatnonzero(table["cls"] == c))[:subset_per_class]]
        table = table.iloc[np.sort(keep)].reset_index(drop=True)
    key = f"v1|{size}|" + "|".join(table["sha256"])

    def build():
        return {"X": np.stack([read_image(p, mode="L", size=size) for p in table["path"]])}

    X = array_cache(f"chest-{size}", key, build)["X"].astype(np.float32)[..., None] / 255.0
    y = table["cls"].map({c: i for i, c in enumerate(CLASSES)}).to_numpy()
    return X, y, table["group"].to_numpy(), table


def resize(images, size: int, method: str = "bilinear") -> np.ndarray:
    """Resize a batch (N, H, W, C) with TensorFlow (antialiased when shrinking)."""
    import tensorflow as tf

    out = tf.image.resize(images, (size, size), method=method, antialias=method != "nearest")
    return out.numpy().astype(np.float32)


# --------------------------------------------------------------------------------------------
# Frozen backbone features
# --------------------------------------------------------------------------------------------
_BACKBONES: dict = {}


def backbone(size: int = 224, pooling: str | None = "avg"):
    """The ImageNet EfficientNet-Lite0 without its classifier
    (:func:`utils.transfer.lite0_backbone`), built once per size and pooling and kept."""
    from .transfer import lite0_backbone

    key = (size, pooling)
    if key not in _BACKBONES:
        _BACKBONES[key] = lite0_backbone(size, pooling=pooling)
    return _BACKBONES[key]


def lite0_features(images, name: str = "", batch_size: int = 32, cache: bool = True):
    """1280 global-average-pooled Lite0 features per image; cached by the images' bytes.

    The cache key is a hash of the array, so a changed image (another mask, another size)
    can never reuse stale features.  Returns ``(features, seconds)``; seconds is 0 when the
    features came from the cache.
    """
    from .data import cache_dir
    from .transfer import preprocess

    x = np.ascontiguousarray(np.asarray(images, dtype=np.float32))
    digest = hashlib.sha256(x.tobytes() + str(x.shape).encode()).hexdigest()[:20]
    path = cache_dir() / "features" / f"lite0-{name or 'x'}-{digest}.npy"
    if cache and path.is_file():
        return np.load(path), 0.0
    start = time.perf_counter()
    model = backbone(x.shape[1], "avg")
    feats = model.predict(preprocess(x), batch_size=batch_size, verbose=0)
    seconds = time.perf_counter() - start
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part.npy")
        np.save(tmp, feats)
        tmp.replace(path)
    return feats, seconds


# --------------------------------------------------------------------------------------------
# Probes (logistic regression on features, grouped cross-validation)
# --------------------------------------------------------------------------------------------
def linear_head(C: float = 0.1):
    """Standardise, then multinomial L2 logistic regression: the trainable 'head'."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=3000))


def probe(features, y, groups, n_splits: int = 5, seed: int = 42, make_model=None) -> dict:
    """Out-of-fold predictions of a fresh head per grouped, stratified fold.

    Every image is predicted once, by a model that never saw its patient.  Returns
    ``{"proba", "pred", "accuracy", "balanced_accuracy", "fold_accuracy"}``.
    """
    from sklearn.metrics import balanced_accuracy_score

    from . import splits

    make_model = make_model or linear_head
    F, y = np.asarray(features), np.asarray(y)
    n_classes = int(y.max()) + 1
    proba = np.zeros((len(y), n_classes))
    fold_acc = []
    for tr, te in splits.grouped_kfold(y, groups, n_splits=n_splits, seed=seed):
        splits.check_split(tr, te, groups)
        model = make_model().fit(F[tr], y[tr])
        p = np.zeros((len(te), n_classes))
        p[:, model.classes_] = model.predict_proba(F[te])
        proba[te] = p
        fold_acc.append(float(np.mean(p.argmax(1) == y[te])))
    pred = proba.argmax(1)
    return {"proba": proba, "pred": pred, "accuracy": float(np.mean(pred == y)),
            "balanced_accuracy": float(balanced_accuracy_score(y, pred)),
            "fold_accuracy": fold_acc}


def covid_or_not(y, pred) -> float:
    """Accuracy of the question "COVID-19 or not" read off 3-class labels and predictions."""
    y, pred = np.asarray(y), np.asarray(pred)
    return float(np.mean((pred == 0) == (y == 0)))


def probe_summary(res, y, groups) -> dict:
    """The figures of one :func:`probe` result ``res`` in chapter 12's audit table: 3-class
    ``accuracy`` with its 95 % interval (``95% CI low``/``high``, a cluster bootstrap over the
    patients ``groups``, :func:`utils.metrics.cluster_bootstrap_ci`), ``balanced accuracy``,
    ``COVID vs rest`` (:func:`covid_or_not`) and ``normal vs pneumonia`` (the accuracy on the
    images that are not COVID-19, from the same 3-class predictions)."""
    from .metrics import cluster_bootstrap_ci

    y, pred = np.asarray(y), np.asarray(res["pred"])
    lo, hi = cluster_bootstrap_ci(y, pred, groups)   # patients resampled
    rest = y != 0
    return {"accuracy": float(np.mean(pred == y)), "95% CI low": float(lo),
            "95% CI high": float(hi), "balanced accuracy": float(res["balanced_accuracy"]),
            "COVID vs rest": covid_or_not(y, pred),
            "normal vs pneumonia": float(np.mean(pred[rest] == y[rest]))}


def per_class_table(y, pred, classes=CLASSES, confidence: float = 0.95, groups=None,
                    n_boot: int = 2000, seed: int = 0):
    """Per class: images, recall (sensitivity) and precision, each with a 95 % interval, and F1;
    plus overall accuracy as a last row.

    With ``groups`` (the patients) every interval is a cluster bootstrap that resamples
    patients (:func:`utils.metrics.cluster_bootstrap_ci`): several X-rays of one patient are not
    independent trials.  Without it the intervals are Wilson intervals, which assume that every
    image is an independent trial.
    """
    import pandas as pd

    from .metrics import cluster_bootstrap_ci, wilson_ci

    y, pred = np.asarray(y), np.asarray(pred)

    def interval(k, n, metric):
        if not n:
            return (np.nan, np.nan)
        if groups is None:
            return wilson_ci(k, n, confidence)
        return cluster_bootstrap_ci(y, pred, groups, metric=metric, n_boot=n_boot,
                                    confidence=confidence, seed=seed)

    def share(mask_of, hit_of):   # a ratio that raises when its denominator is 0 (skipped)
        def metric(t, p):
            m = mask_of(t, p)
            return np.sum(hit_of(t, p) & m) / np.sum(m) if np.sum(m) else 1 / 0
        return metric

    rows = []
    for c, name in enumerate(classes):
        tp = int(np.sum((y == c) & (pred == c)))
        n_true, n_pred = int(np.sum(y == c)), int(np.sum(pred == c))
        rec = tp / n_true if n_true else float("nan")
        prec = tp / n_pred if n_pred else float("nan")
        hit = lambda t, p, c=c: (t == c) & (p == c)  # noqa: E731
        rlo, rhi = interval(tp, n_true, share(lambda t, p, c=c: t == c, hit))
        plo, phi = interval(tp, n_pred, share(lambda t, p, c=c: p == c, hit))
        f1 = 2 * tp / (n_true + n_pred) if n_true + n_pred else float("nan")
        rows.append({"class": name, "images": n_true, "recall": rec,
                     "recall 95% CI": f"{rlo:.2f}-{rhi:.2f}", "precision": prec,
                     "precision 95% CI": f"{plo:.2f}-{phi:.2f}", "F1": f1})
    k = int(np.sum(y == pred))
    lo, hi = interval(k, len(y), None)
    rows.append({"class": "all (accuracy)", "images": len(y), "recall": k / len(y),
                 "recall 95% CI": f"{lo:.2f}-{hi:.2f}", "precision": np.nan,
                 "precision 95% CI": "", "F1": np.nan})
    return pd.DataFrame(rows).set_index("class").round(3)


# --------------------------------------------------------------------------------------------
# Source features: everything but the anatomy
# --------------------------------------------------------------------------------------------
def source_features(table, images):
    """Per image: original width, height, aspect ratio, pixel count, PNG/JPEG, colour mode,
    file bytes per pixel, and intensity statistics of the border (outer 8 %) and of the whole
    resized image.  None of these describe the lungs; if they separate the classes, the
    classes differ in *where the images come from*.
    """
    import pandas as pd

    X = np.asarray(images)[..., 0]
    n, h, w = X.shape
    b = max(1, int(round(0.08 * h)))
    border = np.concatenate([X[:, :b].reshape(n, -1), X[:, -b:].reshape(n, -1),
                             X[:, :, :b].reshape(n, -1), X[:, :, -b:].reshape(n, -1)], axis=1)
    width = table["width"].astype(float).to_numpy()
    height = table["height"].astype(float).to_numpy()
    return pd.DataFrame({
        "log_width": np.log(width), "log_height": np.log(height),
        "aspect": width / height,
        "is_png": table["file"].str.lower().str.endswith(".png").astype(float).to_numpy(),
        "is_rgb": (table["mode"] != "L").astype(float).to_numpy(),
        "bytes_per_pixel": table["bytes"].astype(float).to_numpy() / (width * height),
        "border_mean": border.mean(1), "border_std": border.std(1),
        "border_black": (border < 0.02).mean(1),
        "image_mean": X.reshape(n, -1).mean(1), "image_std": X.reshape(n, -1).std(1),
    })


# --------------------------------------------------------------------------------------------
# Lung masks and image variants
# --------------------------------------------------------------------------------------------
def predict_lungs(model, images, threshold: float = 0.5, batch_size: int = 32):
    """Lung masks (N, H, W, 1) for images of any size: resized to the U-Net's input, predicted,
    and the probabilities resized back (bilinear) before thresholding."""
    size = model.input_shape[1]
    small = resize(images, size) if images.shape[1] != size else images
    probs = model.predict(small, batch_size=batch_size, verbose=0)
    if images.shape[1] != size:
        probs = resize(probs, images.shape[1])
    return (probs >= threshold).astype(np.float32)


def lung_variants(images, masks, fill: float = 0.0) -> dict:
    """Three views of each image: ``lungs_only`` (everything else set to ``fill``),
    ``lungs_removed`` (the lungs set to ``fill``) and ``silhouette`` (the mask itself, no
    pixel of the image)."""
    images = np.asarray(images, dtype=np.float32)
    m = np.asarray(masks, dtype=np.float32)
    return {"lungs_only": images * m + fill * (1 - m),
            "lungs_removed": images * (1 - m) + fill * m,
            "silhouette": m.copy()}


def variant_probes(variants: dict, y, groups, n_splits: int, unet_seed: int) -> dict:
    """:func:`probe` on the Lite0 features (:func:`lite0_features`) of each image set of
    ``variants`` (:func:`lung_variants`), whose masks came from the lung U-Net trained with
    seed ``unet_seed``: the seed is part of each feature cache's name (``lungs_only-unet42``),
    so two seeds' masks never share a cache entry by name (the key hashes the images anyway).
    Returns ``{variant: probe result}``, each with ``feature_seconds`` added (0: cached)."""
    out = {}
    for key, images in variants.items():
        feats, seconds = lite0_features(images, f"{key}-unet{int(unet_seed)}")
        out[key] = {**probe(feats, y, groups, n_splits=n_splits), "feature_seconds": seconds}
    return out


# --------------------------------------------------------------------------------------------
# The classifier as one Keras model (for Grad-CAM)
# --------------------------------------------------------------------------------------------
def head_model(fitted_head, size: int = 224):
    """The evaluated classifier as one Keras model: the Lite0 feature map -> global average
    pool -> Dense softmax, with the Dense weights copied from a fitted :func:`linear_head` (the
    scaler folded into the weights).

    The model computes exactly the probabilities of ``fitted_head`` on the pooled features, so
    that :func:`utils.viz.grad_cam` explains the classifier that was evaluated.  Its input is an
    image as the backbone takes it (:func:`utils.transfer.preprocess`).
    """
    import keras
    from keras import layers

    scaler, lr = fitted_head[0], fitted_head[-1]
    W = lr.coef_ / scaler.scale_[None, :]                   # (classes, 1280)
    b = lr.intercept_ - W @ scaler.mean_
    base = backbone(size, None)
    pooled = layers.GlobalAveragePooling2D(name="head_gap")(base.output)
    dense = layers.Dense(W.shape[0], activation="softmax", name="head")
    probs = dense(pooled)
    dense.set_weights([W.T.astype(np.float32), b.astype(np.float32)])
    return keras.Model(base.input, probs, name="lite0_head")
