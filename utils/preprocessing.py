"""Preprocessing: what is done to an image before a model sees it.

* **Crop to the head** (:func:`content_box`, :func:`crop_square`, :func:`crop_to_content`,
  :func:`load_brain_cropped`, :func:`load_brain_external_cropped`, :func:`cropped_mask`).  The
  brain MRIs come with black borders of every width, so after a plain resize the head fills
  anything from a third to all of the frame.  One rule, :func:`head_region` (blur, 99th
  percentile, :data:`HEAD_THRESHOLD`, largest connected region), finds the head:
  :func:`content_box` takes the square around it (the same square cuts an image and its tumour
  mask alike), :func:`head_mask` its own pixels (what :mod:`utils.shift` measures).  It uses no
  label: every image is treated the same way.  The intensity steps (:func:`standardise_in_head`,
  :func:`head_histogram`, :func:`match_histogram_in_head`) use a second, pixel-wise rule
  (``_inside_head``: no blur, no largest region, same threshold), so that dark pixels inside the
  head (ventricles) stay out of the statistics they match.
* **The same crop as a Keras layer** (:func:`head_crop`, class ``HeadCrop``): blur, 99th
  percentile, threshold, largest connected region (grown from a seed by geodesic dilation), the
  padded square and an antialiased bilinear resize, written with ``keras.ops`` so that a saved
  model carries its own preprocessing from a raw image (same :data:`HEAD_THRESHOLD`);
  ``tests/test_preprocessing.py`` checks it against :func:`content_box` on the real images.
* **Augmentation** (:func:`augmentation`): random left-right flips, small rotations, zooms,
  shifts and contrast/gamma changes, as Keras layers that act only while training; and, written
  out in NumPy for reading and for image/mask pairs, :data:`PAIRED_TRANSFORMS` (affine, flip,
  elastic move image and mask alike; intensity, gamma, blur change the image only).

The input scaling of the pretrained backbones (:func:`utils.backbones.lite0_preprocess`,
:func:`utils.transfer.preprocess`) is part of the backbones' weights and lives with them.
"""
from __future__ import annotations

import functools

import numpy as np

from . import data, datasets


# ------------------------------------------------------------------------------------------
# Crop to the head
# ------------------------------------------------------------------------------------------
#: The head's pixels are those brighter than this share of the image's 99th percentile (after a
#: 5x5 blur in :func:`head_region`); the one threshold of :func:`content_box`, :func:`head_mask`,
#: :func:`head_crop`, :func:`standardise_in_head` and the histogram matching
#: (:func:`head_histogram`, :func:`match_histogram_in_head`).  Fixed before any result was seen.
HEAD_THRESHOLD = 0.1


def _gray(image) -> np.ndarray:
    img = np.asarray(image, dtype=np.float32)
    return img[..., 0] if img.ndim == 3 else img


def head_region(image, threshold: float = HEAD_THRESHOLD):
    """``(region, top)``: the largest connected region of an image's bright content, and the 99th
    percentile ``top`` of the blurred image.

    Pixels brighter than ``threshold`` x ``top`` after a 5x5 box blur (which ignores isolated
    specks) count as content; only the largest connected region (4-connected) counts, so text,
    rulers and corner labels drop out.  The blur widens the region by a few pixels.  A blank
    image (``top`` of 0) gives an empty region.  An (H, W, C) image is read from its first
    channel.  The one rule behind :func:`content_box` (the square around the region) and
    :func:`head_mask` (the head's own pixels).
    """
    from scipy import ndimage

    img = _gray(image)
    smooth = ndimage.uniform_filter(img, size=5)
    top = np.percentile(smooth, 99)
    if top <= 0:
        return np.zeros(img.shape, bool), top
    mask = smooth > threshold * top
    lab, n = ndimage.label(mask)
    if n > 1:
        sizes = ndimage.sum(mask, lab, index=np.arange(1, n + 1))
        mask = lab == (1 + int(np.argmax(sizes)))
    return mask, top


