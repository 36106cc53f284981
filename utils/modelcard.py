"""Keep a trained model: one native ``.keras`` file that starts from a raw image, and the JSON
model card beside it that says what the model is, what it was trained on and what it is not for.

* :func:`deployable` wraps a final model (:func:`utils.experiments.fit_final`: a Keras model on
  the arrays of :func:`utils.experiments.load_for`) into a model whose input is **one raw
  grayscale image** ``(1, H, W, 1)`` in [0, 1], of any size: the crop to the head
  (:func:`utils.preprocessing.head_crop`, or a plain antialiased resize for a protocol without
  crop), the gray channel repeated for an RGB backbone, the model (whose backbone scaling is in
  its own graph) and, when asked, the test-time average over the image and its mirror image.
* :func:`save` writes ``NAME.keras`` and ``NAME.card.json`` (:func:`make_card`): the protocol and
  its settings, the training data (manifest name and the sha256 of the committed manifest), the
  book's commit, the library versions, the figures with their intervals when given, the
  threshold and its operating point, the intended use and the known limits, and the sha256 of
  the model file (and of any file saved beside it, such as the out-of-distribution check).
* :func:`load` restores the model and **refuses** a model file whose bytes, name or input and
  output shapes do not match its card (:class:`ModelCardError`).
"""
from __future__ import annotations

import functools
import hashlib
import json
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import config, data, preprocessing

CARD_VERSION = 1
CARD_SUFFIX = ".card.json"

#: Protocols whose model is a pretrained backbone with its own input scaling inside the graph.
BACKBONE_MODELS = ("transfer", "finetune")


def has_backbone(settings: dict) -> bool:
    """Whether the protocol of ``settings`` is built on a pretrained backbone (whose input
    scaling is then part of the saved graph); the book's CNNs have none."""
    return settings.get("model") in BACKBONE_MODELS


def training_summary(table=None, n_train: int | None = None) -> dict:
    """What the card says about the training data, computed from the data passed.

    ``table``: the training set's file table (one row per image; ``y`` the labels, ``view``
    when the views are annotated).  Returns ``n_images``, ``tumour_share`` (or None), ``views``
    (counts of the annotated views, {} when none) and ``views_text`` (e.g. "mostly axial (200
    of 253 annotated)", or "views not annotated in the data").  ``n_train`` must match the
    table when both are given."""
    n = None if table is None else int(len(table))
    if n is not None and n_train is not None and int(n_train) != n:
        raise ValueError(f"n_train={n_train} but the training table has {n} rows")
    n = n if n is not None else (None if n_train is None else int(n_train))
    share = None
    views: dict = {}
    if table is not None and "y" in table:
        share = float(np.mean(np.asarray(table["y"], dtype=float)))
    if table is not None and "view" in table:
        v = table["view"].astype(str).str.strip()
        views = {k: int(c) for k, c in v[v != ""].value_counts().items()}
    if views:
        top, count = max(views.items(), key=lambda kv: kv[1])
        annotated = sum(views.values())
        word = "only" if count == annotated else ("mostly" if count > annotated / 2 else "largest share")
        text = (f"{word} {top} ({count} of {annotated} annotated: "
                + ", ".join(f"{k} {c}" for k, c in sorted(views.items())) + ")")
    else:
        text = "views not annotated in the data"
    return {"n_images": n, "tumour_share": share, "views": views, "views_text": text}


def intended_use(n_images: int | None) -> str:
    n = "an unstated number of" if n_images is None else str(n_images)
    return ("Teaching and research: shows how a classifier trained on " + n + " public 2-D "
            "brain MRI slices behaves on other images. It says whether a brain MRI slice "
            "resembles the slices labelled 'tumour' in its training set; it is no diagnosis.")


