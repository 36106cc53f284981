"""Author chapters 01-03 (imaging primer, neural networks, convolution).

    python3 scripts/chapters/make_01_03.py                      # writes notebooks/01..03
    python3 scripts/chapters/make_01_03.py --solutions /tmp/sol  # also writes copies whose
                                                                 # exercise cells hold the solutions

The notebooks are written without outputs; the book build executes them.  The ``--solutions``
copies are for checking that every folded solution passes its check (execute them and look for
"Correct" after each exercise).
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from scripts.nbtools import checked_exercise, code, md, setup, write, write_with_solutions  # noqa: E402


# =============================================================================================
# 01 Medical imaging primer
# =============================================================================================
NB01 = "notebooks/01_imaging_primer.ipynb"
cells01 = [
md("""
# Medical imaging primer: X-ray, CT and MRI

Deep learning models see numbers, not pictures. What those numbers mean depends on how the image
was made: an X-ray pixel, a CT voxel and an MRI voxel measure very different physical quantities.
This chapter introduces the three modalities of the paper {cite}`dogan_paper` with real images:
CT and MR slices in DICOM, the scanner's file format; a 3-D brain volume; and the chest X-rays and
brain MRIs this book learns from. It ends with the kinds of machine learning and the tasks where
deep learning can help a radiologist.

**Learning objectives.** After this chapter you can

- say how X-ray, CT and MRI form an image and what their pixel values mean;
- read a DICOM header (modality, pixel spacing, slice thickness, rescale slope and intercept);
- convert CT values to Hounsfield units and window them for lung, soft tissue and bone;
- show a 3-D volume in its axial, coronal and sagittal planes;
- tell supervised, unsupervised and reinforcement learning apart;
- name the tasks where deep learning helps a radiologist: classification, detection, segmentation.
"""),
setup(),
code("""
import json

import matplotlib.patches as patches
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pydicom
from pydicom.data import get_testdata_file

import utils
from utils import datasets, plots
from utils import fundamentals as F
from utils.checks import imaging_primer as ex
"""),
code("""
env = utils.setup()
"""),
md("""
## Three ways to look inside the body

The paper summarises the three modalities in one sentence each {cite}`dogan_paper`: MRI uses a
strong magnetic field and radio waves, X-ray a small dose of ionising radiation, and CT X-rays
plus computer processing to produce cross-sections. For a model, the important difference is
*what a pixel value means*:

| | X-ray (radiograph) | CT (computed tomography) | MRI (magnetic resonance) |
|---|---|---|---|
| physics | X-rays pass through the body onto a detector | X-ray projections from many angles, reconstructed | hydrogen nuclei in a magnetic field answer radio pulses |
| image | one 2-D projection: all tissue along each ray overlaps | a stack of 2-D slices (a 3-D volume) | slices or a 3-D volume |
| pixel value | attenuation summed along the ray, in arbitrary display units | **Hounsfield units**, calibrated: air -1000, water 0 | signal intensity in arbitrary units; contrast set by the sequence (T1, T2, FLAIR) |
| radiation | yes (low dose) | yes (higher dose) | none |
| in this book | chest X-rays (COVID-19, normal, pneumonia) | the DICOM example below | brain MRI slices (tumour yes/no) |

Only CT has a physical unit. The same MRI tissue can be dark on one scanner and bright on another.
The book's images are 8-bit exports whose contrast was fixed when they were exported; every
chapter divides their grey values (0 to 255) by 255 so that a model sees numbers in [0, 1].

## DICOM: the scanner's file format

Scanners store images as DICOM files: the pixels plus a header of hundreds of tagged fields.
`pydicom` ships two small, anonymised test files, one CT slice and one MR slice; we read the
fields that matter for image analysis.
"""),
code("""
ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
mr = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
header = pd.DataFrame({"CT_small.dcm": F.dicom_summary(ct), "MR_small.dcm": F.dicom_summary(mr)})
header.fillna("-")
"""),
code("""
for name, ds in [("CT", ct), ("MR", mr)]:
    dy, dx = (float(v) for v in ds.PixelSpacing)
    print(f"{name}: {ds.Rows} x {ds.Columns} pixels of {dx:.3f} x {dy:.3f} mm -> field of view "
          f"{ds.Columns * dx:.0f} x {ds.Rows * dy:.0f} mm, slice {float(ds.SliceThickness):g} mm thick; "
          f"stored as {ds.pixel_array.dtype}")
"""),
md("""
The pixel spacing turns pixels into millimetres: a tumour's size, a lung's volume and a model's
input resolution are only comparable through it. The book's brain MRI and chest X-ray files are
JPEG and PNG exports: the header is gone, so we know neither the spacing nor the scanner. Real
DICOM files also carry the patient's name, birth date and hospital; they must be de-identified
before they leave the hospital (the test files above carry placeholders).

## Hounsfield units

The CT header says how to turn stored values into Hounsfield units (HU):
$\\mathrm{HU} = \\text{slope} \\times \\text{stored value} + \\text{intercept}$. Here the slope is
1 and the intercept -1024. The HU scale is fixed by two points, air at -1000 and water at 0, so a
number means the same tissue on every calibrated scanner.
"""),
code("""
hu = F.to_hounsfield(ct)
print(f"stored values {ct.pixel_array.min()} .. {ct.pixel_array.max()}  ->  HU {hu.min():g} .. {hu.max():g}")

tissues = {"air": (-1000, -950), "lung": (-900, -500), "fat": (-120, -60), "water / fluid": (-10, 20),
           "soft tissue": (20, 80), "bone": (300, 1900)}
fig, ax = plt.subplots(figsize=(8, 3.5), layout="constrained")
ax.hist(hu.ravel(), bins=120, color="0.3")
for (name, (lo, hi)), colour in zip(tissues.items(), plt.cm.tab10.colors):
    ax.axvspan(lo, hi, color=colour, alpha=0.25, label=f"{name} ({lo} to {hi} HU)")
ax.set(yscale="log", xlabel="Hounsfield units", ylabel="pixels (log)",
       title="Histogram of the CT slice in HU, with typical tissue ranges")
_ = ax.legend(fontsize=7, loc="upper right")
"""),
md("""
## Windowing: lung, soft tissue and bone

A CT slice spans thousands of HU (this one about 2000), a screen about 256 grey levels, and the eye distinguishes far
fewer. Radiologists therefore look through a **window**: a centre $c$ and a width $w$; values
below $c - w/2$ are black, above $c + w/2$ white, and the grey range is spent on the $w$ HU in
between. One slice, four ways to look at it:
"""),
code("""
views = {"full range (min to max)": F.apply_window(hu, (hu.min() + hu.max()) / 2, hu.max() - hu.min())}
for name, (c, w) in F.CT_WINDOWS.items():
    views[f"{name} window (C {c:g}, W {w:g})"] = F.apply_window(hu, c, w)
