"""Measuring a dataset shift: what differs between two collections of images, and where a
model's errors fall.

Descriptive statistics of the inputs (:func:`head_fill`, :func:`input_stats`,
:func:`intensity_histogram`, measured inside the head of :func:`utils.preprocessing.head_mask`),
error rates per category with grouped intervals (:func:`size_bins`, :func:`error_rates`), and
the closest pairs between two collections by perceptual hash, whatever the orientation
(:func:`nearest_pairs`).  Chapters 00 (the external brain MRI sets) and 13 ("Why it drops")
use them.  The domain probe of chapter 13 reuses :func:`utils.covid.probe` (a grouped
logistic-regression probe), which lives one layer up.
"""
from __future__ import annotations

import numpy as np

from . import dedup
from .metrics import cluster_bootstrap_mean
from .preprocessing import HEAD_THRESHOLD, _gray, head_mask

#: Long-side edges (pixels of the original image) of :func:`size_bins`; fixed in advance, not
#: chosen on any result.
SIZE_EDGES = (0, 255, 511, 512, np.inf)


def head_fill(images, threshold: float = HEAD_THRESHOLD) -> np.ndarray:
    """Share of each image's frame that the head fills (:func:`utils.preprocessing.head_mask`),
    one value per image of ``images`` (N, H, W) or (N, H, W, C)."""
    return np.array([head_mask(im, threshold).mean() for im in images], dtype=float)


def image_sizes(paths):
    """``(width, height)`` in pixels of each image file (read from the header, not decoded)."""
    from PIL import Image

    sizes = []
    for p in paths:
        with Image.open(p) as im:
            sizes.append(im.size)
    w, h = (np.array(v, dtype=int) for v in zip(*sizes)) if sizes else (np.zeros(0, int),) * 2
    return w, h


def input_stats(images, width=None, height=None, threshold: float = HEAD_THRESHOLD):
    """Per image, statistics that involve no label and no model: original ``width``, ``height``
    and long side (when given), ``head_fill``, mean and SD of the intensity inside the head,
    mean of the background (outside the head).  ``images`` in [0, 1], (N, H, W[, C])."""
    import pandas as pd

    rows = []
    for im in images:
        g = _gray(im)
        m = head_mask(g, threshold)
        inside = g[m] if m.any() else g.ravel()
        outside = g[~m] if (~m).any() else np.zeros(1)
        rows.append({"head_fill": float(m.mean()), "head_mean": float(inside.mean()),
                     "head_sd": float(inside.std()), "background_mean": float(outside.mean())})
    df = pd.DataFrame(rows)
    if width is not None and height is not None:
        w, h = np.asarray(width, float), np.asarray(height, float)
        if not len(w) == len(h) == len(df):
            raise ValueError(f"{len(df)} images but {len(w)} widths and {len(h)} heights")
        df.insert(0, "long_side", np.maximum(w, h))
        df.insert(0, "height", h)
        df.insert(0, "width", w)
    return df