def known_limits(summary: dict) -> list:
    """The card's known limits, with the training set's figures from :func:`training_summary`."""
    n = summary.get("n_images")
    n = "an unstated number of" if n is None else str(n)
    share = summary.get("tumour_share")
    limits = [
        "Not a medical device; not validated for any clinical use; never use it to decide about "
        "a patient.",
        f"Trained on {n} 2-D MRI slices ({summary.get('views_text', 'views not annotated in the data')}; "
        "JPEG/PNG screenshots of one public Kaggle collection, mixed sequences, no patient "
        "identifiers): other planes, sequences, 3-D volumes, other body parts or modalities "
        "are outside what it has seen.",
        "Trained and evaluated on one collection; on an independent collection its accuracy "
        "drops (see the external-validation chapter and the external figures below, when given).",
    ]
    if share is not None:
        limits.append(f"The probability is not calibrated for another population: the share of "
                      f"tumours in the training set ({share:.0%}) is far above any clinical "
                      "prevalence.")
    limits.append("The out-of-distribution warning flags inputs unlike the training slices; an "
                  "input without a warning can still be outside what the model handles.")
    return limits


class ModelCardError(ValueError):
    """A model file and its model card do not match, or the card is missing or malformed."""


# ------------------------------------------------------------------------------------------
# The model that starts from a raw image
# ------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _flip_layer():
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="dlbi")
    class FlipLeftRight(keras.layers.Layer):
        """The mirror image (columns reversed): the test-time augmentation's second view."""

        def call(self, x):
            return ops.flip(x, axis=2)

        def compute_output_shape(self, input_shape):
            return input_shape

    return FlipLeftRight


def register_layers() -> None:
    """Define (and register for loading) the custom layers a deployable model may contain."""
    preprocessing._head_crop_layer()
    preprocessing._augmentation_layers()
    _flip_layer()


def deployable(model, settings: dict, tta: bool = False, name: str | None = None):
    """``model`` (on the inputs of :func:`utils.experiments.load_for` with ``settings``) behind
    its preprocessing: input one raw grayscale image (1, H, W, 1) in [0, 1], output P(tumour).
    The gray channel is repeated when ``model`` takes three channels (``load_for`` gives the
    head-cropped sets one channel and the transfer models repeat it inside their own graph).

    With ``settings["crop"]`` the head crop of :func:`utils.preprocessing.head_crop`, otherwise
    an antialiased bilinear resize to ``settings["size"]`` (PIL's ``BILINEAR``, which the
    loaders use); ``settings["rgb"]`` repeats the gray channel; ``tta`` averages the model's
    output over the image and its mirror image.
    """
    import keras

    register_layers()
    size = int(settings["size"])
    raw = keras.Input(shape=(None, None, 1), name="raw_image")
    if settings.get("crop"):
        x = preprocessing.head_crop(size)(raw)
    else:
        x = keras.layers.Resizing(size, size, interpolation="bilinear", antialias=True,
                                  name="resize")(raw)
    if int(model.input_shape[-1]) == 3:  # the channels the model takes, whatever settings say
        x = keras.layers.Concatenate(axis=-1, name="gray_to_rgb")([x, x, x])
    p = model(x)
    if tta:
        p = keras.layers.Average(name="tta_mean")([p, model(_flip_layer()(name="mirror")(x))])
    return keras.Model(raw, p, name=name or f"dlbi_{settings.get('model', 'model')}")


def as_raw_batch(image) -> np.ndarray:
    """A grayscale image (H, W) as uint8 0..255 or float [0, 1] -> float32 (1, H, W, 1) in [0, 1]."""
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[-1] in (1, 3):
        a = a[..., 0] if a.shape[-1] == 1 else a.mean(axis=-1)
    if a.ndim != 2:
        raise ValueError(f"expected one grayscale image (H, W), got shape {a.shape}")
    scale = 255.0 if a.dtype == np.uint8 or float(a.max(initial=0)) > 1.0 else 1.0
    return (a.astype(np.float32) / scale)[None, ..., None]


def _compiled(model):
    """``model`` as one graph function for images of any size (traced once, not per size; the
    head crop's loop is slow when run eagerly).  Other backends than TensorFlow call it eagerly."""
    fn = getattr(model, "_dlbi_raw_predict", None)
    if fn is None:
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            fn = tf.function(lambda x: model(x, training=False), input_signature=[
                tf.TensorSpec([None, None, None, 1], tf.float32)])
        else:  # pragma: no cover
            fn = lambda x: model(x, training=False)  # noqa: E731
        model._dlbi_raw_predict = fn
    return fn