fig = plots.image_grid(list(views.values()), titles=list(views), ncols=4, size=2.6,
                       suptitle="One CT slice (thoracic vertebra), four windows")
"""),
md("""
Each window maps its range of HU onto the grey scale; values below it become black, values
above it white. The lung window spreads the air-filled range over most of the grey levels, so
the vessels in the lungs (top corners) stand out best there, while everything denser than
water is close to white. The full-range view and the bone window show these vessels too, with
less contrast; only the soft-tissue window, whose range starts at -160 HU, turns the lungs
black. The soft-tissue window separates muscle, fat and the aorta (top right of the vertebra)
and saturates only the densest bone, the posterior arch behind the spinal canal, to white; the
vertebral body, less dense, keeps its texture. The bone window keeps the inner structure of all
the bone visible. A model that receives 8-bit images has
been given *one* window: information outside it is lost before training starts.

MRI has no HU. The MR header carries the window its author chose for display (printed below);
another scanner would need another window. Min-max scaling per image (the darkest pixel becomes 0,
the brightest 1) is the simplest normalisation of such arbitrary units. The book's JPEG and PNG
images are already 8-bit, so its loaders use a fixed scaling instead: grey value / 255, the same
for every image.
"""),
code("""
mr_pixels = mr.pixel_array.astype(float)
c, w = float(mr.WindowCenter), float(mr.WindowWidth)
print(f"MR header window: centre {c:g}, width {w:g}; stored values {mr_pixels.min():g} .. {mr_pixels.max():g}")
shown = [F.apply_window(mr_pixels, c, w), (mr_pixels - mr_pixels.min()) / np.ptp(mr_pixels)]
fig = plots.image_grid(shown, titles=[f"header window (C {c:g}, W {w:g})", "min-max scaled to [0, 1]"],
                       ncols=2, size=2.8, suptitle="MR_small.dcm: arbitrary units, two displays")
"""),
md("""
## A 3-D volume in three planes: the MNI152 brain

CT and MRI scanners measure volumes. The MNI152 template, which ships with `nilearn` (no
download), is the average T1-weighted MRI of 152 adult brains, used as a common coordinate space in
neuroimaging. A volume is cut in three orthogonal planes: **axial** (horizontal, as in the book's
brain MRIs), **coronal** (front view) and **sagittal** (side view). The volume's affine matrix maps
voxel indices to millimetres; we cut through the origin of the MNI space.
"""),
code("""
from nilearn import datasets as nl_datasets

mni = nl_datasets.load_mni152_template()
volume = mni.get_fdata()
ijk = np.rint(np.linalg.inv(mni.affine) @ [0, 0, 0, 1])[:3].astype(int)
print(f"volume {volume.shape} voxels of {' x '.join(f'{z:g}' for z in mni.header.get_zooms())} mm; "
      f"MNI (0, 0, 0) mm is voxel {tuple(int(v) for v in ijk)}")
planes = F.three_planes(volume, ijk)
fig, axes = plt.subplots(1, 3, figsize=(10, 3.6), layout="constrained")
for ax, (name, img) in zip(axes, planes.items()):
    ax.imshow(img, cmap="gray", origin="lower")
    ax.set_title(f"{name}")
    ax.axis("off")
_ = fig.suptitle("MNI152 template: axial, coronal and sagittal planes through MNI (0, 0, 0)")
"""),
md("""
Each of the book's brain MRIs is a single axial slice, exported as JPEG from a volume like this
one. The neighbouring slices, which a radiologist scrolls through to tell a tumour from a vessel,
are gone, and so is the 3-D shape of the lesion.

## The book's images

The chapters train on two public sets: chest X-rays of COVID-19, normal and viral-pneumonia
patients, and axial brain MRI slices with and without a tumour (see the data tour). Both are
8-bit exports: no HU, no header, contrast already chosen by whoever exported them.
"""),
code("""
chest = datasets.chest_xray_table()
brain = datasets.brain_mri_table()
cx = chest.groupby("cls").sample(1, random_state=3)
bm = brain.groupby("label").sample(2, random_state=3)
images = [utils.read_image(p, size=256) for p in cx["path"]] + [utils.read_image(p, size=256) for p in bm["path"]]
titles = [f"X-ray: {c}" for c in cx["cls"]] + [f"MRI: tumour {l}" for l in bm["label"]]
fig = plots.image_grid(images, titles=titles, ncols=7, size=2.0,
                       suptitle="The book's data: chest X-rays (3 classes) and axial brain MRIs (tumour no/yes)")
"""),
md("""
## Supervised, unsupervised and reinforcement learning

The paper names three kinds of machine learning and focuses on the first {cite}`dogan_paper`:

- **supervised learning** learns from examples *with* the answer: MRIs labelled tumour yes/no,
  X-rays with human-drawn lung masks. Every model in this book is supervised.
- **unsupervised learning** finds structure in data *without* labels: clusters, compressed
  representations, outliers.
- **reinforcement learning** learns *actions* from rewards: an agent tries something, is told how
  well it did, and adapts. In imaging it has been used, for instance, to move a search window
  towards an anatomical landmark; it is rare compared with the other two.

A tiny unsupervised example: k-means clustering of the pixel intensities of one MRI into four
groups. No label is used; the algorithm only sees the 65 536 grey values.
"""),
code("""
from sklearn.cluster import KMeans

pairs = datasets.brain_mri_mask_pairs()
pair = pairs.set_index("image").loc["yes/Y10.jpg"]
mri = utils.read_image(pair["image_path"], size=256) / 255.0
tumour = utils.read_image(pair["mask_path"], size=256, resample="nearest") > 127

km = KMeans(n_clusters=4, n_init=4, random_state=0).fit(mri.reshape(-1, 1))
order = np.argsort(km.cluster_centers_.ravel())          # number clusters dark -> bright
clusters = np.argsort(order)[km.labels_].reshape(mri.shape)
brightest = clusters == 3
print("cluster centres (dark to bright):", np.round(np.sort(km.cluster_centers_.ravel()), 2))
print(f"the brightest cluster holds {brightest.sum()} pixels; "
      f"{(brightest & tumour).sum() / tumour.sum():.0%} of the tumour mask, "
      f"{(brightest & tumour).sum() / brightest.sum():.0%} of the cluster lies in the tumour")

fig, axes = plt.subplots(1, 3, figsize=(10, 3.6), layout="constrained")
axes[0].imshow(mri, cmap="gray"); axes[0].set_title("MRI (yes/Y10)")
axes[1].imshow(clusters, cmap="viridis"); axes[1].set_title("k-means, 4 intensity clusters")
axes[2].imshow(plots.overlay(mri, tumour)); axes[2].set_title("tumour mask (supervised label)")
for ax in axes:
    ax.axis("off")
