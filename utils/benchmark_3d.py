"""The two 3-D experiments of the *Volumes* chapter, and their benchmark.

``python -m utils.benchmark_3d`` (``DLBI_MODE=quick`` for the short settings) trains both and
prints their figures and times:

* :func:`adrenal_experiment`: :func:`utils.volumes.cnn3d` on AdrenalMNIST3D's official split
  (train to fit, val to pick the epoch and the threshold, test scored once), and the same
  network in 2-D on the middle slice;
* :func:`hippocampus_experiment`: :func:`utils.volumes.unet3d` on the hippocampus volumes, a
  seeded held-out split by case, Dice per structure scored on each case's original grid.
"""
from __future__ import annotations

import time

import numpy as np

from . import config, datasets, metrics, splits, volumes

ADRENAL = {"quick": {"epochs": 1, "subset": 120}, "full": {"epochs": 15, "subset": None}}
HIPPO = {"quick": {"epochs": 1, "subset": 20, "shape": (32, 48, 32)},
         "full": {"epochs": 12, "subset": None, "shape": (32, 48, 32)}}
SEED = 42


def _settings(table: dict, overrides: dict) -> dict:
    out = dict(table[config.mode()])
    out.update({k: v for k, v in overrides.items() if v is not None})
    return out


def best_threshold(y, prob) -> float:
    """The threshold on ``prob`` with the highest balanced accuracy on (y, prob) (ties: the
    lowest); chosen on development data, then applied unchanged to the test set."""
    y, prob = np.asarray(y), np.asarray(prob, dtype=float)
    candidates = np.unique(prob)
    best, best_t = -1.0, 0.5
    for t in candidates:
        m = metrics.binary_metrics(y, prob, threshold=float(t))
        ba = (m["sensitivity"] + m["specificity"]) / 2
        if ba > best + 1e-12:
            best, best_t = ba, float(t)
    return best_t


def classification_report(y, prob, threshold: float, n_boot: int = 2000, seed: int = 0) -> dict:
    """AUC, balanced accuracy, sensitivity and specificity of ``prob`` at ``threshold``, with
    95 % intervals: percentile bootstrap for AUC and balanced accuracy, Wilson for sensitivity
    and specificity (one volume per case: the cases are the independent units)."""
    y, prob = np.asarray(y), np.asarray(prob, dtype=float)
    m = metrics.binary_metrics(y, prob, threshold=threshold)
    pred = (prob >= threshold).astype(int)

    def bal(t, p):
        tp, tn = np.sum((t == 1) & (p == 1)), np.sum((t == 0) & (p == 0))
        return 0.5 * (tp / max(np.sum(t == 1), 1) + tn / max(np.sum(t == 0), 1))

    pos, neg = int(np.sum(y == 1)), int(np.sum(y == 0))
    out = {"auc": metrics.auc_by_pairs(y, prob),
           "auc_ci": metrics.bootstrap_ci(y, prob, metric=metrics.auc_by_pairs, n_boot=n_boot,
                                          seed=seed),
           "balanced_accuracy": float(bal(y, pred)),
           "balanced_accuracy_ci": metrics.bootstrap_ci(y, pred, metric=bal, n_boot=n_boot,
                                                        seed=seed),
           "sensitivity": m["sensitivity"],
           "sensitivity_ci": metrics.wilson_ci(m["tp"], m["tp"] + m["fn"]),
           "specificity": m["specificity"],
           "specificity_ci": metrics.wilson_ci(m["tn"], m["tn"] + m["fp"]),
           "threshold": float(threshold), "n": len(y), "positives": pos}
    return out


def _train_classifier(model, X, y, Xval, yval, epochs: int, seed: int, flip_axes):
    """Fit one epoch at a time on randomly flipped copies; keep the weights of the epoch with
    the best validation AUC.  Returns the history (one dict per epoch)."""
    from tensorflow import keras

    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
    best, best_weights, history = -1.0, None, []
    for epoch in range(epochs):
        xa = volumes.random_flips(X, axes=flip_axes, seed=seed + epoch)
        h = model.fit(xa, y, batch_size=32, epochs=1, verbose=0, shuffle=True)
        val_auc = metrics.auc_by_pairs(yval, model.predict(Xval, verbose=0).ravel())
        history.append({"epoch": epoch + 1, "loss": float(h.history["loss"][-1]),
                        "val_auc": float(val_auc)})
        if val_auc > best:
            best, best_weights = val_auc, model.get_weights()
    model.set_weights(best_weights)
    return history


