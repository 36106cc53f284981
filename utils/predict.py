"""Use a saved model on a reader's own images, with a warning when an input is unlike the
training images.

* :class:`OODCheck`: an out-of-distribution check fitted on the training images.  Each image is
  cropped to the head (:func:`utils.preprocessing.crop_to_content`) and described by the frozen
  ImageNet EfficientNet-Lite0's pooled features (:func:`utils.transfer.lite0_backbone`); its
  score is the mean cosine distance to its ``k`` nearest training images.  The threshold is a
  quantile (default 0.99) of the training images' own scores, each computed leaving the image's
  whole near-duplicate **group** out (``groups``; without groups the image alone), so about 1 %
  of training-like images are flagged by construction.  Leaving only the image out would let
  its near-copies answer for it: the training scores, and so the threshold, come out too small.  Two intensity
  rules fitted on the same images flag blank and very dark inputs whatever the features say.
* :func:`collect_files`, :func:`predict_files`: every image of the given files and folders
  (recursively), one row per file (path, probability, decision at the card's threshold,
  warning, error); an unreadable file gets a row with the reason, never a crash.
* ``python -m utils.predict``: the command line (:func:`main`)::

      python -m utils.predict --model transfer --train scans/ --out predictions.csv
      python -m utils.predict --model transfer --weights transfer.keras a.png b.dcm
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import config, data, modelcard, preprocessing

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp", ".dcm",
                  ".dicom"}
COLUMNS = ["path", "probability", "decision", "warning", "error"]
POSITIVE, NEGATIVE = "tumour", "no tumour"
PROGRESS_MIN = 10  # a progress bar from this many files on


# ------------------------------------------------------------------------------------------
# Out-of-distribution check
# ------------------------------------------------------------------------------------------
def _features(images, size: int, batch_size: int = 16) -> np.ndarray:
    """Frozen Lite0 pooled features (N, 1280) of grayscale uint8 images, each cropped to the
    head and resized to ``size`` first (as the transfer models see them)."""
    import keras
    from PIL import Image

    from . import transfer

    X = np.stack([np.asarray(Image.fromarray(preprocessing.crop_to_content(im)).resize(
        (size, size), Image.BILINEAR)) for im in images]).astype(np.float32) / 255.0
    net = _backbone(size)
    out = net.predict(transfer.preprocess(X[..., None]), batch_size=batch_size, verbose=0)
    return np.asarray(out, dtype=np.float32)


_BACKBONES: dict = {}


def _backbone(size: int):
    if size not in _BACKBONES:
        from . import transfer

        _BACKBONES[size] = transfer.lite0_backbone(size, pooling="avg")
    return _BACKBONES[size]


def _unit(F) -> np.ndarray:
    F = np.asarray(F, dtype=np.float64)
    return F / np.maximum(np.linalg.norm(F, axis=1, keepdims=True), 1e-12)


def _knn_distance(Q, T, k: int, leave_self_out: bool = False, groups=None) -> np.ndarray:
    """Mean cosine distance of each row of ``Q`` to its ``k`` nearest rows of ``T``.

    ``Q`` is ``T`` when ``leave_self_out`` or ``groups`` is given: then row i's neighbours
    exclude row i itself, or (``groups``) every row of row i's group."""
    d = 1.0 - _unit(Q) @ _unit(T).T  # cosine distance
    if groups is not None:
        g = np.asarray(groups)
        if len(g) != len(d) or d.shape[0] != d.shape[1]:
            raise ValueError(f"groups has {len(g)} entries for a {d.shape} distance matrix")
        d[g[:, None] == g[None, :]] = np.inf
    elif leave_self_out:
        np.fill_diagonal(d, np.inf)
    if not np.isfinite(np.sort(d, axis=1)[:, k - 1]).all():
        raise ValueError(f"fewer than k={k} training images outside some image's group")
    return np.sort(d, axis=1)[:, :k].mean(axis=1)


def leave_out_scores(features, k: int = 5, groups=None) -> np.ndarray:
    """The training images' own scores: each image's mean distance to its ``k`` nearest other
    training images outside its group (``groups``; without groups, outside itself only)."""
    return _knn_distance(features, features, k, leave_self_out=True, groups=groups)


