"""Looking inside a CNN: architecture drawings, receptive fields, filters, feature maps and
Grad-CAM.

* :func:`layered_view` draws a Keras model as stacked boxes (visualkeras, the tool the paper
  used for its figure 11), made safe for Keras 3;
* :func:`parameter_table` lists every layer's output shape and parameter count, by formula and
  by Keras (and checks that the two agree);
* :func:`receptive_field` computes, layer by layer, how many input pixels one output value sees;
* :func:`feature_maps` returns what every (or the chosen) layer outputs for one image;
* :func:`show_filters` and :func:`show_feature_maps` plot them;
* :func:`grad_cam` shows where a classifier's evidence for a class lies (one image or a batch),
  :func:`overlay_heatmap` draws a map over its image and :func:`cam_share_inside` measures how
  much of a map falls inside a mask (tumour, lungs).
"""
from __future__ import annotations

import re
from importlib import metadata

import numpy as np

#: visualkeras releases known to draw Keras 3 models.  0.1.5 and 0.2.0 read the removed
#: ``layer.output_shape`` attribute and fail.
VISUALKERAS_OK = ("0.1.4",)


# --------------------------------------------------------------------------------------------
# Architecture drawing
# --------------------------------------------------------------------------------------------
def _visualkeras():
    try:
        version = metadata.version("visualkeras")
    except metadata.PackageNotFoundError:
        raise ImportError(
            "layered_view needs visualkeras, which is not installed. "
            "Install the release that works with Keras 3: pip install visualkeras==0.1.4"
        ) from None
    import visualkeras

    return visualkeras, version


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1: a scalable TrueType font
    except TypeError:  # pragma: no cover - old Pillow: fixed-size bitmap font
        return ImageFont.load_default()


def _add_title(img, title: str, font_size: int):
    from PIL import Image, ImageDraw

    font = _font(font_size)
    band = int(font_size * 2.2)
    out = Image.new("RGBA", (img.width, img.height + band), "white")
    out.paste(img, (0, band))
    draw = ImageDraw.Draw(out)
    left, top, right, bottom = draw.textbbox((0, 0), title, font=font)
    draw.text(((img.width - (right - left)) / 2, (band - (bottom - top)) / 2), title,
              fill="black", font=font)
    return out


def layered_view(model, title: str | None = None, legend: bool = True, font_size: int = 14, **kw):
    """Draw ``model`` as a row of 3-D boxes, one per layer, and return a PIL image.

    A thin wrapper of ``visualkeras.layered_view`` that works on Keras 3: it sets a readable
    legend font, silences a deprecation warning, optionally adds a ``title`` above the drawing
    and turns the known failure of newer visualkeras releases (which read the removed
    ``layer.output_shape``) into an error that says what to install.  Other keyword arguments
    (``scale_xy``, ``scale_z``, ``max_z``, ``type_ignore``, ``spacing``, ``to_file`` ...) go to
    visualkeras unchanged.
    """
    import warnings

    vk, version = _visualkeras()
    if not getattr(model, "built", True) or not model.layers:
        raise ValueError("the model has no layers or is not built; create it with keras.Input(...) "
                         "first (or call model.build(input_shape)).")
    kw.setdefault("legend_text_spacing_offset", 0)
    if legend:
        kw.setdefault("font", _font(font_size))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = vk.layered_view(model, legend=legend, **kw)
    except (AttributeError, RuntimeError, TypeError, ValueError) as err:
        if version in VISUALKERAS_OK:
            raise
        raise RuntimeError(
            f"visualkeras {version} failed to draw this Keras {_keras_version()} model ({err}). "
            f"Releases after 0.1.4 break on Keras 3; install the one the book is tested with: "
            "pip install visualkeras==0.1.4"
        ) from err
    if title:
        img = _add_title(img, title, font_size + 2)
    return img


def _keras_version() -> str:
    try:
        return metadata.version("keras")
    except metadata.PackageNotFoundError:  # pragma: no cover
        return "?"


