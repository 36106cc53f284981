"""Author chapters 04 (pooling and CNN anatomy) and 05 (evaluating a classifier).

    python3 scripts/chapters/make_04_05.py

writes notebooks/04_pooling_cnn.ipynb and notebooks/05_evaluation.ipynb without outputs.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from scripts.nbtools import code, exercise, md, setup, write  # noqa: E402


# =============================================================================================
# Chapter 04: pooling and CNN anatomy
# =============================================================================================
ch04 = [
md("""
# Pooling and the anatomy of a CNN

A convolutional neural network (CNN) is a stack of three kinds of layers: convolutions that
detect local patterns, **pooling** layers that shrink the feature maps, and **dense** (fully
connected) layers that turn the last maps into a prediction {cite}`dogan_paper`
{cite}`yamashita2018convolutional`. The previous chapter built convolutions; this one adds the
other two, trains a small CNN on the brain MRI set and opens it up: its filters, its feature
maps, how far each of its neurons can see, and a drawing of its architecture.

**Learning objectives.** After this chapter you can

- compute max and average pooling by hand and check the result against Keras;
- say what pooling does to an image, to the size of the feature maps and to the parameter count;
- count the parameters of convolution, flatten and dense layers with a formula;
- train a small CNN on the brain MRI set with a grouped (leakage-free) hold-out split;
- show a trained network's first-layer filters and the feature maps of one image after every block;
- compute how the receptive field grows from layer to layer;
- draw a model's architecture with visualkeras.
"""),
setup(),
code("""
import inspect

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle

import utils
from utils import datasets, metrics, plots, splits, viz
from utils import fundamentals as F
from utils.checks import pooling_cnn as ex
"""),
code("""
env = utils.setup()
"""),
md("""
`utils.setup()` also seeds Keras, so the network trained below starts from the same random
weights on every run (on the same machine and library versions).

## Pooling by hand

A pooling layer slides a small window over each feature map and replaces the values under the
window by one number: their **maximum** (max pooling) or their **mean** (average pooling). With
a 2x2 window and stride 2 the windows do not overlap, and every map shrinks to half its height
and width. A pooling layer has no weights to learn {cite}`dogan_paper`. The paper's Fig. 3
illustrates this; its text gives only the caption, not the numbers, so we use the standard
example of that kind, a 4x4 input. `utils.fundamentals.pool2d` computes it with a plain loop:
"""),
code("""
print(inspect.getsource(F.pool2d))
"""),
code("""
x = np.array([[1, 1, 2, 4],
              [5, 6, 7, 8],
              [3, 2, 1, 0],
              [1, 2, 3, 4]])
max_out, avg_out = F.pool2d(x, how="max"), F.pool2d(x, how="mean")
print("max pooling:\\n", max_out, "\\naverage pooling:\\n", avg_out)
"""),
md("""
Keras implements the same operations as layers. They expect a batch of images with channels,
shape `(batch, height, width, channels)`, so the 4x4 array becomes `(1, 4, 4, 1)`:
"""),
code("""
import keras
from keras import layers

x4 = x[None, :, :, None].astype("float32")           # (batch, height, width, channels)
keras_max = keras.ops.convert_to_numpy(layers.MaxPooling2D(pool_size=2, strides=2)(x4))[0, :, :, 0]
keras_avg = keras.ops.convert_to_numpy(layers.AveragePooling2D(pool_size=2, strides=2)(x4))[0, :, :, 0]
np.testing.assert_allclose(keras_max, max_out)
np.testing.assert_allclose(keras_avg, avg_out)
assert np.array_equal(max_out, [[6, 8], [3, 4]]) and np.allclose(avg_out, [[3.25, 5.25], [2, 2]])
print("NumPy and Keras agree; trainable parameters of a pooling layer:",
      layers.MaxPooling2D(2).count_params())
"""),
code("""
blocks = np.array([[0, 1], [2, 3]])                  # one colour per 2x2 window
fig, axes = plt.subplots(1, 3, figsize=(9, 3.3), gridspec_kw={"width_ratios": [2, 1, 1]})
F.draw_matrix(axes[0], x, blocks=np.kron(blocks, np.ones((2, 2), int)), fontsize=13,
              title="input 4x4 (windows coloured)")
F.draw_matrix(axes[1], max_out, blocks=blocks, fontsize=13, title="max pooling")
F.draw_matrix(axes[2], avg_out, blocks=blocks, fontsize=13, title="average pooling")
fig.suptitle("2x2 pooling with stride 2 (an example of the kind shown in the paper's Fig. 3)")
fig.tight_layout()
"""),
md("""
Window size, stride and padding decide the output size. With `padding="valid"` (the default)
a window must fit inside the input, so the output has $\\lfloor (n - k)/s \\rfloor + 1$ rows;
with `padding="same"` the input is padded so that the output has $\\lceil n/s \\rceil$ rows.
Keras computes these shapes without running anything:
"""),
code("""
rows = []
for size, stride, padding in [(2, 2, "valid"), (2, 1, "valid"), (3, 2, "valid"), (3, 2, "same")]:
    layer = layers.MaxPooling2D(pool_size=size, strides=stride, padding=padding)
    rows.append({"pool size": size, "stride": stride, "padding": padding,
                 "4x4 input ->": layer.compute_output_shape((1, 4, 4, 1))[1:3],
                 "128x128 input ->": layer.compute_output_shape((1, 128, 128, 1))[1:3]})
pd.DataFrame(rows)
"""),
md("""
## Pooling a brain MRI

The same operation on a real image. We load the brain MRI set {cite}`chakrabarty2019brainmri`
at 128x128 pixels in full mode, as the paper does, and at 64x64 in quick mode.
"""),
code("""
size = utils.by_mode(quick=64, full=128)
data = datasets.load_brain_mri(size=size)
print(f"{len(data)} images of {data.X.shape[1:]}, pixel values in [{data.X.min():.0f}, {data.X.max():.0f}], "
      f"{data.y.mean():.0%} with tumour, {len(set(data.groups))} near-duplicate groups")
"""),
code("""
idx = int(np.flatnonzero(data.table["file"] == "yes/Y164.JPG")[0])   # a large, bright tumour
image = data.X[idx]


def pooled(img, layer_class, times):
    out = img[None]
    for _ in range(times):
        out = layer_class(2)(out)
    return keras.ops.convert_to_numpy(out)[0]


shown = [image] + [pooled(image, layers.MaxPooling2D, t) for t in (1, 2, 3)] \\
        + [pooled(image, layers.AveragePooling2D, 3)]