@dataclass
class OODCheck:
    """Fitted out-of-distribution check (see the module's docstring); :meth:`fit` builds one."""

    features: np.ndarray      # (N, 1280) training features
    threshold: float          # feature score above which an input is flagged
    k: int
    size: int                 # image size the features are computed at
    quantile: float
    dark_p99: float           # an image whose 99th percentile is below this is "very dark"
    blank_std: float          # an image whose SD is below this is "blank"
    train_scores: np.ndarray  # the training images' leave-group-out (or leave-one-out) scores
    groups: np.ndarray | None = None  # the training images' near-duplicate groups, if given

    @classmethod
    def fit(cls, images, groups=None, k: int = 5, quantile: float = 0.99,
            size: int | None = None):
        """Fit on training images (grayscale uint8 arrays, any sizes) and their near-duplicate
        ``groups`` (one label per image; None: each image its own group)."""
        images = [np.asarray(im) for im in images]
        if len(images) <= k:
            raise ValueError(f"need more than k={k} training images, got {len(images)}")
        if groups is not None:
            groups = np.asarray(groups).astype(str)
            if len(groups) != len(images):
                raise ValueError(f"{len(groups)} groups for {len(images)} images")
        size = config.by_mode(quick=64, full=224) if size is None else int(size)
        F = _features(images, size)
        scores = leave_out_scores(F, k, groups)
        p99 = np.array([np.percentile(im, 99) for im in images]) / 255.0
        sds = np.array([im.std() for im in images]) / 255.0
        return cls(F, float(np.quantile(scores, quantile)), int(k), size, float(quantile),
                   float(0.5 * p99.min()), float(min(0.005, 0.5 * sds.min())), scores, groups)

    def score(self, images) -> np.ndarray:
        return _knn_distance(_features([np.asarray(im) for im in images], self.size),
                             self.features, self.k)

    def warnings(self, images) -> list[str]:
        """One warning per image: "" when it resembles the training images, else the reasons."""
        images = [np.asarray(im) for im in images]
        scores = self.score(images)
        out = []
        for im, s in zip(images, scores):
            why = []
            if im.std() / 255.0 < self.blank_std:
                why.append("blank image")
            elif np.percentile(im, 99) / 255.0 < self.dark_p99:
                why.append("very dark image")
            if s > self.threshold:
                why.append(f"unlike the training images (feature distance {s:.3f} > "
                           f"{self.threshold:.3f}, the {self.quantile:.0%} quantile of the "
                           "training images)")
            out.append("; ".join(why))
        return out

    def save(self, path) -> Path:
        path = Path(path)
        extra = {} if self.groups is None else {"groups": np.asarray(self.groups).astype(str)}
        np.savez_compressed(path, features=self.features, train_scores=self.train_scores,
                            **extra, meta=np.array(json.dumps({
                                "threshold": self.threshold, "k": self.k, "size": self.size,
                                "quantile": self.quantile, "dark_p99": self.dark_p99,
                                "blank_std": self.blank_std})))
        return path

    @classmethod
    def load(cls, path):
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            groups = z["groups"] if "groups" in z.files else None
            return cls(z["features"], meta["threshold"], meta["k"], meta["size"],
                       meta["quantile"], meta["dark_p99"], meta["blank_std"], z["train_scores"],
                       groups)

    def describe(self) -> dict:
        return {"method": "mean cosine distance of frozen EfficientNet-Lite0 pooled features of "
                          "the head crop to the k nearest training images",
                "k": self.k, "size": self.size, "n_train": int(len(self.features)),
                "threshold": self.threshold,
                "threshold_rule": f"{self.quantile} quantile of the training images' "
                                  + ("leave-group-out scores (neighbours outside the image's "
                                     "near-duplicate group)" if self.groups is not None
                                     else "leave-one-out scores"),
                "dark_rule": f"99th percentile of the pixels < {self.dark_p99:.3f}",
                "blank_rule": f"pixel SD < {self.blank_std:.3f}"}