# --------------------------------------------------------------------------------------------
# Parameter counts
# --------------------------------------------------------------------------------------------
def layer_parameters(layer) -> int:
    """A layer's parameter count by formula: ``(k_h k_w C_in + 1) C_out`` for a 2-D convolution,
    ``(n_in + 1) n_out`` for a dense layer (without the ``+ 1`` when the layer has no bias),
    0 for every other layer (pooling, flatten, dropout, augmentation).
    """
    from keras import layers

    bias = 1 if getattr(layer, "use_bias", False) else 0
    if isinstance(layer, layers.Conv2D):
        k_h, k_w = layer.kernel_size
        return (k_h * k_w * layer.input.shape[-1] // layer.groups + bias) * layer.filters
    if isinstance(layer, layers.Dense):
        return (layer.input.shape[-1] + bias) * layer.units
    return 0


def parameter_table(model, check: bool = True):
    """Output shape and parameter count of every layer of a built Keras model, by formula
    (:func:`layer_parameters`) and by Keras's ``count_params()``.

    With ``check`` (the default) a ``ValueError`` is raised when the two disagree, e.g. for a
    layer type the formula does not cover.
    """
    import pandas as pd

    rows = [{"layer": layer.name, "type": type(layer).__name__,
             "output shape": tuple(layer.output.shape[1:]),
             "parameters (formula)": layer_parameters(layer),
             "parameters (Keras)": layer.count_params()} for layer in model.layers]
    table = pd.DataFrame(rows)
    bad = table[table["parameters (formula)"] != table["parameters (Keras)"]]
    if check and len(bad):
        raise ValueError(f"formula and Keras disagree for layers {bad['layer'].tolist()}")
    return table


# --------------------------------------------------------------------------------------------
# Receptive field
# --------------------------------------------------------------------------------------------
_SPEC = re.compile(r"^(conv|pool|maxpool|avgpool)(\d+)(?:s(\d+))?(?:d(\d+))?$")


def _pair(v) -> int:
    if isinstance(v, (tuple, list)):
        if len(set(v)) != 1:
            raise ValueError(f"only square kernels/strides are supported, got {v}")
        return int(v[0])
    return int(v)


def _parse_spec(item) -> dict:
    """One layer spec: "conv3", "conv3s2", "pool2", "pool3s2", a tuple or a dict."""
    if isinstance(item, dict):
        kind = item.get("kind", item.get("type", "conv"))
        k = _pair(item["kernel"])
        s = _pair(item.get("stride", 2 if "pool" in kind else 1))
        d = _pair(item.get("dilation", 1))
        return {"layer": item.get("name", f"{kind}{k}"), "kernel": k, "stride": s, "dilation": d,
                "padding": item.get("padding", "valid")}
    if isinstance(item, (tuple, list)):
        kind, k, *rest = item
        s = rest[0] if rest else (k if "pool" in kind else 1)
        return _parse_spec({"kind": kind, "kernel": k, "stride": s, "name": f"{kind}{k}"})
    m = _SPEC.match(str(item).strip().lower().replace("x", ""))
    if not m:
        raise ValueError(f"cannot read layer spec {item!r}; use e.g. 'conv3', 'conv3s2', 'pool2' "
                         "or ('conv', 3, 1)")
    kind, k, s, d = m.group(1), int(m.group(2)), m.group(3), m.group(4)
    stride = int(s) if s else (k if "pool" in kind else 1)
    return {"layer": str(item), "kernel": k, "stride": stride, "dilation": int(d) if d else 1,
            "padding": "valid"}


def _model_specs(model) -> list[dict]:
    specs = []
    for layer in model.layers:
        cfg = layer.get_config()
        name = type(layer).__name__
        if "kernel_size" in cfg and name.startswith(("Conv", "DepthwiseConv", "SeparableConv")):
            specs.append({"layer": layer.name, "kernel": _pair(cfg["kernel_size"]),
                          "stride": _pair(cfg.get("strides", 1)),
                          "dilation": _pair(cfg.get("dilation_rate", 1)),
                          "padding": cfg.get("padding", "valid")})
        elif "pool_size" in cfg:
            pool = _pair(cfg["pool_size"])
            stride = cfg.get("strides") or pool
            specs.append({"layer": layer.name, "kernel": pool, "stride": _pair(stride),
                          "dilation": 1, "padding": cfg.get("padding", "valid")})
        elif name in ("Flatten", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Dense"):
            break  # from here on every value sees the whole image
    return specs


def receptive_field(model_or_specs, input_size: int | None = None):
    """Receptive field, layer by layer, of a Keras model or a list of layer specs.

    Specs are strings such as ``"conv3"`` (3x3, stride 1), ``"conv3s2"`` (stride 2), ``"pool2"``
    (2x2, stride 2), tuples ``("conv", 3, 1)`` or dicts with ``kernel``, ``stride``, ``dilation``.
    Layers that do not move a window (activation, batch norm, dropout) leave the field unchanged
    and are skipped; the table stops at ``Flatten``/``Dense``, after which every value sees the
    whole input.

    With ``r`` the receptive field and ``j`` the *jump* (input pixels between two neighbouring
    outputs), a layer with kernel ``k``, stride ``s`` and dilation ``d`` gives
    ``r' = r + (k - 1) * d * j`` and ``j' = j * s``.  Returns a DataFrame with one row per layer
    (``layer, kernel, stride, dilation, jump, receptive_field`` and, when ``input_size`` is
    given, ``output_size``).
    """
    import pandas as pd

    if hasattr(model_or_specs, "layers"):
        specs = _model_specs(model_or_specs)
        if input_size is None:
            shape = getattr(model_or_specs, "input_shape", None)
            if shape is not None and len(shape) == 4 and shape[1] is not None:
                input_size = int(shape[1])
    else:
        specs = [_parse_spec(s) for s in model_or_specs]
    rows, r, j, n = [], 1, 1, input_size
    for sp in specs:
        k_eff = (sp["kernel"] - 1) * sp["dilation"] + 1
        r = r + (k_eff - 1) * j
        j = j * sp["stride"]
        row = {"layer": sp["layer"], "kernel": sp["kernel"], "stride": sp["stride"],
               "dilation": sp["dilation"], "jump": j, "receptive_field": r}
        if n is not None:
            if sp["padding"] == "same":
                n = -(-n // sp["stride"])
            else:
                n = (n - k_eff) // sp["stride"] + 1
            row["output_size"] = n
        rows.append(row)
    cols = ["layer", "kernel", "stride", "dilation", "jump", "receptive_field"]
    return pd.DataFrame(rows, columns=cols + (["output_size"] if input_size is not None else []))


# --------------------------------------------------------------------------------------------
# Feature maps and filters
# --------------------------------------------------------------------------------------------
def feature_maps(model, image, layers=None) -> dict:
    """What the chosen layers output for one image: ``{layer name: array (H, W, C)}``.

    ``image`` is one image (H, W, C) or a batch of one (1, H, W, C).  ``layers`` are layer names
    or layer objects; by default every layer with an image-shaped (4-D) output.  Internally a
    ``keras.Model`` is built on the model's input with the intermediate outputs as outputs.
    """
    import keras

    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        raise ValueError("the model is not built: create it with keras.Input(...) first "
                         "(or call it once on data).")
    if layers is None:
        chosen = [l for l in model.layers if len(getattr(l.output, "shape", ())) == 4]
    else:
        chosen = [model.get_layer(l) if isinstance(l, str) else l for l in layers]
    if not chosen:
        raise ValueError("no layer with an image-shaped output to show")
    probe = keras.Model(inputs=inputs, outputs=[l.output for l in chosen])
    x = np.asarray(image, dtype="float32")
    if x.ndim == len(inputs[0].shape) - 1:
        x = x[None]
    if x.shape[0] != 1:
        raise ValueError(f"give one image, not a batch of {x.shape[0]}")
    outs = probe.predict(x, verbose=0)
    if not isinstance(outs, (list, tuple)):
        outs = [outs]
    return {l.name: np.asarray(o)[0] for l, o in zip(chosen, outs)}


def show_filters(layer, ncols: int = 8, size: float = 1.1, title: str | None = None):
    """Plot the kernels of a Conv2D layer (first input channel), one panel per filter."""
    import matplotlib.pyplot as plt

    w = np.asarray(layer.get_weights()[0])  # (kh, kw, in, out)
    n = w.shape[-1]
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.5), squeeze=False)
    lim = np.abs(w[:, :, 0, :]).max() or 1.0
    for k, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if k < n:
            ax.imshow(w[:, :, 0, k], cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_title(f"filter {k}", fontsize=7)
    fig.suptitle(title or f"{layer.name}: {n} learned {w.shape[0]}x{w.shape[1]} filters "
                 "(red +, blue -)")
    fig.tight_layout()
    return fig


def show_feature_maps(maps: dict, image=None, n: int = 6, size: float = 1.5,
                      title: str = "Feature maps"):
    """One row per layer, ``n`` channels each (the most active ones), input image first."""
    import matplotlib.pyplot as plt

    names = list(maps)
    ncols = n + (image is not None)
    fig, axes = plt.subplots(len(names), ncols, figsize=(size * ncols, size * len(names) + 0.5),
                             squeeze=False)
    for r, name in enumerate(names):
        fm = maps[name]
        order = np.argsort(fm.reshape(-1, fm.shape[-1]).mean(0))[::-1][:n]
        for c, ax in enumerate(axes[r]):
            ax.axis("off")
        col = 0
        if image is not None:
            col = 1
            if r == 0:
                img = np.asarray(image)
                axes[r, 0].imshow(img[..., 0] if img.ndim == 3 else img, cmap="gray")
                axes[r, 0].set_title("input", fontsize=7)
        for i, ch in enumerate(order):
            ax = axes[r, col + i]
            ax.imshow(fm[..., ch], cmap="magma")
            ax.set_title(f"{name} #{ch}\n{fm.shape[0]}x{fm.shape[1]}", fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Grad-CAM
# --------------------------------------------------------------------------------------------
def last_conv_layer(model) -> str:
    """Name of the last layer with a 4-D (image-shaped) output."""
    for layer in reversed(model.layers):
        shape = getattr(layer.output, "shape", ())
        if len(shape) == 4:
            return layer.name
    raise ValueError(f"{model.name} has no layer with an image-shaped output")


def grad_cam(model, images, layer_name: str | None = None, class_index=None,
             upsample: bool = True, batch_size: int = 16) -> np.ndarray:
    """Grad-CAM heatmaps of ``model`` (Selvaraju et al., 2017) for one image or a batch.

    For each image, the gradient of the class score with respect to the feature maps ``A_k`` of
    ``layer_name`` (default: :func:`last_conv_layer`) is averaged over space to give one weight
    ``alpha_k`` per channel; the heatmap is ``ReLU(sum_k alpha_k A_k)``, divided by its maximum
    (at the layer's resolution) so that it lies in [0, 1], and with ``upsample`` resized
    bilinearly to the image.

    The class score is the *logit* (pre-activation) of the output layer when that is a Dense
    layer with a sigmoid or softmax, so that a confident prediction (probability near 1) does
    not make the gradient vanish.  ``class_index``: ``None`` explains the predicted class of each
    image, a number the same class for every image, a sequence one class per image.  For a
    single sigmoid output, ``1`` is the positive class (score = logit) and ``0`` the negative one
    (score = -logit).

    ``images`` are what the model takes (e.g. :func:`utils.transfer.preprocess`-ed): one image
    (H, W, C) gives one (H, W) map, a batch (N, H, W, C) gives (N, H, W) maps
    (``upsample=False``: the layer's h x w); ``batch_size`` images go through the network at once.
    The model must have one output; images do not influence each other's maps.
    """
    import keras
    import tensorflow as tf

    x_all = np.asarray(images, dtype=np.float32)
    single = x_all.ndim == len(model.inputs[0].shape) - 1
    if single:
        x_all = x_all[None]
    layer_name = layer_name or last_conv_layer(model)
    last = model.layers[-1]
    activation = getattr(getattr(last, "activation", None), "__name__", "")
    use_logit = isinstance(last, keras.layers.Dense) and activation in ("sigmoid", "softmax")
    out_tensor = last.input if use_logit else model.output
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    probe = keras.Model(inputs, [model.get_layer(layer_name).output, out_tensor])
    classes = (None if class_index is None
               else np.broadcast_to(np.asarray(class_index, dtype=np.int64), (len(x_all),)))
    cams = []
    for start in range(0, len(x_all), batch_size):
        x = x_all[start:start + batch_size]
        chosen = None if classes is None else classes[start:start + len(x)]
        with tf.GradientTape() as tape:
            fmap, out = probe(x, training=False)
            tape.watch(fmap)
            if use_logit:
                out = tf.matmul(out, last.kernel) + last.bias
            out = tf.reshape(out, (len(x), -1))
            if out.shape[-1] == 1:  # one sigmoid output: class 1 is +logit, class 0 is -logit
                positive = out[:, 0] >= 0 if chosen is None else tf.constant(chosen == 1)
                score = tf.reduce_sum(tf.where(positive, out[:, 0], -out[:, 0]))
            else:
                idx = tf.argmax(out, axis=1) if chosen is None else tf.constant(chosen)
                score = tf.reduce_sum(tf.gather(out, idx, axis=1, batch_dims=1))
        grads = tape.gradient(score, fmap)  # each image's map gets its own score's gradient
        if grads is None:
            raise ValueError(f"no gradient flows from the output to {layer_name}")
        alpha = tf.reduce_mean(grads, axis=(1, 2))  # (n, C): one weight per channel
        cam = tf.nn.relu(tf.reduce_sum(fmap * alpha[:, None, None, :], axis=-1)).numpy()
        peak = cam.reshape(len(cam), -1).max(axis=1)[:, None, None]
        cam = np.where(peak > 0, cam / np.where(peak > 0, peak, 1), 0).astype(np.float32)
        if upsample:
            cam = tf.image.resize(cam[..., None], x.shape[1:3], method="bilinear").numpy()[..., 0]
            cam = np.clip(cam, 0.0, 1.0)
        cams.append(cam.astype(np.float32))
    cams = np.concatenate(cams)
    return cams[0] if single else cams


def overlay_heatmap(image, heatmap, alpha: float = 0.45, cmap: str = "jet") -> np.ndarray:
    """Blend a [0, 1] ``heatmap`` (any size) over ``image`` (gray or RGB, [0, 1] or [0, 255]);
    returns an RGB float image in [0, 1]."""
    import matplotlib

    img = np.asarray(image, dtype=np.float32)
    if img.size and img.max() > 1.5:
        img = img / 255.0
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    heat = np.asarray(heatmap, dtype=np.float32)
    if heat.shape != img.shape[:2]:
        from PIL import Image

        heat = np.asarray(Image.fromarray(heat).resize(img.shape[1::-1], Image.BILINEAR))
    colour = matplotlib.colormaps[cmap](np.clip(heat, 0, 1))[..., :3]
    return np.clip((1 - alpha) * img + alpha * colour, 0, 1)


def cam_share_inside(cams, masks) -> np.ndarray:
    """Per image, the share of the Grad-CAM mass that lies inside its mask (lungs, tumour).

    ``cams``: (N, H, W) maps of :func:`grad_cam`; ``masks``: the same number of 0/1 masks of
    the same size.  NaN for a map without any mass.  Compare it with the mask's share of the
    image: a model that looked anywhere at random would put about that much inside."""
    c = np.asarray(cams, dtype=np.float64)
    m = np.asarray(masks, dtype=np.float64).reshape(c.shape)
    total = c.reshape(len(c), -1).sum(1)
    return np.where(total > 0, (c * m).reshape(len(c), -1).sum(1) / np.maximum(total, 1e-12), np.nan)


def brightest_point(image, cells: int = 7) -> tuple[int, int]:
    """The centre of the brightest region of ``image``: the pixel where the mean intensity over a
    window of ``1/cells`` of the image (a Grad-CAM cell of a ``cells x cells`` map) is highest.

    The baseline of the pointing game: a "heatmap" that knows nothing but brightness (tumours
    are often the brightest structure of a T1 contrast or T2 slice).  ``image`` is (H, W) or
    (H, W, C) (channels are averaged).  Returns ``(row, col)``.
    """
    from scipy.ndimage import uniform_filter

    img = np.asarray(image, dtype=float)
    if img.ndim == 3:
        img = img.mean(axis=-1)
    if img.ndim != 2:
        raise ValueError(f"image must be (H, W) or (H, W, C), not {np.shape(image)}")
    window = max(1, round(min(img.shape) / cells))
    smooth = uniform_filter(img, size=window, mode="constant")
    return tuple(int(v) for v in np.unravel_index(np.argmax(smooth), smooth.shape))