titles = ["input"] + [f"max pool x{t}" for t in (1, 2, 3)] + ["average pool x3"]
titles = [f"{t}\\n{s.shape[0]}x{s.shape[1]}" for t, s in zip(titles, shown)]
fig = plots.image_grid(shown, titles=titles, ncols=5, size=2.2,
                       suptitle="Repeated 2x2 pooling of one MRI (every panel drawn at the same size)")
fig.subplots_adjust(top=0.78)
"""),
md("""
Each 2x2 max pooling keeps a quarter of the values. After three poolings 1/64 of the pixels are
left, yet the bright tumour is still visible: max pooling keeps the *strongest* response of
each window, so a bright structure survives, while average pooling blurs it into its
surroundings. Inside a CNN the input of a pooling layer is a feature map, not the image, and
"bright" means "this filter responded strongly here". Pooling makes the network cheaper and a
little tolerant to small shifts, because the maximum of a window does not care where in the
window the response was.

## Flatten and dense layers

After the last pooling layer the feature maps are **flattened** into one long vector and fed
to one or more **dense** layers, in which every input is connected to every output by a
learnable weight {cite}`dogan_paper`. Counting parameters shows where a network's weights sit:

- a convolution with $C_\\text{out}$ filters of size $k \\times k$ on $C_\\text{in}$ input
  channels has $(k \\cdot k \\cdot C_\\text{in} + 1)\\, C_\\text{out}$ parameters (one bias per filter);
- a dense layer from $n_\\text{in}$ to $n_\\text{out}$ values has $(n_\\text{in} + 1)\\, n_\\text{out}$;
- pooling, flatten and dropout layers have none.

The paper's brain tumour CNN (section 3.3) has two blocks of two 4x4 convolutions (32 and 16
filters, ReLU) followed by 2x2 max pooling, then flatten and a single sigmoid output. We build
it on 128x128 grayscale input and check the formulas against Keras with
`utils.viz.parameter_table`, which computes every layer's count by the formulas above and
raises an error if Keras counts differently:
"""),
code("""
print(inspect.getsource(viz.layer_parameters))
"""),
code("""
paper_cnn = keras.Sequential([
    keras.Input((128, 128, 1)),
    layers.Conv2D(32, 4, activation="relu", name="conv1"),
    layers.Conv2D(16, 4, activation="relu", name="conv2"),
    layers.MaxPooling2D(2, name="pool1"),
    layers.Conv2D(32, 4, activation="relu", name="conv3"),
    layers.Conv2D(16, 4, activation="relu", name="conv4"),
    layers.MaxPooling2D(2, name="pool2"),
    layers.Flatten(name="flatten"),
    layers.Dense(1, activation="sigmoid", name="output"),
], name="paper_cnn")
paper_table = viz.parameter_table(paper_cnn)
paper_table
"""),
code("""
total = paper_table["parameters (Keras)"].sum()
dense = paper_table.loc[paper_table["type"] == "Dense", "parameters (Keras)"].sum()
conv = paper_table.loc[paper_table["type"] == "Conv2D", "parameters (Keras)"]
mlp = (100 * 100 + 1) * 100 + (100 + 1) * 1    # the paper's example: 100x100 input, 100 hidden units
assert conv.max() < dense < conv.sum()        # the largest single layer, but not most of the weights
print(f"paper's CNN: {total:,} parameters; the final dense layer (one output) holds {dense:,} "
      f"= {dense / total:.0%} of them, the four convolutions {conv.sum():,} = {conv.sum() / total:.0%} "
      f"(the largest convolution {conv.max():,})")
print(f"a dense network on 100x100 pixels with one hidden layer of 100 units: {mlp:,} parameters")
"""),
md("""
The convolutions share their few weights across the whole image, so each of them stays small
however large the image is. The dense layer has a single output, yet it is the largest layer of
the network: every one of the flattened values gets its own weight. Together the four
convolutions still hold most of the parameters (the shares are printed above); with more dense
units, or a larger input image and therefore more flattened values, the balance tips towards
the dense end. A fully connected network on the raw pixels would need far more than either,
which is the paper's argument for CNNs.

## A small CNN for the brain MRI set

We now train a CNN of our own. It is smaller than the paper's and made of three **blocks**, each
a 3x3 convolution (ReLU, `padding="same"`) followed by 2x2 max pooling, with 8, 16 and 32
filters; then flatten, dropout and one sigmoid output (the probability of a tumour). Three
blocks give three feature-map scales to look at later, and the model trains in seconds on a CPU.
Two layers in front, `RandomFlip` and `RandomTranslation`, mirror and shift each training image
a little (a new random version in every epoch) and do nothing at prediction time; together
with dropout they slow down memorising the few training images.

The split is a **grouped** 80/20 hold-out: the brain MRI set contains near-duplicate images
(see the data tour), and all copies of one picture must stay on the same side of the split.
"""),
code("""
train_idx, test_idx = splits.grouped_holdout(data.y, data.groups, test_size=0.2, seed=42)
splits.check_split(train_idx, test_idx, data.groups)          # raises if a group straddles
X_train, y_train = data.X[train_idx], data.y[train_idx]
X_test, y_test = data.X[test_idx], data.y[test_idx]
print(f"train {len(train_idx)} images ({y_train.mean():.0%} tumour), "
      f"test {len(test_idx)} images ({y_test.mean():.0%} tumour), no duplicate group on both sides")
"""),
code("""
def make_cnn(size):
    return keras.Sequential([
        keras.Input((size, size, 1)),
        layers.RandomFlip("horizontal", name="flip"),              # training only
        layers.RandomTranslation(0.05, 0.05, name="shift"),        # training only
        layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1"),
        layers.MaxPooling2D(2, name="pool1"),
        layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2"),
        layers.MaxPooling2D(2, name="pool2"),
        layers.Conv2D(32, 3, padding="same", activation="relu", name="conv3"),
        layers.MaxPooling2D(2, name="pool3"),
        layers.Flatten(name="flatten"),
        layers.Dropout(0.5, name="dropout"),
        layers.Dense(1, activation="sigmoid", name="output"),
    ], name="small_cnn")