# ------------------------------------------------------------------------------------------
# Files
# ------------------------------------------------------------------------------------------
class NoImagesError(ValueError):
    """Nothing to predict on: no paths, an empty folder, or a folder without images."""


def collect_files(paths) -> list[Path]:
    """The files to read: named files as they are (whatever their name), and every image file
    (by suffix, or a DICOM marker) below named folders, recursively, hidden ones left out.
    A path that does not exist is kept (its row will say so).  Raises :class:`NoImagesError`
    when nothing is left."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file()
                           and not any(part.startswith(".") for part in f.relative_to(p).parts)
                           and (f.suffix.lower() in IMAGE_SUFFIXES or data.is_dicom(f)))
            if not found:
                raise NoImagesError(f"{p}: no image files in this folder (PNG, JPEG, TIFF, BMP, "
                                    "DICOM, ...), searched recursively")
            out += found
        else:
            out.append(p)
    if not out:
        raise NoImagesError("no images given: name image files or folders")
    return out


def read_for_model(path) -> np.ndarray:
    """A file as the model reads it: grayscale uint8 (H, W) (:func:`utils.data.read_image`)."""
    return data.read_image(path, mode="L")


def predict_files(saved, paths, ood: OODCheck | None = None, progress: bool | None = None):
    """One row per file of :func:`collect_files` (``paths``): path, probability, decision at the
    card's threshold, warning (out-of-distribution check, colour input) and error (why the file
    could not be read; the other columns are then empty).  Returns a DataFrame (:data:`COLUMNS`)."""
    import pandas as pd
    from tqdm import tqdm

    files = collect_files(paths)
    show = len(files) >= PROGRESS_MIN if progress is None else progress
    rows = []
    for f in tqdm(files, desc="predicting", unit="file", disable=not show, file=sys.stderr):
        row = dict.fromkeys(COLUMNS, "")
        row["path"] = str(f)
        try:
            image = read_for_model(f)
        except (data.DataError, OSError, ValueError) as err:
            row["error"] = str(err).replace("\n", " ")
            row["probability"] = np.nan
            rows.append(row)
            continue
        p = float(saved.predict([image])[0])
        row["probability"] = p
        row["decision"] = POSITIVE if p >= saved.threshold else NEGATIVE
        warn = ood.warnings([image])[0] if ood is not None else ""
        if f.suffix.lower() not in (".dcm", ".dicom") and not data.is_dicom(f):
            rgb = data.read_image(f, mode="RGB").astype(np.int16)
            if np.abs(rgb - rgb.mean(axis=-1, keepdims=True)).mean() > 2.0:
                warn = "; ".join(w for w in (warn, "colour image (the training MRIs are gray)") if w)
        row["warning"] = warn
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


# ------------------------------------------------------------------------------------------
# Training, saving and loading a final model with its OOD check
# ------------------------------------------------------------------------------------------
def training_images(dataset: str = "brain_mri") -> list[np.ndarray]:
    """The raw training images (grayscale uint8, original sizes), in the loaders' order."""
    from . import datasets

    return [read_for_model(p) for p in training_table(dataset)["path"]]


def training_table(dataset: str = "brain_mri"):
    """The training images' file table in the loaders' order (``near_group``: their
    near-duplicate groups, the groups of :func:`OODCheck.fit`)."""
    from . import datasets

    if dataset != "brain_mri":
        raise ValueError(f"only the brain_mri training set is known, not {dataset!r}")
    return datasets.load_brain_mri(size=8).table