def predict_images(model, images) -> np.ndarray:
    """P(tumour) of each raw grayscale image (a list: sizes may differ), one call per image."""
    fn = _compiled(model)
    return np.array([float(np.asarray(fn(as_raw_batch(im)))[0, 0]) for im in images],
                    dtype=np.float64)


# ------------------------------------------------------------------------------------------
# The card
# ------------------------------------------------------------------------------------------
def sha256_file(path) -> str:
    return data.sha256_file(Path(path))


def book_commit() -> str:
    """The book's git commit (with ``+dirty`` when files differ from it), or ``"unknown"``."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def library_versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for name in ("keras", "tensorflow", "numpy", "scipy", "pillow", "pydicom"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def make_card(name: str, settings: dict, threshold: float, seed: int | None = None,
              n_train: int | None = None, dataset: str = "brain_mri", figures: dict | None = None,
              operating_point: dict | None = None, tta: bool = False,
              extra: dict | None = None, training_table=None) -> dict:
    """The model card of model ``name`` as a dict (without the file hashes :func:`save` adds).

    ``figures``: e.g. ``{"cross_validated": {"accuracy": [value, lo, hi], ...}, "external":
    {...}}`` (each figure with its 95 % interval); ``operating_point``: how the threshold was
    chosen and what it gave (e.g. ``{"chosen_on": "out-of-fold predictions", "target":
    "sensitivity 0.95", "sensitivity": [...], "specificity": [...]}``); ``training_table``: the
    training images' file table, from which the card's count, tumour share and views come
    (:func:`training_summary`; without it only ``n_train``).  The backbone's input scaling is
    listed only for a protocol with a backbone (:func:`has_backbone`).
    """
    summary = training_summary(training_table, n_train)
    manifest = data.MANIFEST_DIR / f"{dataset}.csv"
    card = {
        "card_version": CARD_VERSION,
        "name": name,
        "model": settings.get("model", name),
        "created_with": "utils.modelcard.save",
        "input": ("one raw grayscale image, float32 array (1, H, W, 1) in [0, 1] (any H, W); "
                  "utils.data.read_image(path) / 255 gives it from PNG, JPEG, 16-bit PNG or "
                  "DICOM"),
        "output": "P(tumour), float32 array (1, 1)",
        "preprocessing_in_graph": (["head crop (utils.preprocessing.head_crop)"]
                                   if settings.get("crop") else ["antialiased resize"])
        + [f"resize to {settings['size']} px"]
        + (["backbone input scaling (inside the model)"] if has_backbone(settings) else [])
        + (["mean over the image and its mirror image (TTA)"] if tta else []),
        "protocol": json.loads(json.dumps(settings, default=str)),
        "mode": "quick" if config.is_quick() else "full",
        "seed": seed,
        "training_data": {"manifest": f"utils/manifests/{dataset}.csv",
                          "manifest_sha256": data.sha256_file(manifest),
                          "n_images": summary["n_images"],
                          "tumour_share": summary["tumour_share"],
                          "views": summary["views_text"]},
        "book_commit": book_commit(),
        "libraries": library_versions(),
        "threshold": float(threshold),
        "operating_point": operating_point or {"chosen_on": "not given"},
        "figures": figures or {},
        "intended_use": intended_use(summary["n_images"]),
        "known_limits": known_limits(summary),
    }
    if extra:
        card.update(extra)
    return card


def card_path(model_path) -> Path:
    p = Path(model_path)
    return p.with_name(p.name[:-len(".keras")] + CARD_SUFFIX if p.name.endswith(".keras")
                       else p.name + CARD_SUFFIX)


def save(model, card: dict, path, attachments: dict | None = None) -> Path:
    """Write ``model`` (a :func:`deployable` model) to ``path`` (``.keras``) and ``card`` to
    ``NAME.card.json`` beside it, with the sha256 of the model file and of each file in
    ``attachments`` (``{role: path}``, e.g. ``{"ood": ...}``, paths kept relative to the model's
    folder).  Returns the card's path."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"a model file must end in .keras, not {path.name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    card = dict(card)
    card["model_file"] = path.name
    card["model_sha256"] = sha256_file(path)
    card["input_shape"] = [None if d is None else int(d) for d in model.input_shape]
    card["output_shape"] = [None if d is None else int(d) for d in model.output_shape]
    card["attachments"] = {role: {"file": Path(p).name, "sha256": sha256_file(p)}
                           for role, p in (attachments or {}).items()}
    out = card_path(path)
    out.write_text(json.dumps(card, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return out


@dataclass
class SavedModel:
    """A model read back by :func:`load`: the Keras model, its card and where it lies."""

    model: object
    card: dict
    path: Path
    attachments: dict = field(default_factory=dict)

    @property
    def threshold(self) -> float:
        return float(self.card["threshold"])

    def predict(self, images) -> np.ndarray:
        """P(tumour) of raw grayscale images (:func:`predict_images`)."""
        return predict_images(self.model, images)


def read_card(path) -> dict:
    cpath = card_path(path)
    if not cpath.is_file():
        raise ModelCardError(f"{path}: no model card beside it (expected {cpath.name}); a model "
                             "is only used together with its card (utils.modelcard.save)")
    try:
        card = json.loads(cpath.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ModelCardError(f"{cpath}: not a valid model card ({err})") from err
    missing = [k for k in ("card_version", "name", "model_file", "model_sha256", "threshold",
                           "protocol", "input_shape", "output_shape") if k not in card]
    if missing:
        raise ModelCardError(f"{cpath}: not a complete model card (missing {missing})")
    return card


def load(path, expect_name: str | None = None) -> SavedModel:
    """Read a model saved by :func:`save`, refusing one that does not match its card.

    Refused (:class:`ModelCardError`): no card or an incomplete one; a model file whose sha256
    differs from the card's (another model, or a changed file); a card for another model file
    or another model name than ``expect_name``; an attachment whose bytes changed; a loaded
    model whose input or output shape differs from the card's.
    """
    import keras

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    card = read_card(path)
    problems = []
    if card["model_file"] != path.name:
        problems.append(f"the card describes {card['model_file']!r}, not {path.name!r}")
    actual = sha256_file(path)
    if actual != card["model_sha256"]:
        problems.append(f"the model file's sha256 is {actual[:16]}..., the card's "
                        f"{card['model_sha256'][:16]}... (another or a modified model)")
    if expect_name is not None and card["name"] != expect_name:
        problems.append(f"the card is for model {card['name']!r}, not {expect_name!r}")
    attachments = {}
    for role, entry in card.get("attachments", {}).items():
        p = path.parent / entry["file"]
        if not p.is_file() or sha256_file(p) != entry["sha256"]:
            problems.append(f"the {role} file {entry['file']} is missing or differs from the card")
        attachments[role] = p
    if problems:
        raise ModelCardError(f"{path}: refused, the model does not match its card "
                             f"{card_path(path).name}: " + "; ".join(problems))
    register_layers()
    model = keras.saving.load_model(path, compile=False)
    shapes = ([None if d is None else int(d) for d in model.input_shape],
              [None if d is None else int(d) for d in model.output_shape])
    if [list(s) for s in shapes] != [card["input_shape"], card["output_shape"]]:
        raise ModelCardError(f"{path}: refused, its input/output shapes {shapes} are not the "
                             f"card's {card['input_shape']}, {card['output_shape']}")
    return SavedModel(model, card, path, attachments)


def describe(card: dict) -> str:
    """The card as a short readable text (for the chapter and the command line)."""
    lines = [f"Model card: {card['name']} ({card['model_file']}, sha256 "
             f"{card['model_sha256'][:12]}...)",
             f"  trained on {card['training_data']['n_images']} images of "
             f"{card['training_data']['manifest']} (sha256 "
             f"{card['training_data']['manifest_sha256'][:12]}...), seed {card['seed']}, "
             f"{card['mode']} mode, book commit {card['book_commit'][:12]}",
             f"  preprocessing in the graph: {', '.join(card['preprocessing_in_graph'])}",
             f"  threshold {card['threshold']:.3f} ({card['operating_point'].get('chosen_on')})"]
    for kind, figs in card.get("figures", {}).items():
        parts = [f"{k} {v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]" if isinstance(v, (list, tuple))
                 else f"{k} {v}" for k, v in figs.items()]
        lines.append(f"  {kind}: " + ", ".join(parts))
    lines.append(f"  intended use: {card['intended_use']}")
    lines += ["  limit: " + x for x in card["known_limits"]]
    return "\n".join(lines)