utils.seed_everything()        # the same initial weights, whatever ran before this cell
model = make_cnn(size)
viz.parameter_table(model)
"""),
md("""
The paper drew its architecture with visualkeras {cite}`gavrikov2020visualkeras`.
`utils.viz.layered_view` wraps it for Keras 3 (newer visualkeras releases fail there; the wrapper
says which version to install) and adds a title. Each box is one layer's output: its height is
the map size, its depth the number of channels (the two augmentation layers are left out).
"""),
code("""
viz.layered_view(model, title=f"small_cnn on {size}x{size} MRI slices", scale_xy=1.5,
                 scale_z=1, max_z=120, spacing=14,
                 type_ignore=[layers.RandomFlip, layers.RandomTranslation])
"""),
md("""
Training uses binary cross-entropy and Adam, as in the paper. We pass the test split as
`validation_data` only to *watch* it during training; nothing (no epoch, no setting) is chosen on
it, so the final test accuracy remains an honest estimate.
"""),
code("""
epochs = utils.by_mode(quick=2, full=15)
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy", metrics=["accuracy"])
history = model.fit(X_train, y_train, validation_data=(X_test, y_test), epochs=epochs,
                    batch_size=16, verbose=0)

hist = pd.DataFrame(history.history)
hist.index += 1
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
hist[["loss", "val_loss"]].plot(ax=axes[0], marker="o", title="Loss")
hist[["accuracy", "val_accuracy"]].plot(ax=axes[1], marker="o", title="Accuracy")
for ax in axes:
    ax.set_xlabel("epoch")
    ax.legend(["train", "test (watched only)"], fontsize=8)
fig.suptitle(f"Training the small CNN for {epochs} epochs")
fig.tight_layout()
low_epoch = hist["val_loss"].idxmin()
print(f"hold-out loss: epoch 1 {hist['val_loss'].iloc[0]:.3f}, lowest {hist['val_loss'].min():.3f} "
      f"(epoch {low_epoch}), last {hist['val_loss'].iloc[-1]:.3f}; hold-out accuracy: epoch 1 "
      f"{hist['val_accuracy'].iloc[0]:.1%}, at the lowest loss {hist['val_accuracy'].loc[low_epoch]:.1%}, "
      f"last {hist['val_accuracy'].iloc[-1]:.1%}")
share = y_train.mean()  # always answering the training share of tumours: no image needed
base_loss = -np.mean(y_test * np.log(share) + (1 - y_test) * np.log(1 - share))
last_loss = hist["val_loss"].iloc[-1]
print(f"base-rate loss on the hold-out images (always p = {share:.2f}): {base_loss:.3f}; the last "
      f"hold-out loss is {'above' if last_loss > base_loss else 'below'} it and "
      f"{last_loss - hist['val_loss'].min():.3f} above its lowest value (epoch {low_epoch} of {epochs})")
"""),
code("""
probabilities = model.predict(X_test, verbose=0).ravel()
y_pred = (probabilities >= 0.5).astype(int)
k, n = int((y_pred == y_test).sum()), len(y_test)
low, high = metrics.wilson_ci(k, n)
majority = max(y_test.mean(), 1 - y_test.mean())
print(f"hold-out accuracy {k}/{n} = {k / n:.1%} (95% interval {low:.0%} to {high:.0%}); "
      f"always answering the majority class: {majority:.1%}")
"""),
md("""
Read the curves first (the key values are printed above). The training curves show how well
the network fits the images it learns from; the hold-out curves show what carries over to new
images. The hold-out loss and the hold-out accuracy need not move together. Accuracy only
counts which side of 0.5 each probability falls on, whereas the cross-entropy loss also punishes
*confident* mistakes heavily. When the hold-out accuracy climbs while the hold-out loss stalls
or rises, the network gets more images right but is increasingly over-confident about the ones
it gets wrong, an early sign that it starts to memorise its few hundred training images
(overfitting). The second printed line says whether this run shows it: the epoch of the lowest
hold-out loss, how far the loss rose after it, and how the last hold-out loss compares with the
base-rate loss, the loss of always answering the training share of tumours (no image needed).
A model whose hold-out loss ends above that baseline while its accuracy beats the majority class
is right more often but over-confident when wrong. Then compare the accuracy
with the trivial "majority class" answer and with the paper's 78 %. Whether such a difference means
anything on 51 test images (the interval printed above, and how much the number moves with
the seed and the split) is the subject of {doc}`05_evaluation`.

## What the first layer learned

Each filter of the first convolution is a 3x3 grid of weights applied to the raw image. Red
weights add the pixel under them, blue ones subtract it; a filter with red on one side and blue
on the other responds to an edge.
"""),
code("""
fig = viz.show_filters(model.get_layer("conv1"), ncols=8, size=1.2)
"""),
md("""
With 200 training images and a few epochs, the filters are noisy versions of edge and blob
detectors; networks trained on millions of images learn cleaner ones. What a filter *does* is
easier to see in its output.

## Feature maps: the paper's koala figure on an MRI

The paper explains a CNN with a koala picture (its Fig. 4, after {cite}`codebasics2020simple`):
the first convolution extracts small features such as eyes and nose, pooling shrinks them, the
second convolution combines them into larger features, and a dense layer decides "koala or
not". `utils.viz.feature_maps` builds a Keras model whose outputs are the intermediate layers
and runs one image through it; below are the six most active channels of every convolution and
pooling layer for the MRI from above.
"""),
code("""
maps = viz.feature_maps(model, image, layers=["conv1", "pool1", "conv2", "pool2", "conv3", "pool3"])
print({name: fmap.shape for name, fmap in maps.items()})
fig = viz.show_feature_maps(maps, image=image, n=6, size=1.45,
                            title=f"Feature maps of one MRI (file {data.table['file'][idx]}) after each layer")
"""),
md("""
The first layer's maps still look like the image, filtered: edges of the skull and the tumour,
bright or dark regions. Every pooling halves the maps, and the deeper maps become coarse
patterns in which single values stand for whole regions. The last pooled maps are what the
dense layer sees after flattening.

## How far does a neuron see? Receptive fields

The **receptive field** of a value in a feature map is the patch of input pixels it depends on.
A 3x3 convolution on the image sees 3x3 pixels; a second 3x3 convolution on top sees 3x3
values of the first, i.e. 5x5 pixels. After a stride-2 pooling, neighbouring values are 2 input
pixels apart (the **jump** $j$), so every later layer grows the field twice as fast. Layer by
layer, with kernel $k$, stride $s$ and dilation $d$:

$$r_\\ell = r_{\\ell-1} + (k_\\ell - 1)\\, d_\\ell\\, j_{\\ell-1}, \\qquad j_\\ell = j_{\\ell-1}\\, s_\\ell,
\\qquad r_0 = j_0 = 1.$$