_ = fig.suptitle("Unsupervised clustering groups pixels by brightness; it does not know what a tumour is")
"""),
md("""
The clusters separate background, dark and bright tissue, which is useful, but no cluster is the
tumour: its bright rim falls in one cluster with the bright ring around the brain (on this
T1-weighted image that ring is scalp fat and the marrow inside the skull; the compact bone itself
is the thin dark line within it), and its dark core in one cluster with dark healthy tissue. Telling tumour from
healthy tissue needs examples labelled by someone who knows what a tumour looks like, i.e.
supervised learning (who drew this set's masks is not documented; see {doc}`../book/data`).

## Where deep learning helps a radiologist

The paper groups the imaging tasks of deep learning into **classification**, **detection** and
**segmentation** {cite}`dogan_paper` (see also the survey {cite}`litjens2017survey`). They differ
in what the model outputs, and therefore in what a human must label for training:

- *classification*: one label per image (tumour yes/no; COVID-19, normal, pneumonia);
- *detection*: a box around each object of interest (here: each lung);
- *segmentation*: a label for every pixel (lung or not; tumour or not).

All three are shown below on the book's data: the lung boxes come from the ieee8023 collection's
bounding-box annotations, the lung mask from V7 Labs, the tumour mask from the brain MRI masks.
"""),
code("""
boxes_path = datasets.chest_xray_table("annotation").set_index("file").loc[
    "annotations/ieee8023_lung_bounding_boxes.json", "path"]
coco = json.loads(open(boxes_path, encoding="utf-8").read())
by_name = {im["file_name"]: im for im in coco["images"]}
covid = chest[chest["source_path"].str.split("/").str[-1].isin(by_name)]
xray_row = covid.set_index("file").loc["covid/covid-19-pneumonia-2.jpg"]
xray = utils.read_image(xray_row["path"])
boxes = [a for a in coco["annotations"]
         if a["image_id"] == by_name[xray_row["source_path"].split("/")[-1]]["id"]]
lungs = utils.read_image(xray_row["mask_path"]) == 255
print(f"{len(covid)} COVID X-rays of the book have lung boxes; this one has {len(boxes)} boxes")

fig, axes = plt.subplots(1, 4, figsize=(12, 3.6), layout="constrained")
axes[0].imshow(xray, cmap="gray"); axes[0].set_title("classification:\\n'covid' (one label)")
axes[1].imshow(xray, cmap="gray"); axes[1].set_title("detection:\\nlung bounding boxes")
names = {c["id"]: c["name"] for c in coco["categories"]}
for box, colour in zip(boxes, ["tab:red", "tab:cyan"]):
    x, y, w, h = box["bbox"]
    axes[1].add_patch(patches.Rectangle((x, y), w, h, fill=False, edgecolor=colour, linewidth=2))
    axes[1].text(x, y - 8, names[box["category_id"]], color=colour, fontsize=8,
                 bbox=dict(facecolor="white", alpha=0.8, pad=1, edgecolor="none"))
axes[2].imshow(plots.overlay(xray, lungs)); axes[2].set_title("segmentation:\\nlung mask (V7 Labs)")
axes[3].imshow(plots.overlay(mri, tumour)); axes[3].set_title("segmentation:\\nbrain tumour mask")
for ax in axes:
    ax.axis("off")
_ = fig.suptitle("Three tasks, three kinds of label")
"""),
md("""
(The box labelled "Right Lung" sits on the image's left: radiographs are displayed as if facing the
patient.) Classification needs the cheapest labels and is what most of the paper's studies and this book's
classifiers do. Segmentation needs the most expensive ones (an expert tracing outlines) but gives
what a radiologist can measure: the size of a tumour, the share of a lung that is affected.

## Summary

- X-ray is a 2-D projection; CT and MRI give cross-sections and volumes. Only CT values have a
  physical unit, the Hounsfield unit (air -1000, water 0).
- A DICOM header holds what analysis needs: modality, pixel spacing, slice thickness and the
  rescale from stored values to HU. The book's JPEG/PNG images have lost it.
- Windowing maps a range of HU onto the grey levels of a display; an 8-bit image fixes one window.
- Volumes are viewed in axial, coronal and sagittal planes; the book's brain MRIs are single axial
  slices.
- Supervised learning needs labels, unsupervised does not, reinforcement learns from rewards.
  Deep learning helps with classification, detection and segmentation, which need ever more
  detailed labels.

## Exercises
"""),
*checked_exercise(1, "The lowest Hounsfield unit", """
What is the lowest value of `CT_small.dcm` in Hounsfield units? Use the header's rescale slope and
intercept (or `F.to_hounsfield`) and store the number in `answer`.
""", "check_min_hu", """
answer = F.to_hounsfield(ct).min()   # = 1 * ct.pixel_array.min() + (-1024)
"""),
*checked_exercise(2, "A brain window", """
Head CTs are read in a *brain window* of centre 40 HU and width 80 HU. Apply it to the CT slice
(in HU) so that the result lies in [0, 1], store it in `answer`, and look at it with `plt.imshow`.
Why do most pixels look black or white?
""", "check_brain_window", """
answer = F.apply_window(F.to_hounsfield(ct), center=40, width=80)
hu = F.to_hounsfield(ct)
print(f"black (below 0 HU): {(hu < 0).mean():.0%}, grey (0 to 80 HU): {((hu >= 0) & (hu <= 80)).mean():.0%}, "
      f"white (above 80 HU): {(hu > 80).mean():.0%}; lung (below -500 HU): {(hu < -500).mean():.0%}, "
      f"bone (above 300 HU): {(hu > 300).mean():.0%}")
# Only 0..80 HU (80 of the slice's ~2000 HU) get grey levels. About half of this thoracic slice
# is below 0 HU (lung and air, but also fat and other tissue below water) and turns black; about
# a fifth is denser than soft tissue (bone, but also tissue of 80..300 HU) and turns white. Lung
# and bone alone are only about a quarter of the pixels; the window is simply far too narrow.
"""),
*checked_exercise(3, "Which kind of learning?", """
For each task say `"supervised"`, `"unsupervised"` or `"reinforcement"`:
`tumour_yes_no` (learn tumour yes/no from labelled MRIs), `intensity_clusters` (group an MRI's
pixels by brightness), `scan_agent` (an agent adjusts scanner settings and is rewarded for image
quality), `lung_masks` (learn to outline lungs from X-rays with drawn masks). Store a dict.
""", "check_learning_types", """
answer = {"tumour_yes_no": "supervised", "intensity_clusters": "unsupervised",
          "scan_agent": "reinforcement", "lung_masks": "supervised"}
"""),
*checked_exercise(4, "Sagittal slices", """
The MNI152 `volume` is indexed `volume[x, y, z]` (x: left-right, y: back-front, z: down-up).
Which array axis (0, 1 or 2) do you fix to get a sagittal slice? Check by plotting
`volume[ijk[0], :, :].T`.
""", "check_sagittal_axis", """
answer = 0   # a sagittal slice fixes x (left-right): volume[i, :, :]
"""),
]


# =============================================================================================
# 02 Neural networks
# =============================================================================================
NB02 = "notebooks/02_neural_networks.ipynb"
cells02 = [
md("""
# Neural networks: from the perceptron to backpropagation

The paper introduces artificial neural networks in a few paragraphs {cite}`dogan_paper`:
perceptrons that weight their inputs, an activation function, layers, and training by
backpropagation and gradient descent. This chapter builds each piece in NumPy, checks it against
numerical derivatives and against Keras, and ends with the paper's argument for convolutional
networks: a dense layer on an image needs too many weights.

**Learning objectives.** After this chapter you can

- compute a perceptron's output and explain the role of its activation function;
- compare sigmoid, tanh and ReLU and their derivatives, and say why ReLU is the default;
- write the forward and backward pass of a small multilayer perceptron (MLP) and verify the
  gradients numerically;
- show that Keras computes exactly the same outputs and gradients;
- predict how the learning rate changes gradient descent;
- count the parameters of dense and convolutional layers.
"""),
setup(),
code("""
import inspect

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import utils
from utils import datasets, splits
from utils import fundamentals as F
from utils.checks import neural_networks as ex
"""),
code("""
env = utils.setup()
"""),
md("""
## The perceptron

A perceptron multiplies each input $x_i$ by a weight $w_i$, adds a bias $b$ and passes the sum
through an activation function $\\varphi$: $a = \\varphi(\\sum_i w_i x_i + b)$. With a step
function as $\\varphi$ and hand-picked weights, one perceptron computes a logical AND:
"""),
code("""
step = lambda z: (z > 0).astype(int)
w, b = np.array([1.0, 1.0]), -1.5
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
z = X @ w + b
pd.DataFrame({"x1": X[:, 0], "x2": X[:, 1], "z = w.x + b": z, "step(z)": step(z)})
"""),
md("""
Training means finding such weights automatically. For that the output must change *smoothly*
with the weights, so that we can follow the derivative downhill; the step function's derivative is
zero everywhere (and undefined at 0). Hence smooth activations.

## Activation functions and their derivatives
"""),
code("""
z = np.linspace(-5, 5, 401)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
for name in ["sigmoid", "tanh", "relu"]:
    f, df = F.ACTIVATIONS[name]
    axes[0].plot(z, f(z), label=name)
    axes[1].plot(z, df(z), label=f"{name}'")
axes[0].set(title="Activation functions", xlabel="z", ylim=(-1.2, 2.5))
axes[1].set(title="Their derivatives", xlabel="z", ylim=(-0.1, 1.2))
for ax in axes:
    ax.axhline(0, color="0.7", lw=0.8); ax.legend()
_ = fig.suptitle("Sigmoid, tanh and ReLU")
"""),
code("""
table = pd.DataFrame({name: {"largest derivative": F.ACTIVATIONS[name][1](z).max(),
                             "derivative at z = 4": F.ACTIVATIONS[name][1](np.array([4.0]))[0],
                             "gradient factor after 10 layers (best case)": F.ACTIVATIONS[name][1](z).max() ** 10}
                      for name in ["sigmoid", "tanh", "relu"]}).T
table.round(6)
"""),
md("""
Backpropagation multiplies one such derivative per layer (and the layer's weights). The sigmoid's
is at most 0.25, so over ten sigmoid layers the activation factors alone contribute at most
$0.25^{10} \\approx 10^{-6}$ (large weights could make up for part of it, small ones shrink it
further), and each factor is
close to zero whenever a unit saturates ($|z|$ large): the **vanishing gradient**. Tanh is
zero-centred with derivative up to 1 but saturates too. ReLU's derivative is exactly 1 for every
positive input, it is cheap to compute, and it is the most popular activation of CNNs
{cite}`agarap2018deep`. Its weakness: a unit whose input is always negative gets no gradient
("dead ReLU").

## A small MLP in NumPy: forward and backward

`utils.fundamentals.MLP` is a fully connected network for yes/no problems: hidden layers with
$\\varphi$, one sigmoid output $p$ and the binary cross-entropy loss
$L = -\\frac{1}{n}\\sum_i [y_i \\log p_i + (1-y_i)\\log(1-p_i)]$. For one hidden layer:

$$h = \\varphi(XW_1 + b_1), \\qquad p = \\sigma(hW_2 + b_2).$$

The backward pass applies the chain rule from the loss back to every weight. With sigmoid and
cross-entropy the output's derivative simplifies to $\\partial L/\\partial z_2 = (p - y)/n$; then
$\\partial L/\\partial W_2 = h^\\top \\delta_2$, $\\delta_1 = (\\delta_2 W_2^\\top) \\odot \\varphi'(z_1)$,
$\\partial L/\\partial W_1 = X^\\top \\delta_1$, and each bias gradient is the column sum of its
$\\delta$. The whole backward pass:
"""),
code("""
print(inspect.getsource(F.MLP.backward))
"""),
code("""
rng = np.random.default_rng(0)
X_toy = rng.normal(size=(8, 4))
y_toy = rng.integers(0, 2, size=8)
mlp = F.MLP([4, 5, 1], activation="tanh", seed=0)
p = mlp.forward(X_toy)
grads = mlp.backward(y_toy)
print("probabilities:", np.round(p.ravel(), 3))
print(f"loss: {mlp.loss(X_toy, y_toy):.4f}")
print("parameter shapes:", [w.shape for w in mlp.get_weights()])
print("gradient shapes: ", [g.shape for g in grads])
"""),
md("""
## Checking the gradients numerically

A bug in a backward pass does not crash anything; the network just learns badly. The classic
test compares every analytic derivative with a **central difference**,
$\\frac{L(w+\\epsilon) - L(w-\\epsilon)}{2\\epsilon}$, and reports the relative error
$|a - n| / (|a| + |n|)$. In double precision, around $10^{-7}$ or below means the backward pass is
right; a wrong formula gives errors near 1.
"""),
code("""
rows = {}
for activation in ["sigmoid", "tanh", "relu"]:
    net = F.MLP([4, 5, 3, 1], activation=activation, seed=1)
    rows[activation] = {"parameters": net.count_params(),
                        "max relative error": net.gradient_check(X_toy, y_toy, eps=1e-5)}
check = pd.DataFrame(rows).T
assert (check["max relative error"] < 1e-6).all()
check.style.format({"parameters": "{:.0f}", "max relative error": "{:.1e}"})
"""),
md("""
## The same network in Keras

Keras's `Dense` layer stores its kernel as (inputs, outputs), the layout of `F.MLP`, so the NumPy
weights can be copied in with `set_weights`. `tf.GradientTape` records the forward pass and
returns the gradients by automatic differentiation. We work in float64 so that the two agree to
the last digits (Keras's default float32 would agree to about $10^{-7}$).
"""),
code("""
import keras
import tensorflow as tf

model = keras.Sequential([
    keras.Input(shape=(4,), dtype="float64"),
    keras.layers.Dense(5, activation="tanh", dtype="float64"),
    keras.layers.Dense(1, activation="sigmoid", dtype="float64"),
])
model.set_weights(mlp.get_weights())
with tf.GradientTape() as tape:
    p_keras = model(X_toy)
    loss_keras = tf.reduce_mean(keras.losses.binary_crossentropy(y_toy[:, None].astype(float), p_keras))
grads_keras = [g.numpy() for g in tape.gradient(loss_keras, model.trainable_variables)]
grads_numpy = mlp.gradients(X_toy, y_toy)

assert np.allclose(p_keras.numpy(), mlp.forward(X_toy), rtol=0, atol=1e-12)
assert np.isclose(float(loss_keras), mlp.loss(X_toy, y_toy), rtol=0, atol=1e-12)
assert all(np.allclose(a, b, rtol=0, atol=1e-12) for a, b in zip(grads_keras, grads_numpy))
pd.DataFrame({"max |Keras - NumPy|": [np.abs(p_keras.numpy() - mlp.forward(X_toy)).max()]
              + [np.abs(a - b).max() for a, b in zip(grads_keras, grads_numpy)]},
             index=["output p", "dL/dW1", "dL/db1", "dL/dW2", "dL/db2"])
"""),
md("""
Same weights, same outputs, same gradients: a Keras `Dense` network is exactly this arithmetic.
Everything Keras adds (optimisers, batching, GPUs, saving) is convenience around it.

## Gradient descent and the learning rate

Training repeats $w \\leftarrow w - \\eta \\nabla L(w)$ with a learning rate $\\eta$. On the
elongated bowl $L(w) = \\tfrac12 (w_1^2 + 10\\, w_2^2)$, a picture of a badly scaled problem, the
learning rate decides everything:
"""),
code("""
loss_fn = lambda w1, w2: 0.5 * (w1 ** 2 + 10 * w2 ** 2)
grad_fn = lambda w: np.array([w[0], 10 * w[1]])
start, steps = np.array([-4.0, 1.5]), 30
rates = {"too small (0.02)": 0.02, "about right (0.15)": 0.15, "too large (0.21)": 0.21}

g1, g2 = np.meshgrid(np.linspace(-5, 5, 200), np.linspace(-3, 3, 200))
fig, axes = plt.subplots(1, 4, figsize=(14, 3.4), layout="constrained")
for ax, (label, lr) in zip(axes, rates.items()):
    path = F.gradient_descent(grad_fn, start, lr, steps)
    ax.contour(g1, g2, loss_fn(g1, g2), levels=np.geomspace(0.05, 60, 12), cmap="Greys", linewidths=0.7)
    ax.plot(path[:, 0], path[:, 1], "o-", ms=3, lw=1)
    ax.set(xlim=(-5, 5), ylim=(-3, 3), xlabel="$w_1$", ylabel="$w_2$", title=f"learning rate {label}")
    axes[3].plot([loss_fn(*w) for w in path], label=label)
axes[3].set(yscale="log", xlabel="step", ylabel="loss", title="Loss per step")
axes[3].legend(fontsize=7)
_ = fig.suptitle(f"Gradient descent on L(w) = (w1^2 + 10 w2^2) / 2, {steps} steps from {tuple(start.tolist())}")
"""),
md("""
Too small a rate crawls along the flat valley; too large a rate overshoots in the steep direction,
zig-zags and diverges. The steep direction (curvature 10) sets the limit, the flat one (curvature
1) sets the speed. Real networks have millions of directions, which is why adaptive optimisers such
as Adam, and learning-rate schedules, are the norm.

## Why not dense layers for images?

The paper's argument for CNNs {cite}`dogan_paper`: a small 100x100 grey image feeds 10 000 inputs;
a hidden layer of 100 neurons connects each of them to each input, so it holds
$10\\,000 \\times 100$ weights plus 100 biases, **more than a million** parameters for one layer.
Keras agrees:
"""),
code("""
dense_by_hand = 100 * 100 * 100 + 100
dense = keras.Sequential([keras.Input((100, 100, 1)), keras.layers.Flatten(), keras.layers.Dense(100)])
assert dense.count_params() == dense_by_hand == 1_000_100

cnn = keras.Sequential([
    keras.Input((100, 100, 1)),
    keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.MaxPooling2D(),
    keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(),
    keras.layers.GlobalAveragePooling2D(),
    keras.layers.Dense(1, activation="sigmoid"),
], name="small_cnn")
print(f"Dense(100) on a 100x100 image: {dense.count_params():,} parameters")
print(f"a small CNN (two conv layers + classifier): {cnn.count_params():,} parameters")
pd.DataFrame([{"layer": layer.name, "output shape": str(layer.output.shape), "parameters": layer.count_params()}
              for layer in cnn.layers])
"""),
code("""
def count(layer, n):
    layer.build((None, n, n, 1) if isinstance(layer, keras.layers.Conv2D) else (None, n * n))
    return layer.count_params()

sizes = [32, 100, 224, 512]
pd.DataFrame({
    "Dense(100) on the flattened image": [count(keras.layers.Dense(100), n) for n in sizes],
    "Conv2D(100 filters, 3x3)": [count(keras.layers.Conv2D(100, 3), n) for n in sizes],
}, index=[f"{n}x{n} image" for n in sizes]).style.format("{:,}")
"""),
md("""
A convolutional layer with as many units (100 filters of 3x3) has 1 000 parameters, whatever the
image size, because each filter sees only a small neighbourhood (its receptive field) and the same
weights are reused at every position. The next chapter shows that operation in detail.

## Training the MLP on brain MRIs

A first real task: tumour yes/no from the brain MRIs, downsampled to 32x32 so that the flattened
image (1 024 inputs) suits a small MLP. We hold out a test set grouped by near-duplicate, standardise
the pixels with the training set's mean and spread, and train with mini-batch gradient descent.
"""),
code("""
import time

brain = datasets.load_brain_mri(size=32)
X_img = brain.X.reshape(len(brain.X), -1).astype(np.float64)
train_idx, test_idx = splits.grouped_holdout(brain.y, brain.groups, test_size=0.2, seed=0)
mean, std = X_img[train_idx].mean(), X_img[train_idx].std()
X_train, X_test = (X_img[train_idx] - mean) / std, (X_img[test_idx] - mean) / std
y_train, y_test = brain.y[train_idx], brain.y[test_idx]

epochs = utils.by_mode(quick=40, full=150)
net = F.MLP([X_img.shape[1], 32, 1], activation="relu", seed=0)
t0 = time.perf_counter()
history = net.fit(X_train, y_train, epochs=epochs, lr=0.01, batch_size=32, seed=0,
                  validation=(X_test, y_test))
print(f"{len(y_train)} training and {len(y_test)} test images, {net.count_params():,} parameters, "
      f"{epochs} epochs in {time.perf_counter() - t0:.1f} s")
print(f"accuracy: train {history['accuracy'][-1]:.2f}, test {history['val_accuracy'][-1]:.2f}; "
      f"always answering 'tumour' would score {y_test.mean():.2f} on this test set")
"""),
code("""
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), layout="constrained")
axes[0].plot(history["loss"], label="train"); axes[0].plot(history["val_loss"], label="test")
axes[0].set(title="Binary cross-entropy", xlabel="epoch")
axes[1].plot(history["accuracy"], label="train"); axes[1].plot(history["val_accuracy"], label="test")
axes[1].axhline(y_test.mean(), color="0.5", ls="--", label="always 'tumour'")
axes[1].set(title="Accuracy", xlabel="epoch", ylim=(0.4, 1.02))
for ax in axes:
    ax.legend()
_ = fig.suptitle("NumPy MLP (1024-32-1, ReLU) on 32x32 brain MRIs")
"""),
md("""
The training loss falls and the training accuracy heads for 100 %, but the test loss does not
improve and the test accuracy stays far lower and only somewhat above the majority-class baseline (compare the numbers printed above):
the signature of overfitting a few hundred images with tens of thousands of weights. One small test set is also a
noisy measurement: a handful of images more or less changes the number by several points. How to
evaluate a classifier properly (cross-validation, sensitivity and specificity, confidence
intervals) is the subject of chapter 05. Note too that the MLP throws away the image's layout: it
would learn just as well if the pixels of every image were shuffled in the same fixed order. A
CNN does not; its filters look at neighbouring pixels.

## Summary

- A perceptron is a weighted sum plus an activation; layers of them make a multilayer perceptron.
- Sigmoid and tanh saturate and shrink gradients; ReLU passes them unchanged for positive inputs
  and is the default in CNNs.
- Backpropagation is the chain rule applied layer by layer; a numerical gradient check verifies it
  (relative errors below $10^{-6}$ here), and Keras computes the same numbers.
- The learning rate must suit the steepest direction of the loss: too small crawls, too large
  diverges.
- A dense layer on a 100x100 image already has 1 000 100 parameters; a convolutional layer's
  count does not depend on the image size.

## Exercises
"""),
*checked_exercise(1, "Counting dense parameters", """
How many parameters does a `Dense(50)` layer have when its input is a flattened 64x64 grey image?
Compute it by hand, then confirm with Keras's `count_params()`.
""", "check_dense_params", """
answer = 64 * 64 * 50 + 50   # weights + one bias per neuron
# keras.Sequential([keras.Input((64, 64, 1)), keras.layers.Flatten(), keras.layers.Dense(50)]).count_params()
"""),
*checked_exercise(2, "Softplus, the smooth ReLU", """
Softplus, $\\log(1 + e^z)$, is a smooth version of ReLU. Write a function `answer(z)` that returns its
derivative for a NumPy array `z`. (Plot it next to ReLU's derivative.)
""", "check_softplus_grad", """
def answer(z):
    return 1 / (1 + np.exp(-z))   # d/dz log(1 + e^z) = e^z / (1 + e^z): the sigmoid
"""),
*checked_exercise(3, "One gradient by hand", """
One sigmoid neuron $p = \\sigma(w x + b)$ with binary cross-entropy loss, for one example
$x = 2$, $y = 1$, and weights $w = 0.5$, $b = 0$ (`ex.NEURON`). Compute $\\partial L / \\partial w$
with the chain rule. You may check it with `F.MLP([1, 1])` and `set_weights`.
""", "check_neuron_gradient", """
x, w, b, y = 2.0, 0.5, 0.0, 1.0
p = 1 / (1 + np.exp(-(w * x + b)))
answer = (p - y) * x              # dL/dz = p - y, dz/dw = x
# check: m = F.MLP([1, 1], "linear"); m.set_weights([[[w]], [b]]); m.gradients([[x]], [y])[0]
"""),
*checked_exercise(4, "When does gradient descent diverge?", """
On $L(w) = \\tfrac12 (w_1^2 + 10\\, w_2^2)$ one step multiplies $w_2$ by $(1 - 10\\eta)$. Above which
learning rate $\\eta$ does gradient descent diverge? Try rates around it with
`F.gradient_descent(grad_fn, start, lr, 30)`.
""", "check_divergence_lr", """
answer = 2 / 10   # |1 - 10 * lr| > 1  <=>  lr > 0.2 (the steepest curvature sets the limit)
"""),
]


# =============================================================================================
# 03 Convolution
# =============================================================================================
NB03 = "notebooks/03_convolution.ipynb"
cells03 = [
md("""
# Convolution: the operation behind CNNs

A convolutional layer computes, at every position of the image, the dot product of a small set of
weights (the **filter** or **kernel**) with the pixels under it (the **receptive field**), and
writes the result into a **feature map** {cite}`dogan_paper`. This chapter computes that
operation by hand on the kind of example the paper's Fig. 2 shows, then adds stride, padding, channels and
filters, checks everything against TensorFlow, and applies classic filters to a brain MRI.

**Learning objectives.** After this chapter you can

- compute a convolution step by step and point out each output's receptive field;
- predict the output size from input size, kernel size, stride and padding;
- explain how multi-channel inputs and several filters give several feature maps, and count
  a convolutional layer's parameters;
- show that NumPy, `tf.nn.conv2d` and Keras `Conv2D` agree, and that deep learning's
  "convolution" is a cross-correlation;
- recognise edge, blur, sharpen and Laplacian filters and what they do to an image.
"""),
setup(),
code("""
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import signal

import utils
from utils import datasets
from utils import fundamentals as F
from utils.checks import convolution as ex
"""),
code("""
env = utils.setup()
"""),
md("""
## A convolution step by step (the paper's Fig. 2)

The paper illustrates convolution on a 5x5 image with a 3x3 kernel and a stride of 1; the figure
is taken from Yamashita et al. {cite}`yamashita2018convolutional`. The paper's text gives only
the caption, not the numbers, so we use the standard example of this kind, the binary input and
kernel found in many textbooks and tutorials:
"""),
code("""
x = np.array([[1, 1, 1, 0, 0],
              [0, 1, 1, 1, 0],
              [0, 0, 1, 1, 1],
              [0, 0, 1, 1, 0],
              [0, 1, 1, 0, 0]])
k = np.array([[1, 0, 1],
              [0, 1, 0],
              [1, 0, 1]])
out = F.conv2d_numpy(x, k, stride=1, padding=0)
assert np.array_equal(out, [[4, 3, 4], [2, 4, 3], [2, 3, 4]])

fig, axes = plt.subplots(1, 3, figsize=(8, 2.9), layout="constrained", gridspec_kw={"width_ratios": [5, 3, 3]})
F.draw_matrix(axes[0], x, title="input 5x5")
F.draw_matrix(axes[1], k, title="kernel 3x3", cmap="Oranges")
F.draw_matrix(axes[2], out, title="feature map 3x3", cmap="Greens")
_ = fig.suptitle("A textbook example of the convolution in the paper's Fig. 2 (5x5 input, 3x3 kernel, "
                 "stride 1)\\n(the paper's Fig. 2 is taken from Yamashita et al.; these numbers are a "
                 "textbook example)", fontsize=10)
"""),
md("""
The kernel starts at the top left, is multiplied element by element with the 3x3 patch under it,
and the nine products are summed. Then it moves one column right (the stride), and at the end of a
row back to the left and one row down. Nine positions fit, so the feature map is 3x3:
"""),
code("""
for st in F.conv_steps(x, k):
    terms = " + ".join(f"{a}*{b}" for a, b in zip(st["field"].astype(int).ravel(), k.ravel()))
    print(f"out[{st['row']},{st['col']}] = {terms} = {st['value']:g}")
"""),
code("""
fig = F.receptive_field_figure(x, k, suptitle="The Fig. 2-style example step by step: the receptive field (orange) of each output value, kernel weights in red")
"""),
md("""
## Stride and zero padding

The stride $s$ is how far the kernel jumps; zero padding $p$ adds rings of zeros around the input so
that border pixels can sit at the centre of the kernel and the feature map does not shrink
{cite}`dogan_paper`. For an $n \\times n$ input and a $k \\times k$ kernel the output side is

$$ n_{\\text{out}} = \\left\\lfloor \\frac{n + 2p - k}{s} \\right\\rfloor + 1. $$

The table computes it for typical cases and checks it against NumPy and TensorFlow (the last
column runs `tf.nn.conv2d` with explicit padding):
"""),
code("""
import tensorflow as tf

cases = [(5, 3, 1, 0, "the Fig. 2 setting"), (5, 3, 1, 1, "'same' padding keeps the size"), (5, 3, 2, 0, "stride 2"),
         (5, 3, 2, 1, "stride 2 + padding"), (6, 3, 2, 0, "floor drops the last column"),
         (100, 3, 1, 0, "the paper's 100x100 image"), (224, 7, 2, 3, "ResNet's first layer"),
         (32, 5, 1, 2, "5x5 kernel, padding 2")]
rows = []
for n, kk, s, p, note in cases:
    img, ker = np.ones((n, n)), np.ones((kk, kk))
    tf_out = tf.nn.conv2d(img[None, :, :, None], ker[:, :, None, None], strides=s,
                          padding=[[0, 0], [p, p], [p, p], [0, 0]])
    rows.append({"n": n, "k": kk, "s": s, "p": p, "formula": F.output_size(n, kk, s, p),
                 "NumPy": F.conv2d_numpy(img, ker, s, p).shape[0], "TensorFlow": tf_out.shape[1], "note": note})
table = pd.DataFrame(rows)
assert (table["formula"] == table["NumPy"]).all() and (table["formula"] == table["TensorFlow"]).all()
table
"""),
code("""
fig = F.receptive_field_figure(x, k, stride=2, padding=1,
                               suptitle="Stride 2, zero padding 1 (grey zeros): 3x3 output from a 7x7 padded input")
"""),
md("""
With padding, the corner outputs see mostly zeros; with stride 2, neighbouring receptive fields
overlap by one column instead of two, and the map halves in size. ResNet's first layer
{cite}`he2016deep` uses both to go from 224 to 112 pixels.

## Several channels, several filters

A colour image has 3 channels, and every feature map a layer produces becomes a channel of the next
layer's input. A filter therefore spans *all* input channels: its kernel is $k \\times k \\times C$,
the products are summed over the channels too, and one filter gives one feature map. A layer with
$F$ filters gives $F$ feature maps and has $k \\cdot k \\cdot C \\cdot F$ weights plus $F$ biases.
"""),
code("""
rng = np.random.default_rng(0)
x3 = rng.integers(0, 3, size=(5, 5, 3)).astype(float)      # 5x5 input, 3 channels
k3 = rng.integers(-1, 2, size=(3, 3, 3, 2)).astype(float)   # 2 filters of 3x3x3 (Keras layout)
bias = np.array([0.5, -1.0])
maps = F.conv2d_numpy(x3, k3, bias=bias)
per_channel = [F.conv2d_numpy(x3[:, :, c], k3[:, :, c, 0]) for c in range(3)]
assert np.allclose(maps[:, :, 0], sum(per_channel) + bias[0])
print(f"input {x3.shape}, kernel {k3.shape} -> feature maps {maps.shape}")
print("filter 0, top-left value: channels", " + ".join(f"({m[0, 0]:g})" for m in per_channel),
      f"+ bias {bias[0]:g} = {maps[0, 0, 0]:g}")

import keras

layer = keras.layers.Conv2D(filters=2, kernel_size=3)
layer.build((None, 5, 5, 3))
layer.set_weights([k3, bias])
keras_maps = layer(x3[None].astype("float32")).numpy()[0]
assert np.allclose(keras_maps, maps, atol=1e-5)
print(f"Keras Conv2D gives the same maps; it has {layer.count_params()} parameters = 3*3*3*2 + 2")
"""),
md("""
## NumPy, TensorFlow, and the flipped kernel

`tf.nn.conv2d` and Keras `Conv2D` compute exactly what our loop does, for any stride and padding,
on multi-channel inputs with several filters:
"""),
code("""
x_big, k_big = rng.normal(size=(13, 11, 3)), rng.normal(size=(3, 3, 3, 4))
for s in (1, 2):
    for pad in ("valid", "same"):
        ours = F.conv2d_numpy(x_big, k_big, stride=s, padding=pad)
        theirs = tf.nn.conv2d(x_big[None], k_big, strides=s, padding=pad.upper()).numpy()[0]
        assert np.allclose(ours, theirs)
        print(f"stride {s}, padding {pad!r:8}: output {ours.shape}, max |NumPy - TF| = {np.abs(ours - theirs).max():.1e}")
assert np.array_equal(tf.nn.conv2d(x[None, :, :, None].astype(float), k[:, :, None, None].astype(float),
                                   strides=1, padding="VALID").numpy()[0, :, :, 0], out)
"""),
md("""
In mathematics and signal processing, a *convolution* flips the kernel (left-right and up-down)
before sliding it; without the flip the operation is a *cross-correlation*. Deep learning
libraries compute the cross-correlation and call it convolution. SciPy shows the difference with
an asymmetric kernel:
"""),
code("""
sobel = F.FILTERS["sobel x (vertical edges)"]
ours = F.conv2d_numpy(x, sobel)
print("ours = scipy correlate2d:                ", np.array_equal(ours, signal.correlate2d(x, sobel, mode="valid")))
print("ours = scipy convolve2d:                 ", np.array_equal(ours, signal.convolve2d(x, sobel, mode="valid")))
print("ours with flipped kernel = convolve2d:   ",
      np.array_equal(F.conv2d_numpy(x, sobel[::-1, ::-1]), signal.convolve2d(x, sobel, mode="valid")))
print("symmetric example kernel: flip changes nothing:", np.array_equal(signal.convolve2d(x, k, mode="valid"), out))
"""),
md("""
For a network the difference does not matter: the kernel is learned, and a network trained with
flipped kernels would simply learn the flipped weights. It matters when you copy a filter from an
image-processing textbook into a `Conv2D` layer, as the next section does.

## Classic filters on a brain MRI

Before deep learning, image analysis used hand-designed kernels. Sobel kernels respond to
vertical and horizontal edges, a box filter blurs, a sharpening kernel boosts the centre pixel
against its neighbours, the Laplacian responds to any change of intensity. We apply them to a
brain MRI of the book's data; all five run as **one** Keras `Conv2D` layer with 5 filters, i.e.
5 feature maps, and agree with NumPy.
"""),
code("""
brain = datasets.brain_mri_table()
mri = utils.read_image(brain.set_index("file").loc["yes/Y10.jpg", "path"], size=256) / 255.0

bank = np.stack(list(F.FILTERS.values()), axis=-1)[:, :, None, :]   # (3, 3, 1, 5)
conv = keras.layers.Conv2D(filters=5, kernel_size=3, padding="same", use_bias=False)
conv.build((None, 256, 256, 1))
conv.set_weights([bank])
feature_maps = conv(mri[None, :, :, None].astype("float32")).numpy()[0]
assert np.allclose(feature_maps, F.conv2d_numpy(mri[:, :, None], bank, padding="same"), atol=1e-5)
print(f"image {mri.shape} -> {feature_maps.shape[-1]} feature maps of {feature_maps.shape[:2]}")

names = list(F.FILTERS)
magnitude = np.hypot(feature_maps[..., 0], feature_maps[..., 1])
panels = [("original", mri)] + [(n, feature_maps[..., i]) for i, n in enumerate(names)]
panels.insert(3, ("edge magnitude (both Sobels)", magnitude))
fig, axes = plt.subplots(2, 4, figsize=(12, 6.3), layout="constrained")
for ax, (name, img) in zip(axes.ravel(), panels):
    # images keep the 0..1 grey scale; filter responses are stretched between their 1st and 99th percentile
    lo, hi = (0, 1) if name in ("original", "blur (box 3x3)", "sharpen") else np.percentile(img, [1, 99])
    ax.imshow(img, cmap="gray", vmin=lo, vmax=hi)
    ax.set_title(name, fontsize=9)
    ax.axis("off")
F.draw_matrix(axes[1, 3], F.FILTERS["laplacian"], title="the Laplacian kernel", cmap="Oranges")
_ = fig.suptitle("Classic 3x3 filters on a brain MRI (one Conv2D layer with 5 fixed filters)")
"""),
md("""
The Sobel maps light up at the skull and the tumour's rim, each in its own direction; their
magnitude outlines every boundary. The blur smooths noise but softens edges; sharpening does the
reverse and also amplifies noise; the Laplacian responds to fine texture and noise as much as to
edges. The bright frame around the edge maps is an artefact of zero padding: at the border the
image meets the zeros outside, which is an edge too. A CNN starts with random kernels and *learns* the ones that help its task; the first layer
of a trained network typically ends up with edge and blob detectors much like these
{cite}`yamashita2018convolutional`, and deeper layers combine them into larger patterns.

## Summary

- A convolutional layer slides a kernel over the input; each output value is the dot product of
  the kernel with its receptive field (plus a bias). The textbook example of the kind shown in
  the paper's Fig. 2 (a figure taken from Yamashita et al.) gives [[4, 3, 4], [2, 4, 3], [2, 3, 4]].
- Output size: $\\lfloor (n + 2p - k)/s \\rfloor + 1$. Padding keeps the size, stride shrinks it.
- A filter spans all input channels; $F$ filters give $F$ feature maps and
  $k \\cdot k \\cdot C \\cdot F + F$ parameters, independent of the image size.
- NumPy, `tf.nn.conv2d` and Keras `Conv2D` agree; deep learning's convolution is a
  cross-correlation (no kernel flip), unlike `scipy.signal.convolve2d`.
- Hand-made filters detect edges, blur or sharpen; a CNN learns its own.

## Exercises
"""),
*checked_exercise(1, "Output size", """
A 224x224 image goes through a 7x7 convolution with stride 2 and zero padding 3. What is the side
of the output? Use the formula, then confirm with `F.output_size` or `F.conv2d_numpy`.
""", "check_output_size", """
answer = (224 + 2 * 3 - 7) // 2 + 1   # = 112 = F.output_size(224, 7, 2, 3)
"""),
*checked_exercise(2, "A vertical-edge feature map", """
Apply the kernel `ex.EDGE_KERNEL` = [[1, 0, -1], [1, 0, -1], [1, 0, -1]] to the 5x5 example input `x`
(stride 1, no padding) the way a CNN does. Store the 3x3 feature map in `answer`. Then compare
with `signal.convolve2d(x, ex.EDGE_KERNEL, mode="valid")`: why does it differ?
""", "check_edge_feature_map", """
answer = F.conv2d_numpy(x, ex.EDGE_KERNEL)   # or signal.correlate2d(x, ex.EDGE_KERNEL, mode="valid")
# convolve2d flips the kernel, which negates this antisymmetric kernel: every value changes sign.
"""),
*checked_exercise(3, "Parameters of a convolutional layer", """
How many parameters does `Conv2D(32, kernel_size=3)` have on an RGB image (3 channels)? Count by
hand, then check with a Keras layer and `count_params()`.
""", "check_conv_params", """
answer = 3 * 3 * 3 * 32 + 32   # = 896
# layer = keras.layers.Conv2D(32, 3); layer.build((None, 64, 64, 3)); layer.count_params()
"""),
*checked_exercise(4, "Design a horizontal-edge detector", """
Write a 3x3 kernel that gives a **positive** response where the image goes from dark (above) to
bright (below), and only a positive one (no negative band next to it), no response on flat
regions, and (almost) none at vertical edges. Store it in
`answer` and apply it to `mri` with `F.conv2d_numpy(mri, answer, padding="same")`.
""", "check_horizontal_edge_kernel", """
answer = np.array([[-1, -2, -1],
                   [ 0,  0,  0],
                   [ 1,  2,  1]])   # Sobel y; [[-1,-1,-1],[0,0,0],[1,1,1]] (Prewitt) works too
"""),
]


BOOKS = {NB01: cells01, NB02: cells02, NB03: cells03}


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    for path, cells in BOOKS.items():
        print("wrote", write(path, cells).relative_to(ROOT))
    if argv[:1] == ["--solutions"]:
        for path, cells in BOOKS.items():
            print("wrote", write_with_solutions(path, cells, argv[1]))


if __name__ == "__main__":
    main()