def adrenal_experiment(epochs: int | None = None, subset: int | None = None, seed: int = SEED,
                       two_d: bool = True, verbose: bool = True) -> dict:
    """The 3-D CNN (and, with ``two_d``, the 2-D middle-slice baseline) on AdrenalMNIST3D.

    ``subset`` keeps the first N training volumes (quick mode).  The epoch with the best
    validation AUC is kept and the threshold maximising validation balanced accuracy is used;
    the test set is predicted once.  Returns ``{"3d": {...}, "2d": {...}}``, each with the
    report (:func:`classification_report`), ``prob`` (test), ``history``, ``seconds``,
    ``params``.
    """
    s = _settings(ADRENAL, {"epochs": epochs, "subset": subset})
    split = datasets.load_adrenal3d(28)
    (X, y), (Xv, yv), (Xt, yt) = (split[k] for k in datasets.ADRENAL_SPLITS)
    if s["subset"]:
        X, y = X[:s["subset"]], y[:s["subset"]]
    to01 = lambda a: (a.astype(np.float32) / 255.0)[..., None]  # noqa: E731
    X, Xv, Xt = to01(X), to01(Xv), to01(Xt)
    out = {}
    variants = [("3d", lambda a: a, (1, 2, 3))]
    if two_d:
        mid = X.shape[1] // 2
        variants.append(("2d", lambda a: a[:, mid], (1, 2)))
    for name, view, flip_axes in variants:
        config.seed_everything(seed)
        model = volumes.cnn3d(view(X).shape[1:], name=f"cnn_{name}")
        start = time.perf_counter()
        history = _train_classifier(model, view(X), y, view(Xv), yv, s["epochs"], seed, flip_axes)
        seconds = time.perf_counter() - start
        threshold = best_threshold(yv, model.predict(view(Xv), verbose=0).ravel())
        prob = model.predict(view(Xt), verbose=0).ravel()
        out[name] = {**classification_report(yt, prob, threshold), "prob": prob,
                     "history": history, "seconds": seconds, "params": model.count_params(),
                     "epochs": s["epochs"]}
        if verbose:
            r = out[name]
            print(f"adrenal {name}: test AUC {r['auc']:.3f} [{r['auc_ci'][0]:.3f}, "
                  f"{r['auc_ci'][1]:.3f}], balanced accuracy {r['balanced_accuracy']:.3f}, "
                  f"{seconds:.0f} s", flush=True)
    out["y_test"] = yt
    return out


def hippocampus_arrays(vs, shape):
    """Normalised (per volume), padded/cropped images (N, *shape, 1) and labels (N, *shape)
    of a :class:`utils.datasets.VolumeSet`, with the boxes to restore them."""
    X, Y, boxes = [], [], []
    for img, lab in zip(vs.images, vs.labels):
        x, box = volumes.pad_or_crop(volumes.normalise(img), shape)
        X.append(x)
        Y.append(volumes.pad_or_crop(lab, shape)[0])
        boxes.append(box)
    return np.stack(X)[..., None], np.stack(Y), boxes


def hippocampus_split(cases, test_size: float = 0.2, seed: int = SEED):
    """Seeded held-out split by case (one volume per case and no subject ids: the case is the
    group): ``(train_idx, test_idx)``."""
    cases = np.asarray(cases)
    return splits.grouped_holdout(np.zeros(len(cases), int), cases, test_size=test_size,
                                  seed=seed)