def head_mask(image, threshold: float = HEAD_THRESHOLD) -> np.ndarray:
    """Boolean mask of the head in one image: the pixels of :func:`head_region` that are bright
    themselves (brighter than ``threshold`` x the blurred 99th percentile before the blur too),
    holes filled.  A blank image gives an empty mask.  :func:`utils.shift.head_fill` and the
    input statistics of :mod:`utils.shift` measure the head with it."""
    from scipy import ndimage

    region, top = head_region(image, threshold)
    if top <= 0:
        return region
    # the blur widens the region by a few pixels: keep its pixels that are bright themselves
    return ndimage.binary_fill_holes(region & (_gray(image) > threshold * top))


def content_box(image, threshold: float = HEAD_THRESHOLD,
                margin: float = 0.02) -> tuple[int, int, int]:
    """The square ``(top, left, side)`` around an image's bright content (the head).

    The content is :func:`head_region`: pixels brighter than ``threshold`` x the 99th
    percentile after a 5x5 blur, the largest connected region only.  The square is centred on
    that region's bounding box and its side is the box's longer side, padded by ``margin`` on
    each end.  It may reach past the image's edges (:func:`crop_square` fills those parts with
    zeros).  A blank image gives the square around the whole image.

    :func:`crop_to_content` cuts this square out of an image, :func:`cropped_mask` cuts the same
    square out of the image's tumour mask, so that the two stay aligned.
    """
    mask, top = head_region(image, threshold)
    if top <= 0:
        mask = np.ones_like(mask)
    rows, cols = np.nonzero(mask)
    r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    side = int(max(r1 - r0, c1 - c0) * (1 + 2 * margin))
    return int((r0 + r1) // 2 - side // 2), int((c0 + c1) // 2 - side // 2), side


def crop_square(array, box) -> np.ndarray:
    """Cut the square ``box = (top, left, side)`` out of a 2-D array, zero-padding outside.

    A 3-D array (H, W, C) is cut from its first channel; the result keeps the array's dtype.
    """
    a = np.asarray(array)
    a = a[..., 0] if a.ndim == 3 else a
    y0, x0, side = box
    out = np.zeros((side, side), dtype=a.dtype)
    sy0, sx0 = max(y0, 0), max(x0, 0)
    sy1, sx1 = min(y0 + side, a.shape[0]), min(x0 + side, a.shape[1])
    out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = a[sy0:sy1, sx0:sx1]
    return out


def crop_to_content(image, threshold: float = HEAD_THRESHOLD, margin: float = 0.02) -> np.ndarray:
    """Crop a grayscale image to the square around its bright content (:func:`content_box`).

    After this crop the head fills the frame in every brain MRI, whatever the width of its
    black border.  A preprocessing step that uses no label, applied to every image alike.
    """
    return crop_square(image, content_box(image, threshold, margin))


def load_brain_cropped(size: int = 96, subset: int | None = None, seed: int = 42):
    """:func:`utils.datasets.load_brain_mri`, but each image cropped to the head first.

    Same order, labels, groups and table as the uncropped set; X is (N, size, size, 1) in [0, 1].
    """
    from PIL import Image

    base = datasets.load_brain_mri(size=8, subset=subset, seed=seed)  # table, y, groups
    arrays = []
    for path in base.table["path"]:
        crop = crop_to_content(data.read_image(path, mode="L"))
        arrays.append(np.asarray(Image.fromarray(crop).resize((size, size), Image.BILINEAR)))
    X = (np.stack(arrays).astype(np.float32) / 255.0)[..., None]
    return datasets.ImageSet(X, base.y, base.groups, base.table, base.classes)


def load_brain_external_cropped(size: int = 96, **kwargs):
    """:func:`utils.datasets.load_brain_mri_external` with each image cropped to the head
    (:func:`crop_to_content`) before the resize, as :func:`load_brain_cropped` does for the
    paper's images; ``kwargs`` go to the loader (``include_no``, ``subset``, ...)."""
    return datasets.load_brain_mri_external(size=size, crop=crop_to_content, **kwargs)


def cropped_mask(image_path, mask_path, size: int) -> np.ndarray:
    """The tumour mask of ``image_path`` cropped like the image (the square of
    :func:`content_box` of the image) and resized to ``size`` (nearest neighbour), as booleans;
    a mask of another size than its image is first resized to the image."""
    from PIL import Image

    image = data.read_image(image_path, mode="L")
    mask = data.read_image(mask_path, mode="L")
    if mask.shape != image.shape:
        mask = np.asarray(Image.fromarray(mask).resize(image.shape[::-1], Image.NEAREST))
    crop = crop_square(mask, content_box(image))
    return np.asarray(Image.fromarray(crop).resize((size, size), Image.NEAREST)) > 127


# ------------------------------------------------------------------------------------------
# The crop to the head inside a Keras graph
# ------------------------------------------------------------------------------------------
def head_crop(size: int, threshold: float = HEAD_THRESHOLD, margin: float = 0.02,
              name: str = "head_crop"):
    """A Keras layer: grayscale images (B, H, W, 1) in [0, 1] -> their head crops (B, size,
    size, 1), what :func:`crop_to_content` followed by PIL's bilinear resize computes.

    The steps of :func:`content_box`, in ``keras.ops``: the 5x5 box blur (with scipy's
    ``reflect`` border, numpy's ``symmetric`` pad), the 99th percentile (linear interpolation, as
    ``np.percentile``), the threshold, then the **largest connected region**: a connected-
    component labelling is not a Keras op, so the region is grown from a seed by geodesic
    dilation (3x3 max-pool restricted to the mask, repeated until nothing changes: 8-connected,
    as ``scipy.ndimage.label`` with a full structure would be; ``content_box`` uses the default
    4-connected structure).  The seed is the mask pixel with the most mask around it (a blur of
    a quarter of the image), which lies in the largest region unless a smaller region is denser
    around its centre.  Then the padded square and an antialiased bilinear resize (PIL's
    ``BILINEAR`` also widens its kernel when it shrinks).  The differences from the numpy crop
    (seed choice, connectivity, float instead of uint8 rounding) are measured in the tests.
    Images of one batch must share their size (a saved model is usually called on one image).
    """
    return _head_crop_layer()(size=size, threshold=threshold, margin=margin, name=name)


@functools.lru_cache(maxsize=None)
def _head_crop_layer():
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="dlbi")
    class HeadCrop(keras.layers.Layer):
        def __init__(self, size=224, threshold=HEAD_THRESHOLD, margin=0.02, **kwargs):
            super().__init__(**kwargs)
            self.size, self.threshold, self.margin = int(size), float(threshold), float(margin)

        def compute_output_shape(self, input_shape):
            return (input_shape[0], self.size, self.size, 1)

        def _box(self, img):
            """(top, left, side) of one image (H, W, 1), as content_box."""
            h, w = ops.shape(img)[0], ops.shape(img)[1]
            x = img[None]
            smooth = ops.average_pool(ops.pad(x, [[0, 0], [2, 2], [2, 2], [0, 0]], mode="symmetric"),
                                      5, strides=1, padding="valid")[0, ..., 0]
            flat = ops.sort(ops.reshape(smooth, (-1,)))
            n = ops.shape(flat)[0]
            pos = 0.99 * ops.cast(n - 1, "float32")
            lo = ops.cast(ops.floor(pos), "int32")
            hi = ops.minimum(lo + 1, n - 1)
            frac = pos - ops.cast(lo, "float32")
            top = flat[lo] * (1 - frac) + flat[hi] * frac
            mask = ops.where(top > 0, smooth > self.threshold * top, ops.ones_like(smooth, "bool"))
            maskf = ops.cast(mask, "float32")
            # seed: the mask pixel with the most mask around it
            k = ops.maximum(ops.minimum(h, w) // 4, 1)
            density = _box_mean(maskf, k) * maskf
            idx = ops.argmax(ops.reshape(density, (-1,)))
            seed = ops.reshape(ops.one_hot(idx, h * w), (h, w))
            region = seed * maskf

            def body(i, r, changed):
                grown = r
                for _ in range(8):  # eight steps per test of convergence
                    grown = ops.max_pool(grown[None, ..., None], 3, strides=1,
                                         padding="same")[0, ..., 0] * maskf
                return i + 1, grown, ops.any(grown != r)

            def cond(i, r, changed):
                return ops.logical_and(changed, i < h * w)

            _, region, _ = ops.while_loop(cond, body, (0, region, True))
            rows = ops.max(region, axis=1) > 0
            cols = ops.max(region, axis=0) > 0
            r0 = ops.argmax(rows)
            r1 = h - ops.argmax(ops.flip(rows, 0))
            c0 = ops.argmax(cols)
            c1 = w - ops.argmax(ops.flip(cols, 0))
            side = ops.cast(ops.floor(ops.cast(ops.maximum(r1 - r0, c1 - c0), "float32")
                                      * (1 + 2 * self.margin)), "int32")
            side = ops.maximum(side, 1)
            return (r0 + r1) // 2 - side // 2, (c0 + c1) // 2 - side // 2, side

        def _one(self, img):
            img = ops.cast(img, "float32")
            top, left, side = self._box(img)
            h, w = ops.shape(img)[0], ops.shape(img)[1]
            padded = ops.pad(img, [[side, side], [side, side], [0, 0]])
            crop = ops.slice(padded, ops.stack([top + side, left + side, 0]),
                             ops.stack([side, side, 1]))
            out = ops.image.resize(crop[None], (self.size, self.size), interpolation="bilinear",
                                   antialias=True)[0]
            return ops.clip(out, 0.0, 1.0)

        def call(self, x):
            x = ops.cast(x, "float32")
            return ops.map(self._one, x)

        def get_config(self):
            return {**super().get_config(), "size": self.size, "threshold": self.threshold,
                    "margin": self.margin}

    def _box_mean(a, k):
        """Mean of ``a`` (H, W) over a k x k window (same size, zero outside), by cumulative sums."""
        h, w = ops.shape(a)[0], ops.shape(a)[1]
        s = ops.pad(ops.cumsum(ops.cumsum(a, axis=0), axis=1), [[1, 0], [1, 0]])
        half = k // 2
        r = ops.arange(h)
        c = ops.arange(w)
        r0, r1 = ops.clip(r - half, 0, h), ops.clip(r - half + k, 0, h)
        c0, c1 = ops.clip(c - half, 0, w), ops.clip(c - half + k, 0, w)
        take = lambda rr, cc: ops.take(ops.take(s, rr, axis=0), cc, axis=1)  # noqa: E731
        total = take(r1, c1) - take(r0, c1) - take(r1, c0) + take(r0, c0)
        return total / ops.cast(k * k, "float32")

    return HeadCrop


# ------------------------------------------------------------------------------------------
# Augmentation
# ------------------------------------------------------------------------------------------
def augmentation(rotation: float = 15.0, zoom: float = 0.1, translation: float = 0.05,
                 flip: bool = True, contrast: float = 0.2, gamma: float = 0.2,
                 name: str = "augment"):
    """Random left-right flips, small rotations, zooms, shifts and contrast/gamma changes.

    Active only while training. The geometric part is **one** affine resampling per image
    (:class:`RandomAffine`) rather than a chain of Keras' RandomRotation, RandomZoom and
    RandomTranslation: each of those interpolates again, and three interpolations blur the
    training images visibly, so the network would be trained on blurred and tested on sharp
    images.  Axial brain slices are roughly left-right symmetric, so a horizontal flip gives a
    new plausible image (a vertical flip would not).  ``rotation`` is in degrees, ``zoom`` and
    ``translation`` are fractions of the image size, ``contrast`` and ``gamma`` are the ranges of
    the random contrast factor and of the gamma exponent around 1.
    """
    import keras

    affine, intensity = _augmentation_layers()
    parts = [affine(rotation, zoom, translation, flip, name=f"{name}_affine")]
    if contrast or gamma:
        parts.append(intensity(contrast, gamma, name=f"{name}_intensity"))
    return keras.Sequential(parts, name=name)


@functools.lru_cache(maxsize=None)
def _augmentation_layers():
    """The two custom Keras layers, defined on first use (keeps TensorFlow out of imports)."""
    import math as _m

    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="dlbi")
    class RandomAffine(keras.layers.Layer):
        def __init__(self, rotation=15.0, zoom=0.1, translation=0.05, flip=True, seed=None,
                     **kwargs):
            super().__init__(**kwargs)
            self.rotation, self.zoom = float(rotation), float(zoom)
            self.translation, self.flip, self.seed = float(translation), bool(flip), seed
            self.seed_generator = keras.random.SeedGenerator(seed)

        def call(self, x, training=None):
            if not training:
                return x
            n = ops.shape(x)[0]
            h, w = ops.shape(x)[1], ops.shape(x)[2]
            hf, wf = ops.cast(h, "float32"), ops.cast(w, "float32")
            u = lambda lo, hi: keras.random.uniform((n,), lo, hi, seed=self.seed_generator)  # noqa: E731
            angle = u(-self.rotation, self.rotation) * (_m.pi / 180.0)
            scale = ops.exp(u(_m.log(1 - self.zoom), _m.log(1 + self.zoom))) if self.zoom else ops.ones((n,))
            sign = ops.where(u(0.0, 1.0) < 0.5, -1.0, 1.0) if self.flip else ops.ones((n,))
            tx = u(-self.translation, self.translation) * wf
            ty = u(-self.translation, self.translation) * hf
            cos, sin = ops.cos(angle) / scale, ops.sin(angle) / scale
            # output pixel (x, y) -> input pixel: rotate/zoom about the centre, flip x, shift
            a0, a1, b0, b1 = cos * sign, -sin, sin * sign, cos
            cx, cy = (wf - 1) / 2, (hf - 1) / 2
            a2 = cx - a0 * cx - a1 * cy + tx
            b2 = cy - b0 * cx - b1 * cy + ty
            zeros = ops.zeros_like(a0)
            transform = ops.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
            return ops.image.affine_transform(x, transform, interpolation="bilinear",
                                              fill_mode="constant", fill_value=0.0)

        def compute_output_shape(self, input_shape):
            return input_shape

        def get_config(self):
            return {**super().get_config(), "rotation": self.rotation, "zoom": self.zoom,
                    "translation": self.translation, "flip": self.flip, "seed": self.seed}

    @keras.saving.register_keras_serializable(package="dlbi")
    class RandomIntensity(keras.layers.Layer):
        def __init__(self, contrast=0.2, gamma=0.2, seed=None, **kwargs):
            super().__init__(**kwargs)
            self.contrast, self.gamma, self.seed = float(contrast), float(gamma), seed
            self.seed_generator = keras.random.SeedGenerator(seed)

        def call(self, x, training=None):
            if not training:
                return x
            n = ops.shape(x)[0]
            shape = (n, 1, 1, 1)
            if self.gamma:
                g = ops.exp(keras.random.uniform(shape, -self.gamma, self.gamma,
                                                 seed=self.seed_generator))
                x = ops.power(ops.clip(x, 1e-6, 1.0), g)
            if self.contrast:
                f = keras.random.uniform(shape, 1 - self.contrast, 1 + self.contrast,
                                         seed=self.seed_generator)
                mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
                x = (x - mean) * f + mean
            return ops.clip(x, 0.0, 1.0)

        def compute_output_shape(self, input_shape):
            return input_shape

        def get_config(self):
            return {**super().get_config(), "contrast": self.contrast, "gamma": self.gamma,
                    "seed": self.seed}

    return RandomAffine, RandomIntensity