`utils.viz.receptive_field` applies this to a model (or a list of layer specs such as
`["conv3", "pool2"]`):
"""),
code("""
rf = viz.receptive_field(model)
rf
"""),
code("""
viz.receptive_field(paper_cnn)
"""),
code("""
pairs = datasets.brain_mri_mask_pairs().set_index("image")
tumour = utils.read_image(pairs.loc["yes/Y164.JPG", "mask_path"], size=size, resample="nearest") > 127
centre = np.argwhere(tumour).mean(axis=0)       # the tumour mask's centre (row, column) in pixels
side = "training" if idx in train_idx else "hold-out"
print(f"tumour centre of {data.table['file'][idx]}: row {centre[0]:.0f}, column {centre[1]:.0f} of {size} "
      f"(fractions {centre[0] / size:.2f}, {centre[1] / size:.2f}); the image is in the {side} split")
fig, ax = plt.subplots(figsize=(4.5, 4.5))
ax.imshow(image[..., 0], cmap="gray")
for (name, r), colour in zip(rf.set_index("layer")["receptive_field"].items(),
                             plt.cm.autumn(np.linspace(0, 0.9, len(rf)))):
    if name.startswith("conv") or name == "pool3":
        ax.add_patch(Rectangle((centre[1] - r / 2, centre[0] - r / 2), r, r, fill=False,
                               lw=2, color=colour, label=f"{name}: {r}x{r} px"))
ax.legend(fontsize=8, loc="lower right")
ax.contour(tumour, levels=[0.5], colors="cyan", linewidths=1)
ax.set(title="Receptive field of one value after each block", xticks=[], yticks=[])
fig.tight_layout()
"""),
md("""
Even after three blocks a single value sees only a part of the image; only the dense layer,
which looks at all flattened values at once, combines the whole slice. Pooling is what makes
the receptive field grow quickly: without it, a stack of 3x3 convolutions grows by 2 pixels per
layer.
"""),
code("""
depths = np.arange(1, 11)
only_conv = [viz.receptive_field(["conv3"] * d)["receptive_field"].iloc[-1] for d in depths]
with_pool = [viz.receptive_field(["conv3", "pool2"] * d)["receptive_field"].iloc[-1] for d in depths]
fig, ax = plt.subplots(figsize=(6, 3.6))
ax.plot(depths, only_conv, "o-", label="3x3 convolutions only")
ax.plot(depths, with_pool, "s-", label="blocks of 3x3 conv + 2x2 max pool")
ax.axhline(size, color="grey", ls="--", label=f"image size ({size} px)")
ax.set(yscale="log", xlabel="number of 3x3 convolutions", ylabel="receptive field (pixels)",
       title="Receptive field growth with and without pooling")
ax.legend(fontsize=8)
fig.tight_layout()
"""),
md("""
## Summary

- Pooling replaces each window of a feature map by its maximum or mean; 2x2 pooling with
  stride 2 halves height and width and has no parameters. NumPy and Keras give the same numbers.
- Flatten turns the last feature maps into a vector; dense layers connect every value of it to
  every output. In the paper's CNN the single one-output dense layer is the largest layer,
  although the four convolutions together hold more weights; more dense units or a larger
  input shift the balance to the dense end.
- Parameter counts follow simple formulas: $(k^2 C_\\text{in} + 1) C_\\text{out}$ for a
  convolution, $(n_\\text{in} + 1) n_\\text{out}$ for a dense layer.
- A small CNN trained on the brain MRI set with a grouped split learns edge-like first-layer
  filters; its feature maps get coarser and more abstract block by block, as in the paper's
  koala figure.
- The receptive field grows by $(k-1)\\,j$ per layer, and pooling multiplies the jump $j$, which
  is why CNNs alternate convolutions and pooling.
- `utils.viz` draws architectures (visualkeras), computes receptive fields and extracts
  feature maps.

## Exercises
"""),
*exercise(1, "Average pooling by hand", """
Compute 2x2 average pooling with stride 2 of the 4x4 array `ex.POOL_INPUT` (shown when you run
the cell). Use NumPy, not Keras.
""", """
print(ex.POOL_INPUT)
answer = ...  # your code here: the 2x2 result of average pooling
ex.check_avg_pool(answer)
""", """
Use `F.pool2d` from this chapter, or reshape the 4x4 array into 2x2 windows and average each:
""", """
answer = F.pool2d(ex.POOL_INPUT, how="mean")
# or: ex.POOL_INPUT.reshape(2, 2, 2, 2).mean(axis=(1, 3))  ->  [[3, 2.5], [1.5, 5.75]]
ex.check_avg_pool(answer)
"""),
*exercise(2, "Output shape", """
A 64x64 grayscale image goes through `layers.Conv2D(16, 3)` (default `padding="valid"`) and then
`layers.MaxPooling2D(2)`. What is the output shape `(height, width, channels)`? Work it out on
paper first, then check it with Keras.
""", """
answer = ...  # your code here: a tuple (height, width, channels)
ex.check_output_shape(answer)
""", """
A "valid" 3x3 convolution fits $64 - 3 + 1 = 62$ times along each axis; pooling halves that to
31; the 16 filters give 16 channels. Keras confirms it:
""", """
m = keras.Sequential([keras.Input((64, 64, 1)), layers.Conv2D(16, 3), layers.MaxPooling2D(2)])
answer = m.output_shape[1:]          # (31, 31, 16)
ex.check_output_shape(answer)
"""),
*exercise(3, "Parameters of a convolution", """
How many trainable parameters does `layers.Conv2D(16, 3)` have when its input has 8 channels
(for example the output of `conv1` above)?
""", """
answer = ...  # your code here: a number
ex.check_conv_params(answer)
""", """
Each of the 16 filters is 3x3x8 (it spans all input channels) plus one bias:
$(3 \\cdot 3 \\cdot 8 + 1) \\cdot 16 = 1168$. Keras agrees:
""", """
layer = layers.Conv2D(16, 3)
layer.build((None, 32, 32, 8))
answer = layer.count_params()        # 1168
ex.check_conv_params(answer)
"""),
*exercise(4, "Receptive field", """
What is the receptive field (in input pixels) of one output value of the stack 3x3 conv, 3x3
conv, 2x2 max pool (stride 2), 3x3 conv? All convolutions have stride 1. Compute it by hand with
the formula, then with `viz.receptive_field`.
""", """
answer = ...  # your code here: a number of pixels
ex.check_receptive_field(answer)
""", """
$r$: 1 → 3 → 5 → 6 (pooling, the jump becomes 2) → 6 + 2·2 = 10.
""", """
answer = viz.receptive_field(["conv3", "conv3", "pool2", "conv3"])["receptive_field"].iloc[-1]   # 10
ex.check_receptive_field(answer)
"""),
]

write("notebooks/04_pooling_cnn.ipynb", ch04)


# =============================================================================================
# Chapter 05: evaluating a classifier
# =============================================================================================
ch05 = [
md("""
# Evaluating a classifier