def save_final(final, path, figures=None, operating_point=None, ood: OODCheck | None = None,
               tta: bool | None = None, training_table=None) -> Path:
    """Save a final model (the object :func:`utils.experiments.fit_final` returns: ``name``,
    ``settings``, ``model``, ``threshold``, ``seed``, ``n_train``) as a :func:`deployable`
    ``.keras`` file, its OOD check as ``NAME.ood.npz`` and the card; returns the model path.
    ``training_table``: the training images' table, whose count and views the card states."""
    path = Path(path)
    if tta is None:  # the final model's own test-time augmentation (FinalModel.tta)
        tta = bool(getattr(final, "tta", False))
    model = modelcard.deployable(final.model, final.settings, tta=tta, name=f"dlbi_{final.name}")
    attachments = {}
    extra = {}
    if ood is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        ood_path = ood.save(path.with_name(path.name[:-len(".keras")] + ".ood.npz"))
        attachments["ood"] = ood_path
        extra["ood"] = ood.describe()
    # The card counts the images the model was given (the training table's rows); the improved
    # CNN fits its weights on part of them and stops early on the rest: both counts are kept.
    n_images = int(getattr(final, "n_images", 0) or final.n_train)
    extra["training_split"] = {"images_given": n_images, "weights_fitted_on": int(final.n_train),
                               "early_stopping_images": int(getattr(final, "n_val", 0) or 0)}
    card = modelcard.make_card(final.name, final.settings, final.threshold, seed=final.seed,
                               n_train=n_images, figures=figures,
                               operating_point=operating_point, tta=tta, extra=extra,
                               training_table=training_table)
    modelcard.save(model, card, path, attachments)
    return path


def load_final(path, expect_name: str | None = None):
    """``(SavedModel, OODCheck or None)`` of a file written by :func:`save_final`."""
    saved = modelcard.load(path, expect_name=expect_name)
    ood = OODCheck.load(saved.attachments["ood"]) if "ood" in saved.attachments else None
    return saved, ood


def default_model_path(name: str) -> Path:
    return config.cache_dir() / "models" / f"{name}.keras"


def train_and_save(name: str, path=None, seed: int = 42) -> Path:
    """:func:`utils.experiments.fit_final` of model ``name`` on the 253 images, its OOD check,
    saved to ``path`` (default :func:`default_model_path`)."""
    from . import experiments

    fit_final = getattr(experiments, "fit_final", None)
    if fit_final is None:
        raise RuntimeError("utils.experiments.fit_final is not available in this version of "
                           "the book; pass --weights FILE")
    final = fit_final(name, seed=seed)
    table = training_table()
    ood = OODCheck.fit([read_for_model(p) for p in table["path"]], groups=table["near_group"])
    return save_final(final, path or default_model_path(name), ood=ood, training_table=table)


# ------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------
def parser() -> argparse.ArgumentParser:
    from .experiments import MODELS

    ap = argparse.ArgumentParser(
        prog="python -m utils.predict",
        description="Predict P(tumour) for brain MRI slices (PNG, JPEG, 16-bit PNG, DICOM; "
                    "folders are searched recursively). Teaching and research only: not a "
                    "medical device.")
    ap.add_argument("--model", required=True, choices=MODELS, help="which of the book's models")
    how = ap.add_mutually_exclusive_group()
    how.add_argument("--train", action="store_true",
                     help="train the final model on the 253 images first (saved to the cache)")
    how.add_argument("--weights", metavar="FILE", help="a .keras file saved with its model card")
    ap.add_argument("paths", nargs="*", metavar="IMAGES_OR_FOLDER")
    ap.add_argument("--out", default="predictions.csv", help="CSV to write (default %(default)s)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    return ap


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        if not args.paths:
            raise NoImagesError("no images given: name image files or folders")
        files = collect_files(args.paths)  # fail early, before any training
        if args.weights:
            path = Path(args.weights)
        else:
            path = default_model_path(args.model)
            if args.train:
                print(f"training the final {args.model!r} model ...", file=sys.stderr)
                train_and_save(args.model, path)
            elif not path.is_file():
                raise FileNotFoundError(f"no saved {args.model!r} model at {path}; run with "
                                        "--train once, or pass --weights FILE")
        saved, ood = load_final(path, expect_name=args.model)
        table = predict_files(saved, files, ood, progress=False if args.no_progress else None)
    except (NoImagesError, FileNotFoundError, modelcard.ModelCardError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    table.to_csv(args.out, index=False)
    n_err = int((table["error"] != "").sum())
    n_warn = int((table["warning"] != "").sum())
    print(f"{len(table)} file(s) -> {args.out}: {int((table['decision'] == POSITIVE).sum())} "
          f"'{POSITIVE}' at threshold {saved.threshold:.3f}, {n_warn} with a warning, "
          f"{n_err} unreadable. Not a medical device.")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
