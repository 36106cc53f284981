"""Looking inside a CNN: architecture drawings, receptive fields, filters and feature maps.

* :func:`layered_view` draws a Keras model as stacked boxes (visualkeras, the tool the paper
  used for its figure 11), made safe for Keras 3;
* :func:`parameter_table` lists every layer's output shape and parameter count, by formula and
  by Keras (and checks that the two agree);
* :func:`receptive_field` computes, layer by layer, how many input pixels one output value sees;
* :func:`feature_maps` returns what every (or the chosen) layer outputs for one image;
* :func:`show_filters` and :func:`show_feature_maps` plot them.
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