The paper judges its models by one number, the accuracy on a held-out test set: 78 % for its
CNN and 92 % for transfer learning with ResNet50 {cite}`dogan_paper`. This chapter takes such a
number apart. We count the four kinds of right and wrong answers, derive accuracy and the other
standard metrics from them, draw the curves that do not depend on a threshold, and then ask how
much one test score on 51 images can be trusted: how wide its confidence interval is, how much
it moves from one random split to the next, and how much of it is inflated when copies of the
same image sit on both sides of the split.

**Learning objectives.** After this chapter you can

- count TP, TN, FP and FN and compute accuracy (the paper's eq. 1), precision, recall
  (sensitivity), specificity and F1, by hand and with scikit-learn;
- read a confusion matrix, an ROC curve with its AUC and a precision–recall curve;
- judge a score against the majority-class baseline of an imbalanced data set;
- put a Wilson confidence interval on a test accuracy, and see how much a single 80/20 split
  moves it;
- use K-fold and grouped K-fold cross-validation, and show what duplicates across a split do
  to a score;
- avoid the swapped-argument pitfall of scikit-learn's metric functions.
"""),
setup(),
code("""
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.stats import binomtest
from sklearn.metrics import (accuracy_score, classification_report, confusion_matrix, f1_score,
                             precision_score, recall_score, roc_auc_score)
from sklearn.neighbors import KNeighborsClassifier

import utils
from utils import datasets, metrics, splits
from utils import literature as L
from utils.checks import evaluation as ex
"""),
code("""
env = utils.setup()
"""),
md("""
## A model to evaluate

The metrics need predictions of a real model on real data. We use the brain MRI set
{cite}`chakrabarty2019brainmri` and a deliberately cheap model: every image shrunk to 32x32
pixels, the 1024 pixel values standardised and fed to a logistic regression
(`utils.metrics.default_model`). It trains in a fraction of a second, so later sections can
retrain it hundreds of times; everything in this chapter applies unchanged to the CNNs of the
other chapters. The split is the book's grouped 80/20 hold-out, which leaves 51 test images,
about as many as the paper's 20 % test set of 253 images.
"""),
code("""
data = datasets.load_brain_mri(size=32)
X = data.X.reshape(len(data), -1)                 # one row of 1024 pixel values per image
y, groups = data.y, data.groups
train_idx, test_idx = splits.grouped_holdout(y, groups, test_size=0.2, seed=42)

model = metrics.default_model().fit(X[train_idx], y[train_idx])
y_test = y[test_idx]
scores = model.predict_proba(X[test_idx])[:, 1]    # the model's probability of "tumour"
y_pred = (scores >= 0.5).astype(int)               # the usual threshold
print(f"{len(train_idx)} training and {len(test_idx)} test images; classes {data.classes} = 0, 1")
"""),
md("""
## Four counts: TP, TN, FP, FN

Every test prediction falls into one of four cells {cite}`dogan_paper` {cite}`alzubaidi2021review`.
With "tumour" (class 1, *yes*) as the positive class:

- **true positive (TP)**: a tumour predicted as tumour;
- **true negative (TN)**: no tumour, predicted as no tumour;
- **false positive (FP)**: no tumour, but predicted as tumour (a false alarm);
- **false negative (FN)**: a tumour predicted as no tumour (a missed case).
"""),
code("""
tp = int(np.sum((y_test == 1) & (y_pred == 1)))
tn = int(np.sum((y_test == 0) & (y_pred == 0)))
fp = int(np.sum((y_test == 0) & (y_pred == 1)))
fn = int(np.sum((y_test == 1) & (y_pred == 0)))

tn_sk, fp_sk, fn_sk, tp_sk = confusion_matrix(y_test, y_pred).ravel()   # rows: true, columns: predicted
assert (tp, tn, fp, fn) == (tp_sk, tn_sk, fp_sk, fn_sk)
assert metrics.confusion_counts(y_test, y_pred) == {"tp": tp, "tn": tn, "fp": fp, "fn": fn}
print(f"TP = {tp}, TN = {tn}, FP = {fp}, FN = {fn}; total {tp + tn + fp + fn} test images")
"""),
md("""
A **confusion matrix** arranges the counts with the true class in the rows and the predicted
class in the columns. The diagonal holds the right answers. scikit-learn's `confusion_matrix`
uses the same layout, so `.ravel()` returns TN, FP, FN, TP in this order.
"""),
code("""
fig = metrics.plot_confusion(y_test, y_pred, labels=data.classes,
                             title=f"Logistic regression, grouped hold-out ({len(y_test)} images)")
"""),
md("""
## Accuracy, precision, recall, specificity and F1

The paper uses accuracy as its main metric, its eq. (1):

$$\\text{accuracy} = \\frac{TP + TN}{TP + TN + FP + FN}.$$

Accuracy mixes the two kinds of error. Four more metrics separate them:

$$\\text{precision} = \\frac{TP}{TP + FP}, \\qquad
\\text{recall} = \\text{sensitivity} = \\frac{TP}{TP + FN}, \\qquad
\\text{specificity} = \\frac{TN}{TN + FP}, \\qquad
F_1 = \\frac{2 \\cdot \\text{precision} \\cdot \\text{recall}}{\\text{precision} + \\text{recall}}.$$

In clinical words: **sensitivity** is the share of tumours that are found, **specificity** the
share of tumour-free scans that are correctly cleared, and **precision** (the positive predictive
value) the share of "tumour" alarms that are real. F1 is the harmonic mean of precision and
recall, high only when both are.
"""),
code("""
by_hand = {
    "accuracy": (tp + tn) / (tp + tn + fp + fn),        # the paper's eq. (1)
    "precision": tp / (tp + fp),
    "recall (sensitivity)": tp / (tp + fn),
    "specificity": tn / (tn + fp),
}
p, r = by_hand["precision"], by_hand["recall (sensitivity)"]
by_hand["F1"] = 2 * p * r / (p + r)

with_sklearn = {
    "accuracy": accuracy_score(y_test, y_pred),
    "precision": precision_score(y_test, y_pred),
    "recall (sensitivity)": recall_score(y_test, y_pred),
    "specificity": recall_score(y_test, y_pred, pos_label=0),   # the recall of the negative class
    "F1": f1_score(y_test, y_pred),
}
table = pd.DataFrame({"by hand": by_hand, "scikit-learn": with_sklearn})
assert np.allclose(table["by hand"], table["scikit-learn"])
table.round(3)
"""),
md("""
scikit-learn has no `specificity_score`: specificity is the recall of the negative class,
`recall_score(y_true, y_pred, pos_label=0)`. `utils.metrics.classification_metrics` returns
the counts and all of these metrics in one dict, together with the **balanced accuracy** (the
mean of sensitivity and specificity) and the negative predictive value; the rest of the book
uses it.

## Class imbalance: the "always yes" baseline

61 % of the brain MRI images show a tumour. A "model" that answers *yes* for every image
therefore reaches about 61 % accuracy without looking at a single pixel. Any reported accuracy
must be read against this baseline.
"""),
code("""
print(f"tumour share: whole set {y.mean():.1%} ({y.sum()} of {len(y)}), test set {y_test.mean():.1%}")
always_yes = np.ones_like(y_test)
columns = ["accuracy", "precision", "recall", "specificity", "f1", "balanced_accuracy"]
pd.DataFrame({"always 'yes'": metrics.classification_metrics(y_test, always_yes),
              "logistic regression": metrics.classification_metrics(y_test, y_pred)}).loc[columns].T.round(3)
"""),
md("""
The constant answer has perfect sensitivity, zero specificity, and a balanced accuracy of
exactly 0.5, the value of any constant answer. Accuracy alone hides this; sensitivity and
specificity (or balanced accuracy) expose it. Seen this way, the paper's 78 % is about 17
points above the trivial 61 %, not 28 points above a coin flip.

## Scores, thresholds, ROC and precision–recall curves

The model does not output a class but a score, the estimated probability of a tumour, and the
class depends on a threshold. Lowering it finds more tumours (higher sensitivity) at the price of
more false alarms (lower specificity):
"""),
code("""
rows = []
for threshold in (0.3, 0.5, 0.7):
    m = metrics.classification_metrics(y_test, (scores >= threshold).astype(int))
    rows.append({"threshold": threshold, **{k: m[k] for k in ("accuracy", "precision", "recall", "specificity")}})
pd.DataFrame(rows).set_index("threshold").round(3)
"""),
md("""
The **ROC curve** shows all thresholds at once: the true positive rate (sensitivity) against
the false positive rate (1 − specificity). Its area, the **AUC**, is the probability that a
randomly chosen tumour image gets a higher score than a randomly chosen tumour-free image
(0.5 for guessing, 1 for a perfect ranking). The **precision–recall curve** shows precision
against recall; its chance level is the share of positives, not 0.5, and it reacts more
strongly than ROC to false alarms when positives are rare.
"""),
code("""
fig = metrics.plot_roc_pr(y_test, scores, label="logistic regression",
                          title=f"ROC and precision–recall curves on {len(y_test)} test images")
"""),
code("""
auc = roc_auc_score(y_test, scores)
auc_pairs = metrics.auc_by_pairs(y_test, scores)      # the share of correctly ranked pairs
assert np.isclose(auc, auc_pairs)
n_pairs = int((y_test == 1).sum() * (y_test == 0).sum())
print(f"AUC = {auc:.3f}: in {auc_pairs:.1%} of the {n_pairs} (tumour, no tumour) pairs "
      "the tumour image has the higher score")
"""),
md("""
## The swapped-argument pitfall

Every scikit-learn metric takes the true labels first: `f(y_true, y_pred)`. Swapping them
raises no error. Accuracy is symmetric and does not change, so the mistake goes unnoticed, but
precision and recall trade places: the precision computed with swapped arguments is the real
recall, and vice versa.
"""),
code("""
right = classification_report(y_test, y_pred, target_names=data.classes, output_dict=True)
swapped = classification_report(y_pred, y_test, target_names=data.classes, output_dict=True)
assert np.isclose(swapped["yes"]["precision"], right["yes"]["recall"])
assert np.isclose(swapped["yes"]["recall"], right["yes"]["precision"])
pd.DataFrame({
    "classification_report(y_test, y_pred)  (right)": [right["yes"]["precision"], right["yes"]["recall"], right["accuracy"]],
    "classification_report(y_pred, y_test)  (swapped)": [swapped["yes"]["precision"], swapped["yes"]["recall"], swapped["accuracy"]],
}, index=["precision of 'yes'", "recall of 'yes'", "accuracy"]).round(3)
"""),
code("""
print(classification_report(y_test, y_pred, target_names=data.classes, digits=3))
"""),
md("""
In the correct report, the recall of *no* is the specificity and the recall of *yes* the
sensitivity. Passing keyword arguments, `classification_report(y_true=y_test, y_pred=y_pred)`,
makes the order impossible to get wrong.

## How sure is one accuracy? Confidence intervals

A test accuracy is a count of correct answers, $k$ out of $n$ test images. If the test images are
a random sample of the images the model will meet, $k$ is binomial and the accuracy a
proportion with a sampling error. The **Wilson score interval** is a reliable 95 % interval for
a proportion even for small $n$. The textbook Wald interval $p \\pm 1.96\\sqrt{p(1-p)/n}$ is
symmetric around $p$, can reach below 0 or above 1, collapses to zero width at 0 or 100 %, and
covers the true value less often than the promised 95 % when $n$ is small or $p$ is near 0 or 1.
Its width alone does not show this (it need not be narrower than Wilson's); its position does.
With $p = k/n$ and $z = 1.96$:

$$\\frac{p + \\frac{z^2}{2n}}{1 + \\frac{z^2}{n}} \\pm
\\frac{z}{1 + \\frac{z^2}{n}} \\sqrt{\\frac{p(1-p)}{n} + \\frac{z^2}{4n^2}}.$$

`utils.metrics.wilson_ci` implements this formula; we compare it with scipy's implementation,
the Wald interval and a percentile **bootstrap** (resample the 51 test predictions with
replacement 2000 times and take the middle 95 % of the resampled accuracies).
"""),
code("""
k, n = int((y_pred == y_test).sum()), len(y_test)
ci = pd.DataFrame({
    "Wilson (utils.metrics.wilson_ci)": metrics.wilson_ci(k, n),
    "Wilson (scipy.stats.binomtest)": tuple(binomtest(k, n).proportion_ci(method="wilson")),
    "Wald p ± 1.96 sqrt(p(1-p)/n)": metrics.wald_ci(k, n),
    "percentile bootstrap (2000 resamples)": metrics.bootstrap_ci(y_test, y_pred, n_boot=2000, seed=0),
}, index=["low", "high"]).T
assert np.allclose(ci.iloc[0], ci.iloc[1])
ci["width"] = ci["high"] - ci["low"]
print(f"test accuracy {k}/{n} = {k / n:.1%}")
ci.round(3)
"""),
code("""
(paper_k,) = L.compatible_counts(0.78, 51)   # the only count of 51 that prints as 78 %
low, high = metrics.wilson_ci(paper_k, 51)
print(f"paper's CNN, {paper_k}/51 = {paper_k / 51:.0%}: 95% Wilson interval {low:.0%} to {high:.0%}")
(k92,) = L.compatible_counts(0.92, 51)
print(f"paper's ResNet50, {k92}/51 = {k92 / 51:.0%}: 95% Wilson interval "
      f"{metrics.wilson_ci(k92, 51)[0]:.0%} to {metrics.wilson_ci(k92, 51)[1]:.0%}")
"""),
md("""
On 51 images a 78 % accuracy is compatible with anything from about 65 % to 88 %. The two
intervals of the paper's models overlap; a difference between two models is better judged on
the *same* test images with a paired comparison, or over many splits, than from two intervals.
How many test images would a tighter statement need?
"""),
code("""
ns = np.array([25, 50, 100, 250, 500, 1000, 2500])
bounds = np.array([metrics.wilson_ci(0.78 * m, m) for m in ns])
fig, ax = plt.subplots(figsize=(6.5, 3.5))
ax.fill_between(ns, bounds[:, 0], bounds[:, 1], alpha=0.25, label="95% Wilson interval")
ax.axhline(0.78, color="tab:blue", label="observed accuracy 78%")
ax.axvline(51, color="grey", ls=":", label="the paper's test set (51 images)")
ax.set(xscale="log", xlabel="number of test images", ylabel="accuracy",
       title="How the 95% interval of a 78% accuracy narrows with the test-set size")
ax.legend(fontsize=8)
fig.tight_layout()
"""),
md("""
## How much does one split move the score?

The interval above treats the trained model as fixed and only the test images as random. In
practice the split also decides which images the model is *trained* on. To see both effects we
repeat the whole experiment (split, train, test) with different seeds:
`utils.metrics.split_variability` draws a new grouped 80/20 split per seed, trains a fresh
logistic regression and records its test accuracy.
"""),
code("""
n_repeats = utils.by_mode(quick=10, full=100)
sims = metrics.split_variability(X, y, n_repeats=n_repeats, test_size=0.2, groups=groups, seed=0)
acc = sims["accuracy"]
low, high = np.percentile(acc, [2.5, 97.5])

fig, ax = plt.subplots(figsize=(7, 3.6))
ax.hist(acc, bins=np.arange(0.40, 1.0, 0.02), color="tab:blue", edgecolor="white")
ax.axvline(acc.mean(), color="k", label=f"mean {acc.mean():.1%}")
ax.axvspan(low, high, color="tab:blue", alpha=0.12, label=f"middle 95%: {low:.0%} to {high:.0%}")
ax.axvline(sims["majority"].mean(), color="tab:red", ls="--",
           label=f"majority-class baseline ({sims['majority'].mean():.0%})")
ax.set(xlabel="test accuracy", ylabel="number of splits",
       title=f"One model, {n_repeats} grouped 80/20 splits of the brain MRI set")
ax.legend(fontsize=8, loc="upper left")
fig.tight_layout()
print(f"test accuracy over {n_repeats} grouped splits: standard deviation {100 * acc.std():.1f} "
      f"percentage points; min {acc.min():.1%}, max {acc.max():.1%}, a range of "
      f"{100 * (acc.max() - acc.min()):.0f} points")
print(f"the hold-out split used above gave {k / n:.1%}, higher than {np.mean(acc < k / n):.0%} of these splits")
"""),
md("""
The same model and the same data give test accuracies with the standard deviation and the
range printed above, depending only on which ~51 images happen to be in the test set of each
grouped 80/20 split (duplicates never straddle these splits, so the spread is not caused by
leakage). The range tends to grow with the number of splits drawn (100 in full mode, 10 in quick mode). A single 80/20 split can therefore neither establish that a model beats the 61 %
baseline by a few points nor that one model beats another by a few points. The remedy is to use
*every* image for testing once, and to report the spread: cross-validation.

## K-fold and grouped K-fold cross-validation

**K-fold cross-validation** cuts the data into $K$ folds, trains on $K-1$ of them and tests on
the remaining one, $K$ times, so that every image is tested exactly once. *Stratified* K-fold
keeps the class shares in every fold. *Grouped* K-fold (`utils.splits.grouped_kfold`) also keeps
every near-duplicate group inside one fold, so that no picture is tested against its own copy.
"""),
code("""
schemes = {"stratified 5-fold (random)": splits.stratified_kfold(y, n_splits=5, seed=0),
           "grouped 5-fold": splits.grouped_kfold(y, groups, n_splits=5, seed=0)}
rows = []
for name, folds in schemes.items():
    fold_acc = metrics.cross_validate(X, y, folds)            # a fresh model per fold
    rows.append({"scheme": name, **{f"fold {i + 1}": a for i, a in enumerate(fold_acc)},
                 "mean": fold_acc.mean(), "std": fold_acc.std(),
                 "groups spread over several folds": splits.groups_spread(folds, groups)})
pd.DataFrame(rows).set_index("scheme").round(3)
"""),
md("""
The mean over five folds is a steadier estimate than one split, and the spread between folds
shows how much a single split could have said. The last column counts the duplicate groups
whose members landed in different folds, i.e. that are tested against their own copies: the
random scheme splits many of them, the grouped scheme none. The random scheme also reports
the higher accuracy. Is that the leak, or the luck of the folds?

## Duplicates across the split: a memorising model

A **1-nearest-neighbour** classifier answers that question, because it does nothing *but*
memorise: it predicts the label of the
training image closest to the test image. If a test image has a copy in the training set, the
copy is its nearest neighbour and the answer is right for free. Comparing random and grouped
cross-validation with this model makes the leak visible; we repeat both schemes with several
seeds.
"""),
code("""
def one_nn():
    return KNeighborsClassifier(n_neighbors=1)


repeats = utils.by_mode(quick=3, full=20)
rows, records = [], []
for seed in range(repeats):
    random_folds = splits.stratified_kfold(y, 5, seed=seed)
    rows.append({"seed": seed,
                 "random 5-fold": metrics.cross_validate(X, y, random_folds, one_nn).mean(),
                 "grouped 5-fold": metrics.cross_validate(X, y, splits.grouped_kfold(y, groups, 5, seed=seed),
                                                          one_nn).mean()})
    for tr, te in random_folds:                    # which test images have a copy in training?
        knn = one_nn().fit(X[tr], y[tr])
        nearest = tr[knn.kneighbors(X[te], return_distance=False)[:, 0]]
        records.append(pd.DataFrame({"copy in training": np.isin(groups[te], groups[tr]),
                                     "nearest neighbour is the copy": groups[nearest] == groups[te],
                                     "correct": knn.predict(X[te]) == y[te]}))
leak = pd.DataFrame(rows).set_index("seed")
leak.agg(["mean", "std", "min", "max"]).T.round(3)
"""),
code("""
fig, ax = plt.subplots(figsize=(6, 3.6))
for seed, row in leak.iterrows():
    ax.plot([0, 1], row[["random 5-fold", "grouped 5-fold"]], "o-", color="grey", alpha=0.5)
ax.plot([0, 1], leak.mean(), "D-", color="tab:red", ms=9, lw=2.5, label="mean over seeds")
ax.set(xticks=[0, 1], xticklabels=["random 5-fold", "grouped 5-fold"], xlim=(-0.3, 1.3),
       ylabel="cross-validated accuracy",
       title=f"1-nearest-neighbour: random vs grouped CV ({repeats} seeds)")
ax.legend(fontsize=8)
fig.tight_layout()
print(f"random CV is {100 * (leak['random 5-fold'] - leak['grouped 5-fold']).mean():.1f} "
      "percentage points higher on average")
"""),
code("""
per_image = pd.concat(records, ignore_index=True)
per_image.groupby("copy in training").agg(
    test_predictions=("correct", "size"),
    nearest_is_copy=("nearest neighbour is the copy", "mean"),
    accuracy=("correct", "mean")).round(3)
"""),
md("""
Test images whose near-duplicate sits in the training set are matched to that copy and, since
copies share their label, classified correctly; the others are classified much less reliably. Random
cross-validation mixes the two kinds and reports a higher score than the model deserves;
grouped cross-validation measures what happens on pictures the model has never seen. The
smaller the data set and the more duplicates it holds, the larger the gap, and published
scores on public medical sets are often computed with random splits {cite}`roberts2021pitfalls`.

## Summary

- TP, TN, FP and FN are the basis of every metric: accuracy (the paper's eq. 1), precision,
  recall (sensitivity), specificity and F1. Hand computation and scikit-learn agree;
  specificity is `recall_score(..., pos_label=0)`.
- On an imbalanced set, compare with the majority baseline: answering "tumour" always gives
  61 % accuracy on the brain MRI set, with a balanced accuracy of 0.5.
- ROC/AUC and precision–recall curves describe a score over all thresholds; the AUC is the
  probability of ranking a random positive above a random negative.
- `classification_report(y_pred, y_true)` silently swaps precision and recall; pass
  `y_true` first (or by keyword).
- On about 51 test images the 95 % Wilson interval of a 78 % accuracy spans about 65–88 %, and
  the accuracy of the same model moves from one grouped 80/20 split to the next with the
  standard deviation and range printed in the split-variability section.
- Cross-validation tests every image once; grouped folds keep duplicates together. With
  duplicates across the split a memorising model (1-NN) scores several points higher than it
  deserves.

## Exercises
"""),
*exercise(1, "Metrics from a confusion matrix", """
A screening model was tested on 100 scans: `ex.COUNTS` holds TP = 32, FN = 8, FP = 16 and
TN = 44. Compute its precision, recall and specificity as fractions.
""", """
print(ex.COUNTS)
answer = ...  # your code here: {"precision": ..., "recall": ..., "specificity": ...}
ex.check_metrics(answer)
""", """
Precision divides by everything predicted positive, recall by every real positive,
specificity by every real negative:
""", """
c = ex.COUNTS
answer = {"precision": c["tp"] / (c["tp"] + c["fp"]),      # 32 / 48 = 0.667
          "recall": c["tp"] / (c["tp"] + c["fn"]),         # 32 / 40 = 0.800
          "specificity": c["tn"] / (c["tn"] + c["fp"])}    # 44 / 60 = 0.733
ex.check_metrics(answer)
"""),
*exercise(2, "A confidence interval", """
A model classifies 45 of 60 test images correctly. Give the 95 % Wilson interval of its accuracy
as a pair `(low, high)` of fractions. Which values of the true accuracy are compatible with
this result?
""", """
answer = ...  # your code here: (low, high)
ex.check_wilson(answer)
""", """
Use `metrics.wilson_ci` (or the formula). The interval, about 0.63 to 0.84, is not symmetric
around 0.75:
""", """
answer = metrics.wilson_ci(45, 60)
ex.check_wilson(answer)
"""),
*exercise(3, "The baseline to beat", """
What accuracy does a "model" reach on this chapter's hold-out test set `y_test` if it always
predicts the class that is most frequent there?
""", """
answer = ...  # your code here: a fraction between 0 and 1
ex.check_majority_baseline(answer, y_test)
""", """
The share of the larger class; here "yes", so the share of tumour images:
""", """
answer = max(y_test.mean(), 1 - y_test.mean())
ex.check_majority_baseline(answer, y_test)
"""),
*exercise(4, "A leakage-free split", """
Make a train/test split of the brain MRI set with about 20 % test images in which no
near-duplicate group (`groups`) has images on both sides. Give it as `(train_idx, test_idx)`.
Then check a random split with the same function and read the hint.
""", """
answer = ...  # your code here: (train_idx, test_idx)
ex.check_grouped_split(answer, groups)
""", """
`splits.grouped_holdout` keeps every group on one side; `splits.random_holdout` does not:
""", """
answer = splits.grouped_holdout(y, groups, test_size=0.2, seed=1)
print(ex.check_grouped_split(answer, groups))                                  # correct
print(ex.check_grouped_split(splits.random_holdout(y, 0.2, seed=1), groups))   # groups straddle
"""),
]

write("notebooks/05_evaluation.ipynb", ch05)