def train_unet3d(X, Y, epochs: int, seed: int = SEED, base_filters: int = 8, batch_size: int = 4,
                 flip_axes=(1,)):
    """A :func:`utils.volumes.unet3d` fitted on (X, Y) with Dice + cross-entropy, random flips
    along ``flip_axes`` each epoch (axis 1 is left-right in these volumes), a fixed number of
    epochs (nothing chosen on the test cases).  Returns ``(model, seconds)``."""
    from tensorflow import keras

    config.seed_everything(seed)
    model = volumes.unet3d(X.shape[1:], n_classes=3, base_filters=base_filters)
    model.compile(keras.optimizers.Adam(2e-3), volumes.dice_ce_loss(3))
    start = time.perf_counter()
    for epoch in range(epochs):
        xa, ya = volumes.random_flips(X, Y, axes=flip_axes, seed=seed + epoch)
        model.fit(xa, ya, batch_size=batch_size, epochs=1, verbose=0, shuffle=True)
    return model, time.perf_counter() - start


def hippocampus_experiment(epochs: int | None = None, subset: int | None = None,
                           seed: int = SEED, verbose: bool = True) -> dict:
    """The 3-D U-Net on the hippocampus volumes: split by case (seeded), train, predict the
    held-out cases, put each prediction back on its original grid and score Dice per
    structure.  Returns the per-case table (``dice``), the mean Dice with a t-interval over
    cases per structure and overall, the predictions (original grids), the split, seconds."""
    s = _settings(HIPPO, {"epochs": epochs, "subset": subset})
    vs = datasets.load_hippocampus()
    if s["subset"]:
        keep = np.arange(s["subset"])
        vs = datasets.VolumeSet(*[[v[i] for i in keep] for v in
                                  (vs.images, vs.labels, vs.cases, vs.stored_dtypes, vs.spacing)])
    X, Y, boxes = hippocampus_arrays(vs, s["shape"])
    train, test = hippocampus_split(vs.cases, seed=seed)
    model, seconds = train_unet3d(X[train], Y[train], s["epochs"], seed)
    probs = model.predict(X[test], batch_size=4, verbose=0)
    preds = [volumes.restore(p.argmax(-1).astype(np.uint8), boxes[i])
             for p, i in zip(probs, test)]
    truths = [vs.labels[i] for i in test]
    dice = volumes.dice_per_structure(truths, preds, cases=[vs.cases[i] for i in test])
    out = {"dice": dice, "preds": preds, "train": train, "test": test, "seconds": seconds,
           "params": model.count_params(), "epochs": s["epochs"], "shape": s["shape"],
           "volumes": vs, "model": model}
    for col in ("anterior", "posterior", "mean"):
        out[col] = float(dice[col].mean())
        out[f"{col}_ci"] = tuple(metrics.bounded_t_interval(dice[col])[k]
                                 for k in ("ci_low", "ci_high"))
    if verbose:
        print(f"hippocampus: mean Dice {out['mean']:.3f} [{out['mean_ci'][0]:.3f}, "
              f"{out['mean_ci'][1]:.3f}] on {len(test)} held-out cases, {seconds:.0f} s",
              flush=True)
    return out


def main() -> None:
    config.configure_tensorflow()
    start = time.perf_counter()
    a = adrenal_experiment()
    h = hippocampus_experiment()
    print(f"\nmode {config.mode()}")
    for name in ("3d", "2d"):
        r = a[name]
        print(f"AdrenalMNIST3D {name.upper()} CNN ({r['epochs']} epochs, {r['params']} "
              f"parameters): AUC {r['auc']:.3f} [{r['auc_ci'][0]:.3f}, {r['auc_ci'][1]:.3f}], "
              f"balanced accuracy {r['balanced_accuracy']:.3f}, sensitivity "
              f"{r['sensitivity']:.3f}, specificity {r['specificity']:.3f}; {r['seconds']:.0f} s")
    print(f"Hippocampus 3-D U-Net ({h['epochs']} epochs, {h['params']} parameters, "
          f"{len(h['test'])} held-out cases): Dice anterior {h['anterior']:.3f} "
          f"[{h['anterior_ci'][0]:.3f}, {h['anterior_ci'][1]:.3f}], posterior "
          f"{h['posterior']:.3f} [{h['posterior_ci'][0]:.3f}, {h['posterior_ci'][1]:.3f}], mean "
          f"{h['mean']:.3f}; {h['seconds']:.0f} s")
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
