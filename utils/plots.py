"""Plotting and table-display helpers shared by the chapters (matplotlib + seaborn).

They draw arrays and tables they are given and read no files: showing the images of a data set
is the data layer's business (e.g. :func:`utils.dedup.group_rows`).
"""
from __future__ import annotations

import numpy as np


def set_style() -> None:
    """Book-wide plot defaults: readable fonts, no top/right spines, compact figures."""
    import matplotlib as mpl

    mpl.rcParams.update({
        "figure.figsize": (7, 4), "figure.dpi": 100, "savefig.dpi": 100,
        "axes.spines.top": False, "axes.spines.right": False,
        "axes.titlesize": 11, "axes.labelsize": 10, "image.cmap": "gray",
    })


def image_grid(images, titles=None, ncols: int = 6, size: float = 2.0, suptitle: str | None = None,
               cmap: str = "gray"):
    """Show images in a grid; returns the figure.  Images may differ in size and channels."""
    import matplotlib.pyplot as plt

    images = list(images)
    titles = None if titles is None else list(titles)
    n = max(1, len(images))
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    # room for each row's titles (8 pt lines), so multi-line titles do not run into the row above
    title_lines = max((str(t).count("\n") + 1 for t in titles), default=0) if titles else 0
    row_height = size + 0.16 * title_lines
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, row_height * nrows + 0.4 * bool(suptitle)),
                             squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if k < len(images):
            img = np.asarray(images[k])
            if img.ndim == 3 and img.shape[-1] == 1:
                img = img[..., 0]
            ax.imshow(img, cmap=cmap if img.ndim == 2 else None)
            if titles is not None:
                ax.set_title(str(titles[k]), fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def overlay(image, mask, color=(1.0, 0.2, 0.2), alpha: float = 0.4):
    """RGB float image with ``mask`` (bool or 0/1) painted over a grayscale ``image``."""
    img = np.asarray(image, dtype=np.float32)
    if img.max() > 1.0:
        img = img / 255.0
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    rgb = np.stack([img] * 3, -1) if img.ndim == 2 else img.copy()
    m = np.asarray(mask).astype(bool)
    if m.ndim == 3:
        m = m[..., 0]
    rgb[m] = (1 - alpha) * rgb[m] + alpha * np.asarray(color)
    return rgb


def readable(table, digits: int = 3, missing: str = "\u2013"):
    """A copy of ``table`` for display: every float with ``digits`` decimals (``1.000``, not
    ``1.0``), integers as they are, and missing values (NaN) as ``missing``, an en dash."""
    import numbers

    import pandas as pd

    def cell(v):
        if v is None or (isinstance(v, numbers.Real) and not isinstance(v, numbers.Integral) and pd.isna(v)):
            return missing
        if isinstance(v, numbers.Real) and not isinstance(v, (numbers.Integral, bool)):
            return f"{float(v):.{digits}f}"
        return v

    return table.astype(object).map(cell)