def intensity_histogram(images, bins: int = 32, inside_head: bool = True,
                        threshold: float = HEAD_THRESHOLD):
    """Pooled intensity histogram of ``images`` in [0, 1] as a density over ``bins`` equal bins:
    ``(edges, density)``, density summing to 1.  With ``inside_head`` only the pixels of each
    image's :func:`head_mask` count (the background would dominate otherwise)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    counts = np.zeros(bins)
    for im in images:
        g = _gray(im)
        values = g[head_mask(g, threshold)] if inside_head else g.ravel()
        counts += np.histogram(np.clip(values, 0, 1), edges)[0]
    total = counts.sum()
    return edges, (counts / total if total else counts)


def size_bins(width, height, edges=SIZE_EDGES):
    """Label of each image's long side ``max(width, height)`` in pixels by ``edges``:
    e.g. ``"<=255"``, ``"256-511"``, ``"512"``, ``">512"`` for the default edges."""
    import pandas as pd

    long_side = np.maximum(np.asarray(width, float), np.asarray(height, float))
    labels = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        if lo == 0:
            labels.append(f"<={int(hi)}")
        elif np.isinf(hi):
            labels.append(f">{int(lo)}")
        elif hi - lo == 1:
            labels.append(f"{int(hi)}")
        else:
            labels.append(f"{int(lo) + 1}-{int(hi)}")
    return pd.cut(long_side, list(edges), labels=labels, right=True).astype(str)


def error_rates(y, prob, keys, groups, threshold: float = 0.5, n_boot: int = 1000,
                seed: int = 0, confidence: float = 0.95):
    """Where the errors fall: per value of ``keys`` (one category per image, e.g. the tumour
    type or the view), the images, the errors at ``threshold`` and the error rate with a cluster
    bootstrap interval that resamples ``groups`` (:func:`utils.metrics.cluster_bootstrap_mean`).
    For a category of tumours the error rate is 1 - sensitivity, of healthy images
    1 - specificity.  A DataFrame indexed by category (sorted), columns ``images``, ``groups``,
    ``errors``, ``error_rate``, ``ci_low``, ``ci_high``."""
    import pandas as pd

    y = np.asarray(y).astype(int)
    wrong = ((np.asarray(prob, float) >= threshold).astype(int) != y).astype(float)
    keys, groups = np.asarray(keys).astype(str), np.asarray(groups)
    if not len(y) == len(wrong) == len(keys) == len(groups):
        raise ValueError("y, prob, keys and groups must have one entry per image")
    rows = {}
    for key in sorted(set(keys)):
        m = keys == key
        e = wrong[m]
        _, lo, hi = cluster_bootstrap_mean(e, groups[m], n_boot=n_boot, seed=seed,
                                           confidence=confidence)
        rows[key] = {"images": int(m.sum()), "groups": int(len(set(groups[m]))),
                     "errors": int(e.sum()), "error_rate": float(e.mean()),
                     "ci_low": lo, "ci_high": hi}
    return pd.DataFrame.from_dict(rows, orient="index")


def _orientations(image):
    img = np.asarray(image)
    for k in range(4):
        r = np.rot90(img, k)
        yield r
        yield r[:, ::-1]


def nearest_pairs(images_a, images_b, k: int = 5, hash_size: int = 16):
    """The ``k`` closest pairs (one image of ``images_a``, one of ``images_b``) by the Hamming
    distance of their difference hashes (:func:`utils.dedup.dhash`, ``hash_size**2`` bits), the
    distance taken as the minimum over the 8 orientations (rotations and mirrors) of the second
    image.  Images are uint8 grayscale arrays (any sizes).  A DataFrame sorted by distance:
    ``a``, ``b`` (indices), ``distance``, ``orientation`` (0-7), and ``bits``."""
    import pandas as pd

    ha = np.array([dedup.dhash(im, hash_size) for im in images_a], dtype=np.int16)
    best = np.full((len(ha), len(images_b)), hash_size ** 2 + 1, dtype=int)
    which = np.zeros_like(best)
    for j, im in enumerate(images_b):
        for o, view in enumerate(_orientations(im)):
            h = dedup.dhash(np.ascontiguousarray(view), hash_size).astype(np.int16)
            d = (ha != h[None, :]).sum(1)
            better = d < best[:, j]
            best[better, j], which[better, j] = d[better], o
    order = np.argsort(best, axis=None, kind="stable")[:k]
    a, b = np.unravel_index(order, best.shape)
    return pd.DataFrame({"a": a, "b": b, "distance": best[a, b], "orientation": which[a, b],
                         "bits": hash_size ** 2})


def collection_stats(collections: dict):
    """:func:`input_stats` of several collections in one table with a ``collection`` column.
    ``collections``: ``{name: (images, width, height)}`` (images in [0, 1]; original sizes in
    pixels), in the order they should be shown."""
    import pandas as pd

    parts = [input_stats(X, w, h).assign(collection=name)
             for name, (X, w, h) in collections.items()]
    return pd.concat(parts, ignore_index=True)


def collection_summary(stats):
    """Per collection of :func:`collection_stats` (in its order): images, distinct original
    sizes, and the medians of the long side, head fill and intensity inside the head."""
    order = list(dict.fromkeys(stats["collection"]))
    size = stats["width"].astype(int).astype(str) + "x" + stats["height"].astype(int).astype(str)
    by = stats.assign(size=size).groupby("collection")
    out = by[["long_side", "head_fill", "head_mean", "head_sd"]].median().loc[order]
    out.insert(0, "distinct sizes", by["size"].nunique().loc[order])
    out.insert(0, "images", by.size().loc[order])
    return out


def plot_inputs(stats, images: dict, axes=None, bins: int = 32):
    """Three panels side by side, one line per collection: the original long side (log2
    pixels), the head fill, and the intensity histogram inside the head
    (:func:`intensity_histogram` of ``images[name]``).  Returns the axes."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    for name in dict.fromkeys(stats["collection"]):
        s = stats[stats["collection"] == name]
        axes[0].hist(np.log2(s["long_side"]), bins=np.arange(6.5, 12, 0.25), histtype="step",
                     label=name)
        axes[1].hist(s["head_fill"], bins=np.linspace(0, 1, 26), histtype="step", density=True,
                     label=name)
        edges, dens = intensity_histogram(images[name], bins=bins)
        axes[2].plot((edges[:-1] + edges[1:]) / 2, dens, label=name)
    for ax, title, xl, yl in zip(axes, ("image size", "head fill", "intensity inside the head"),
                                 ("log2 long side (pixels)", "share of the frame the head fills",
                                  "intensity (0-1)"), ("images", "density", "share of pixels")):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
    axes[1].legend(fontsize=7)
    return axes