def __getattr__(name):  # ``preprocessing.RandomAffine``, ``RandomIntensity``, ``HeadCrop``
    if name == "HeadCrop":
        return _head_crop_layer()
    if name in ("RandomAffine", "RandomIntensity"):
        return dict(zip(("RandomAffine", "RandomIntensity"), _augmentation_layers()))[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ------------------------------------------------------------------------------------------
# Paired augmentation, written out: one random draw moves an image and its mask alike
# ------------------------------------------------------------------------------------------
def _geometric(image, mask, coords):
    """Resample ``image`` (bilinear) and ``mask`` (nearest, stays 0/1) at the same coordinates."""
    from scipy import ndimage

    img = ndimage.map_coordinates(image, coords, order=1, mode="constant", cval=0.0)
    msk = ndimage.map_coordinates(mask, coords, order=0, mode="constant", cval=0.0)
    return img.reshape(image.shape), msk.reshape(mask.shape)


def paired_affine(image, mask, rng, rotation: float = 15.0, zoom: float = 0.1, shift: float = 0.05):
    """Rotate (up to ``rotation`` degrees), zoom (up to ``zoom``) and shift (up to ``shift`` of
    the side) an (H, W) image and its mask with one random draw from ``rng``."""
    h, w = image.shape
    a = np.deg2rad(rng.uniform(-rotation, rotation))
    s = 1.0 + rng.uniform(-zoom, zoom)
    t = rng.uniform(-shift, shift, 2) * (h, w)
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    y0, x0 = yy - cy - t[0], xx - cx - t[1]                    # output pixel -> input pixel
    ys = (np.cos(a) * y0 - np.sin(a) * x0) / s + cy
    xs = (np.sin(a) * y0 + np.cos(a) * x0) / s + cx
    return _geometric(image, mask, np.stack([ys.ravel(), xs.ravel()]))


def paired_flip(image, mask, rng):
    """Mirror left-right, image and mask together (with probability 1: the caller draws)."""
    return image[:, ::-1].copy(), mask[:, ::-1].copy()


def paired_elastic(image, mask, rng, alpha: float = 6.0, sigma: float = 5.0):
    """An elastic deformation: a random displacement field (pixels, scale ``alpha``) smoothed
    with a Gaussian of ``sigma`` pixels, applied to image and mask alike."""
    from scipy import ndimage

    h, w = image.shape
    dy, dx = (ndimage.gaussian_filter(rng.uniform(-1, 1, (h, w)), sigma) for _ in range(2))
    scale = alpha / max(np.abs(dy).max(), np.abs(dx).max(), 1e-9)
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    return _geometric(image, mask, np.stack([(yy + scale * dy).ravel(), (xx + scale * dx).ravel()]))


def paired_intensity(image, mask, rng, contrast: float = 0.2, brightness: float = 0.1):
    """Contrast and brightness: the image changes, the mask does not."""
    c, b = 1 + rng.uniform(-contrast, contrast), rng.uniform(-brightness, brightness)
    return np.clip((image - image.mean()) * c + image.mean() + b, 0, 1), mask.copy()


def paired_gamma(image, mask, rng, log_gamma: float = 0.4):
    """Gamma ``image ** g`` with ``log g`` uniform in [-log_gamma, log_gamma]; mask unchanged."""
    return np.clip(image, 0, 1) ** np.exp(rng.uniform(-log_gamma, log_gamma)), mask.copy()


def paired_blur(image, mask, rng, sigma=(0.5, 1.5)):
    """Gaussian blur of the image (sigma drawn in ``sigma``, pixels); mask unchanged."""
    from scipy import ndimage

    return ndimage.gaussian_filter(image, rng.uniform(*sigma)), mask.copy()


def paired_resolution(image, mask, rng, factor=(1.5, 3.0)):
    """A lower resolution: the image shrunk by a factor drawn in ``factor`` (linear
    interpolation) and enlarged back to its size, as a scan with larger pixels would look;
    mask unchanged."""
    from scipy import ndimage

    f = rng.uniform(*factor)
    small = ndimage.zoom(image, 1.0 / f, order=1)
    back = ndimage.zoom(small, np.divide(image.shape, small.shape), order=1)
    out = np.zeros_like(image)
    h, w = min(back.shape[0], image.shape[0]), min(back.shape[1], image.shape[1])
    out[:h, :w] = back[:h, :w]
    return np.clip(out, 0, 1), mask.copy()


#: The stronger intensity, contrast, blur and resolution augmentation of chapter 13's candidate
#: against a shift of scanner and collection (:func:`shift_augment`): each step applied with
#: probability ``p``, at about twice the ranges of :data:`PAIRED_TRANSFORMS`' defaults.  Set once,
#: before any external figure of an augmented model existed; never tuned on external images.
SHIFT_AUGMENTATION = {"p": 0.7, "contrast": 0.4, "brightness": 0.15, "log_gamma": 0.7,
                      "sigma": (0.5, 2.0), "factor": (1.5, 3.0)}


def shift_augment(X, seeds, settings: dict | None = None) -> np.ndarray:
    """One augmented copy of the images ``X`` (N, H, W, C) in [0, 1]: for each image, with its
    own random stream ``np.random.default_rng(seeds[i])`` (so an image's copy depends only on
    its seed, not on the other images), each of contrast/brightness, gamma, blur and a lower
    resolution (:func:`paired_intensity`, :func:`paired_gamma`, :func:`paired_blur`,
    :func:`paired_resolution`) with probability ``settings["p"]``
    (:data:`SHIFT_AUGMENTATION`).  The channels of an image are treated as one (gray repeated as
    RGB stays so).  Returns float32 of the same shape."""
    s = {**SHIFT_AUGMENTATION, **(settings or {})}
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 4:
        raise ValueError(f"X must be (N, H, W, C), not {X.shape}")
    seeds = np.asarray(seeds).ravel()
    if len(seeds) != len(X):
        raise ValueError(f"one seed per image: {len(seeds)} seeds for {len(X)} images")
    steps = (lambda im, m, r: paired_intensity(im, m, r, s["contrast"], s["brightness"]),
             lambda im, m, r: paired_gamma(im, m, r, s["log_gamma"]),
             lambda im, m, r: paired_blur(im, m, r, s["sigma"]),
             lambda im, m, r: paired_resolution(im, m, r, s["factor"]))
    out = np.empty_like(X)
    for i, img in enumerate(X):
        rng = np.random.default_rng(int(seeds[i]))
        gray = img.mean(axis=-1)
        blank = np.zeros_like(gray)
        for step in steps:
            if rng.random() < s["p"]:
                gray = step(gray, blank, rng)[0]
        out[i] = np.clip(gray, 0, 1)[..., None]
    return out


#: The paired transforms by name, in the order the chapters show them.
PAIRED_TRANSFORMS = {"affine": paired_affine, "flip": paired_flip, "elastic": paired_elastic,
                     "intensity": paired_intensity, "gamma": paired_gamma, "blur": paired_blur}


# ------------------------------------------------------------------------------------------
# Intensity standardisation (a candidate against a shift of scanner and collection)
# ------------------------------------------------------------------------------------------
def standardise_in_head(X, threshold: float = HEAD_THRESHOLD, clip: float = 3.0) -> np.ndarray:
    """Each image z-scored within its head: the mean and SD of the pixels brighter than
    ``threshold`` (:data:`HEAD_THRESHOLD`) x the image's 99th percentile, then ``z`` clipped to ``[-clip, clip]`` and mapped to [0, 1] by
    ``(z + clip) / (2 clip)``; the background (outside the head) becomes 0.  ``X``: (N, H, W, C)
    in [0, 1], the channels of an image treated as one (gray repeated as RGB stays so).
    Returns float32 of the same shape, so that two collections scanned with other contrasts
    and windowing meet the model at the same intensity scale.

    The head here is not :func:`head_mask`: no blur, no largest region, no filled holes, on the
    mean of the channels, so a bright label counts and dark pixels inside the head (ventricles)
    stay out of the mean and SD and at 0.  Chapter 13's standardised figures are measured with
    this rule, so it stays; it shares the threshold only."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 4:
        raise ValueError(f"X must be (N, H, W, C), not {X.shape}")
    out = np.zeros_like(X)
    for i, img in enumerate(X):
        gray = img.mean(axis=-1)
        inside = _inside_head(gray, threshold)
        if inside.sum() < 2:
            continue
        mu, sd = float(gray[inside].mean()), float(gray[inside].std())
        z = (img - mu) / (sd if sd > 0 else 1.0)
        scaled = (np.clip(z, -clip, clip) + clip) / (2 * clip)
        out[i] = np.where(inside[..., None], scaled, 0.0)
    return out


def _inside_head(gray, threshold: float = HEAD_THRESHOLD) -> np.ndarray:
    """The head of one gray image (H, W): pixels brighter than ``threshold`` x its 99th
    percentile (every pixel of an all-black image)."""
    top = np.percentile(gray, 99)
    return gray > threshold * top if top > 0 else np.ones_like(gray, bool)


def head_histogram(X, threshold: float = HEAD_THRESHOLD):
    """The reference histogram of :func:`match_histogram_in_head`: ``(values, quantiles)``, the
    distinct intensities inside the heads of the images ``X`` (N, H, W, C) in [0, 1] (the head as
    in :func:`standardise_in_head`; the channels of an image treated as one), pooled over all
    images, and the share of those pixels at or below each.  Compute it on training images
    only."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 4:
        raise ValueError(f"X must be (N, H, W, C), not {X.shape}")
    pixels = []
    for img in X:
        gray = img.mean(axis=-1)
        pixels.append(gray[_inside_head(gray, threshold)])
    values, counts = np.unique(np.concatenate(pixels), return_counts=True)
    return values, np.cumsum(counts) / counts.sum()


def match_histogram_in_head(X, reference, threshold: float = HEAD_THRESHOLD) -> np.ndarray:
    """Each image's intensities inside its head matched to the ``reference`` histogram
    (:func:`head_histogram` of the training images): a pixel whose intensity is at quantile
    ``q`` of its own head's intensities gets the reference intensity at quantile ``q``
    (linear interpolation between the reference's distinct values); the background (outside
    the head) becomes 0.  ``X``: (N, H, W, C) in [0, 1], the channels of an image treated as one
    (gray repeated as RGB stays so).  Returns float32 of the same shape: every head then has the
    intensity distribution of the training images' heads, whatever contrast and windowing its
    scanner gave it."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 4:
        raise ValueError(f"X must be (N, H, W, C), not {X.shape}")
    ref_values, ref_quantiles = (np.asarray(a, dtype=float) for a in reference)
    out = np.zeros_like(X)
    for i, img in enumerate(X):
        gray = img.mean(axis=-1)
        if not np.percentile(gray, 99) > 0:   # an all-black frame has no head: it stays black
            continue
        inside = _inside_head(gray, threshold)
        values, where, counts = np.unique(gray[inside], return_inverse=True, return_counts=True)
        quantiles = np.cumsum(counts) / counts.sum()
        matched = np.zeros_like(gray)
        matched[inside] = np.interp(quantiles, ref_quantiles, ref_values)[where.ravel()]
        out[i] = matched[..., None]
    return out
