"""Author notebooks/12_covid_xray_classification.ipynb: a COVID-19 X-ray classifier and its
shortcut audit."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from scripts.nbtools import code, exercise, md, setup, write  # noqa: E402


cells = [
md("""
# COVID-19 on chest X-rays: a classifier and its shortcuts

Section 3.2 of the paper reviews deep-learning models that tell COVID-19 from other findings on
chest X-rays and CT (its Fig. 9): the reported accuracies range from about 83 % to 98 %, the
sensitivities up to 100 %, mostly on small data sets (half of the 14 studies had fewer than 100
COVID-19 cases). This chapter builds such a classifier on
the book's real X-rays (COVID-19, normal, viral pneumonia) with transfer learning and
evaluates it the way those studies do. Then it audits the numbers: what does the model really
use? The
book's COVID-19 images are adult X-rays collected from papers and websites; the normal and
pneumonia images are paediatric X-rays from one hospital. A model can separate *those* without
ever looking at a lung.

**Learning objectives.** After this chapter you can

- train and evaluate a 3-class X-ray classifier on frozen ImageNet features, split by patient;
- report a confusion matrix and per-class recall and precision with Wilson intervals;
- audit a classifier for shortcuts: Grad-CAM, probes on lung-masked images, and a "source"
  probe that sees no anatomy at all;
- explain why the high accuracies of the COVID-19 literature (chapter 11) deserve suspicion, and
  what a trustworthy data set needs.
"""),
setup(),
code("""
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import utils
from utils import covid as C
from utils import experiments, metrics, plots, splits
from utils import segmentation as S
from utils.checks import covid_classification as ex
"""),
code("""
env = utils.setup()
"""),
md("""
Quick mode uses 12 images per class at 128 px and 3 folds; full mode all images at 224 px
(the backbone's native size) and 5 folds. Every measured number, counts of images included, is
printed by the code cells; the text refers to those printouts and does not repeat them, so it
stays true in either mode.
"""),
code("""
SIZE = utils.by_mode(quick=128, full=224)
PER_CLASS = utils.by_mode(quick=12, full=None)       # None: all images
FOLDS = utils.by_mode(quick=3, full=5)
CAM_PER_CLASS = utils.by_mode(quick=4, full=30)      # images per class for the Grad-CAM statistics
print(f"mode {utils.mode()}: {SIZE} px, images per class {PER_CLASS or 'all'}, {FOLDS} folds")
"""),
md("""
## The data, and a split by patient

`C.load_images` reads every X-ray of the three classes as a grayscale array (resized to a square,
which changes the aspect ratio of most COVID images) together with its patient. Several COVID
images can belong to one patient, so every split below is **grouped by patient**.
"""),
code("""
t0 = time.perf_counter()
X, y, groups, table = C.load_images(SIZE, PER_CLASS)
print(f"{len(y)} images {X.shape[1:]} of {len(set(groups))} patients, read in "
      f"{time.perf_counter() - t0:.0f} s (cached afterwards)")
w, h = table["width"].astype(int), table["height"].astype(int)
table.assign(is_512=(w == 512) & (h == 512), png=table["file"].str.lower().str.endswith(".png"),
             colour=table["mode"] != "L", width=w).groupby("cls").agg(**{
    "images": ("file", "size"), "patients": ("group", "nunique"), "distinct widths": ("width", "nunique"),
    "512x512 images": ("is_512", "sum"), "PNG images": ("png", "sum"), "colour images": ("colour", "sum")
}).rename_axis("class")
"""),
code("""
show = table.groupby("cls").sample(4, random_state=1).index
fig = plots.image_grid(X[show], titles=[f"{table['cls'][i]}\\n{table['width'][i]}x{table['height'][i]}"
                                        for i in show], ncols=6, size=1.7,
                       suptitle="Four X-rays per class, with their original sizes")
"""),
md("""
The table already tells the story the audit will test: the normal and pneumonia images
(children, one hospital in Guangzhou {cite}`kermany2018`) are all 512x512 grayscale JPEGs (the
counts of 512x512, PNG and colour images); the COVID images (adults, from publications and
websites {cite}`cohen2020covid`) come in many sizes (the number of distinct widths), rarely
512x512, some as PNG or in colour, some with arrows and text.

## Transfer learning: frozen features and a linear head

As in the transfer-learning chapters, an ImageNet network does the feature extraction: the
offline EfficientNet-Lite0 of `utils.backbones` {cite}`tan2019efficientnet`, frozen, gives 1280
numbers per image (global average pooling of its last feature map). A logistic regression on
those numbers is the trainable "head". With a few hundred images, a single 20 % hold-out would
test on fewer than a hundred; instead, **grouped k-fold cross-validation** (`FOLDS` folds, set
above) predicts every image once, by a head that never saw its patient.
"""),
code("""
features, seconds = C.lite0_features(X, "full")
full = C.probe(features, y, groups, n_splits=FOLDS)
print(f"features {features.shape} in {seconds:.0f} s ({'from the cache' if seconds == 0 else 'computed, now cached'})\\n"
      f"out-of-fold accuracy {full['accuracy']:.3f}, balanced accuracy {full['balanced_accuracy']:.3f}; "
      f"per fold {np.round(full['fold_accuracy'], 3).tolist()}")
"""),
code("""
fig = C.plot_confusion(y, full["pred"], title="Lite0 features + logistic regression\\n(out-of-fold, grouped by patient)")
"""),
code("""
k = int(np.sum(full["pred"] == y))
lo, hi = metrics.wilson_ci(k, len(y))
errors = full["pred"] != y
n_pair = int(np.sum(errors & (y != 0) & (full["pred"] != 0)))
n_covid = int(np.sum(errors & ((y == 0) | (full["pred"] == 0))))
print(f"accuracy {k}/{len(y)} = {k / len(y):.3f} (95% Wilson interval {lo:.3f} to {hi:.3f}); "
      f"COVID-19 images recognised: {int(np.sum(full['pred'][y == 0] == 0))} of {int(np.sum(y == 0))}")
print(f"errors: {int(errors.sum())}, of which {n_pair} {'confuses' if n_pair == 1 else 'confuse'} normal "
      f"and viral pneumonia and {n_covid} {'involves' if n_covid == 1 else 'involve'} COVID-19")
C.readable(C.per_class_table(y, full["pred"]))   # "–": no precision or F1 for the total
"""),
md("""
By the standards of the COVID-19 literature, numbers like these are a publishable result. Look
at where the errors fall. If COVID-19 comes out as the easiest class, a reader should ask *why*:
radiologists find COVID-19 pneumonia hard to tell from other viral pneumonias. Compare with the
two classes that share one source:
"""),
code("""
same_source = y != 0
pair = C.probe(features[same_source], y[same_source] - 1, groups[same_source], n_splits=FOLDS)
covid_vs_rest = np.mean((full["pred"] == 0) == (y == 0))
print(f"COVID vs the rest (from the 3-class predictions): accuracy {covid_vs_rest:.3f}")
print(f"normal vs viral pneumonia, same hospital and format: accuracy {pair['accuracy']:.3f} "
      f"(chance 0.5)")
"""),
md("""
The two printed accuracies answer a question *within* one source (normal versus viral
pneumonia: one hospital, one format) and one *across* sources (COVID-19 or not). The first is
learnable (pneumonia in children is often visible); but when the second is answered almost
without error and the first is not, the difference needs an explanation that is not "COVID-19 is
easy to see". The rest of the chapter asks what the answer across sources is based on.

## The shortcut audit

### 1. "Source" probes that see no lung

`C.source_features` describes each image without any model of its content: the **file
metadata** (original width, height and aspect ratio, PNG or JPEG, colour or grayscale) and
simple **image statistics** (file bytes per pixel, brightness of the image border and of the whole
image). If a logistic regression on five metadata numbers separates the classes, the classes
differ in *where their images come from*, and any model can exploit it. (The image statistics
are not completely free of content: an opaque lung makes an image brighter.)
"""),
code("""
src = C.source_features(table, X)
meta_columns = ["log_width", "log_height", "aspect", "is_png", "is_rgb"]
metadata = C.probe(src[meta_columns].to_numpy(), y, groups, n_splits=FOLDS)
source = C.probe(src.to_numpy(), y, groups, n_splits=FOLDS)
for name, res in [("file metadata (5 numbers)", metadata), ("+ image statistics (11)", source)]:
    print(f"{name:>26}: 3-class accuracy {res['accuracy']:.3f}, COVID vs the rest "
          f"{np.mean((res['pred'] == 0) == (y == 0)):.3f}")
print(f"{'majority class':>26}: {np.bincount(y).max() / len(y):.3f}")
fig, ax = plt.subplots(figsize=(6.5, 3.8))
for c, name in enumerate(C.CLASSES):
    sel = y == c
    ax.scatter(np.exp(src["log_width"][sel]), src["border_mean"][sel], s=12, alpha=0.6, label=name)
ax.set(xscale="log", xlabel="original width (pixels, log scale)", ylabel="mean brightness of the border",
       title="Two numbers without anatomy: original width and border brightness")
ax.legend(fontsize=8)
fig.tight_layout()
"""),
md("""
### 2. Grad-CAM: where does the classifier look?

Grad-CAM {cite}`selvaraju2017gradcam` weights each channel of the last feature map by the
average gradient of the class score with respect to it, and shows the weighted sum as a heat
map. `C.head_model` rebuilds the classifier (backbone, pooling, and the logistic regression as a
Dense layer: it gives exactly the same probabilities), here fitted on **all** images: every map
below explains a prediction for an image the head was trained on (in-sample), so it shows what
the fitted head relies on, not how it would behave on a new patient.

To have a lung outline on every image, including the normal and pneumonia X-rays that have no
human masks, we use the lung U-Net trained in {doc}`10_tasks_unet` (or train it now with the
same recipe, if this is the first chapter you run). That U-Net learnt from the COVID-19 X-rays of
chapter 10's training patients, which are most of this chapter's COVID images (the count is
printed below), and from no normal or pneumonia image. Its masks are therefore largely
**in-sample** for the COVID class and **out of distribution** for the children's X-rays: the
quality of a mask can differ between the classes for a reason that has nothing to do with
disease, a milder form of the shortcut this chapter is about.
"""),
code("""
t0 = time.perf_counter()
lung_model, lung_config = S.get_lung_unet(verbose=False)   # chapter 10's model, or trained now
lungs = C.predict_lungs(lung_model, X)
area = lungs.mean(axis=(1, 2, 3))
unet_test = table["file"].isin(lung_config.get("test_files", [])).to_numpy()
unet_seen = (y == 0) & ~unet_test          # COVID images of chapter 10's training patients
print(f"lung U-Net ({lung_config.get('mode')} mode, chapter-10 held-out Dice "
      f"{lung_config.get('heldout_mean_dice', float('nan')):.3f}), ready in {time.perf_counter() - t0:.0f} s\\n"
      f"it was trained on {int(unet_seen.sum())} of this chapter's {int(np.sum(y == 0))} COVID-19 images "
      f"and on none of its {int(np.sum(y != 0))} normal and pneumonia images\\n"
      f"predicted lung area (share of the image), median by class: "
      + ", ".join(f"{c} {np.median(area[y == k]):.0%}" for k, c in enumerate(C.CLASSES))
      + f"; images with less than 10 %: {(area < 0.10).sum()} of {len(area)}")
"""),
md("""
The U-Net was trained on adult COVID-19 X-rays only. On the COVID images its masks can be
compared with the human ones, separately for the images it was trained on and for those of
chapter 10's held-out patients; on children's X-rays it has never been checked (there are no
human masks), so look at its masks before trusting them:
"""),
code("""
covid_idx = np.flatnonzero(y == 0)
human = np.stack([utils.read_image(p, size=SIZE, resample="nearest") for p in table.loc[covid_idx, "mask_path"]])
d = np.array([S.dice_score(h == 255, m[..., 0], h != 127) for h, m in zip(human, lungs[covid_idx])])
print(f"mean Dice against the human masks at {SIZE} px: " + ", ".join(
    f"{v.mean() if len(v) else float('nan'):.3f} on the {len(v)} COVID images {name}"
    for name, v in [("the U-Net was trained on", d[unet_seen[covid_idx]]),
                    ("held out in chapter 10", d[~unet_seen[covid_idx]])]))
show = table.groupby("cls").sample(3, random_state=3).index
fig = plots.image_grid([plots.overlay(X[i], lungs[i]) for i in show],
                       titles=[f"{table['cls'][i]}\\nlung {area[i]:.0%}" for i in show], ncols=9,
                       size=1.5, suptitle="Predicted lung masks (red) on three X-rays per class")
"""),
code("""
head = C.linear_head().fit(features, y)
cam_model = C.head_model(head, SIZE)
cam_idx = np.concatenate([np.random.default_rng(0).permutation(np.flatnonzero(y == c))[:CAM_PER_CLASS]
                          for c in range(3)])
t0 = time.perf_counter()
cams = C.grad_cam(cam_model, X[cam_idx])
inside = C.cam_share_inside(cams, lungs[cam_idx])
cam_table = pd.DataFrame({"class": np.array(C.CLASSES)[y[cam_idx]], "Grad-CAM mass on the lungs": inside,
                          "lung share of the image": area[cam_idx]}).groupby("class").mean().round(2)
print(f"Grad-CAM of {len(cam_idx)} images in {time.perf_counter() - t0:.0f} s (maps for the predicted class)")
cam_masks = lungs[cam_idx][..., 0] >= 0.5
top = np.array([np.argmax(m.any(1)) if m.any() else 0 for m in cam_masks])   # first lung row
above = np.array([c[:t].sum() / max(c.sum(), 1e-12) for c, t in zip(cams, top)])
cam_table["Grad-CAM mass above the lungs"] = pd.Series(above).groupby(
    np.array(C.CLASSES)[y[cam_idx]]).mean().round(2)
cam_table
"""),
code("""
pick = np.concatenate([cam_idx[y[cam_idx] == c][:3] for c in range(3)])
pos = [int(np.flatnonzero(cam_idx == i)[0]) for i in pick]
fig, axes = plt.subplots(1, len(pick), figsize=(1.75 * len(pick), 2.3))
for ax, i, k in zip(axes, pick, pos):
    ax.imshow(X[i][..., 0], cmap="gray")
    ax.imshow(cams[k], cmap="jet", alpha=0.4)
    ax.contour(lungs[i][..., 0], levels=[0.5], colors="white", linewidths=0.7)
    ax.set_title(f"{('COVID', 'normal', 'pneumonia')[y[i]]}\\n{inside[k]:.0%} on lungs", fontsize=7)
    ax.axis("off")
fig.suptitle("Grad-CAM of the predicted class (lungs outlined in white)", fontsize=10)
fig.tight_layout()
"""),
md("""
If the model looked only at lung disease, nearly all the heat would lie inside the outlines.
Compare the columns of the table class by class: where the heat on the lungs is no larger than
the lungs' share of the image, the lungs matter to the model no more than any other part of the
picture; where it is larger, they matter more, but whatever heat is not on the lungs is
evidence taken from elsewhere. The last column gives the heat above the top of the lungs (neck
and shoulders). Grad-CAM maps are coarse (one cell per 32x32 pixels, 7x7 cells at 224 px,
blown up) and show where a *gradient* is large, not why; here they come from a head fitted on
the very images mapped, and the lung outlines from the U-Net whose masks are in-sample for most
COVID images only. Some of these maps would even look reassuring in a paper. They are a hint,
not proof; the probes below are more direct.

### 3. Probes on the lungs only, and on everything but the lungs

With the predicted lung masks, every image gives three variants: **lungs only** (the rest set
to black), **lungs removed** (the lungs set to black) and the **silhouette** (the mask alone, no
pixel of the X-ray). Each gets the same backbone, the same head and the same grouped
cross-validation. The masks come from one model for every image: using the human masks for the
COVID images only would add a shortcut of its own (the mask style would reveal the class).

That one model is not neutral either (see the counts printed with the masks): it was trained on
most of the COVID images and on no child's X-ray. Where a mask's border runs, how well it fits
and how much lung a too-small mask leaves in the "lungs removed" image can therefore differ
between the classes for reasons that are not disease. This affects all three probes, the
silhouette most, since it sees nothing but the mask. The fair version would mask every COVID
image with a U-Net that never saw its patient (one U-Net per cross-validation fold); that is too
expensive on two CPU cores for this chapter, and the children's X-rays would stay out of
distribution even then, for want of paediatric masks to train on. Read the three probes with
this caveat.
"""),
code("""
variants = C.lung_variants(X, lungs)
fig = plots.image_grid([variants[v][i] for i in show[::3] for v in variants],
                       titles=[f"{table['cls'][i]}\\n{v.replace('_', ' ')}" for i in show[::3] for v in variants],
                       ncols=9, size=1.5, suptitle="The three variants of one X-ray per class")
"""),
code("""
probes, lines = {"full image": full}, []
for key, images in variants.items():
    name = {"lungs_only": "lungs only", "lungs_removed": "lungs removed",
            "silhouette": "lung silhouette only"}[key]
    feats, sec = C.lite0_features(images, key)
    probes[name] = C.probe(feats, y, groups, n_splits=FOLDS)
    lines.append(f"{name:>28}: features in {sec:.0f} s, accuracy {probes[name]['accuracy']:.3f}")
probes["file metadata only"] = metadata
probes["image statistics (no model)"] = source


def summarise(res):
    k = int(np.sum(res["pred"] == y))
    lo, hi = metrics.wilson_ci(k, len(y))
    rest = y != 0
    return {"accuracy": k / len(y), "95% CI low": lo, "95% CI high": hi,
            "balanced accuracy": res["balanced_accuracy"],
            "COVID vs rest": np.mean((res["pred"] == 0) == (y == 0)),
            "normal vs pneumonia": np.mean(res["pred"][rest] == y[rest])}


audit = pd.DataFrame({name: summarise(r) for name, r in probes.items()}).T
audit.loc["majority class"] = [np.bincount(y).max() / len(y), np.nan, np.nan, 1 / 3, np.nan, np.nan]
lines.append("differences to the full image:")
for name in audit.index[1:-1]:
    lines.append(f"{name:>28}: accuracy {audit.loc[name, 'accuracy'] - audit.loc['full image', 'accuracy']:+.3f}, "
                 f"COVID vs rest {audit.loc[name, 'COVID vs rest'] - audit.loc['full image', 'COVID vs rest']:+.3f}, "
                 f"normal vs pneumonia {audit.loc[name, 'normal vs pneumonia'] - audit.loc['full image', 'normal vs pneumonia']:+.3f}")
print("\\n".join(lines))
C.readable(audit)   # "–": no interval, or no such question, for the majority class
"""),
code("""
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
order = audit.index[::-1]
n = len(y)
for ax, column, label in [(axes[0], "accuracy", "3-class accuracy"),
                          (axes[1], "COVID vs rest", "accuracy of 'COVID-19 or not'")]:
    acc = audit.loc[order, column].to_numpy(dtype=float, copy=True)
    known = ~np.isnan(acc)
    acc[~known] = np.bincount((y == 0).astype(int)).max() / n   # majority answer for the binary question
    ci = np.array([metrics.wilson_ci(int(round(a * n)), n) for a in acc])
    ci[list(order).index("majority class")] = acc[list(order).index("majority class")]  # no model
    ax.barh(order, acc, color="tab:blue", alpha=0.8)
    ax.errorbar(acc, order, xerr=[acc - ci[:, 0], ci[:, 1] - acc], fmt="none", color="k", capsize=3)
    ax.axvline(acc[list(order).index("majority class")], color="grey", ls="--", label="majority class")
    ax.set(xlim=(0, 1), xlabel=f"{label}\\n(out-of-fold, grouped by patient; 95% Wilson CI)")
    ax.legend(fontsize=8, loc="lower right")
fig.suptitle("What is left when the model sees only part of the X-ray, or none of it?")
fig.tight_layout()
"""),
md("""
Read the table row by row, with the printed differences to the full image (the last two
columns split the 3-class predictions into the two questions; "What this build measured", before
the summary, collects the key numbers):

- **Lungs removed**: the classifier never sees a lung pixel. Whatever it still gets right, it
  gets from the neck, shoulders and body of a child versus an adult, the borders, markers and
  the way the image was processed, not from COVID-19 pneumonia; if it is about as good as with
  the whole image, the lungs were never needed. (Strictly: no lung pixel *as the U-Net sees
  it*; where its out-of-distribution masks on children's X-rays are too small, some lung is
  left.)
- **Lungs only**: a high score here does not prove the model reads pathology: the lung region
  also carries the source (a child's ribs and proportions, resolution, contrast processing).
- **Lung silhouette only**: the outline of a predicted mask, with no pixel of the X-ray. Any
  score clearly above the majority class means the shape alone carries the class: children's
  lungs have another shape and fill the frame differently. Part of such a score can also come
  from the mask model itself, whose masks are in-sample for most COVID images and out of
  distribution for the children's (see above).
- **File metadata only**: five numbers about the file, no pixel at all. Its "COVID vs rest"
  column shows how much of the question the file alone answers; normal and pneumonia it cannot
  tell apart beyond the class proportions, because their files are alike in all five numbers
  (512x512 grayscale JPEGs). Exercise 3 builds a one-line version of it.

Check the last column too. If normal versus pneumonia, which share a source, is answered about
as well with the lungs removed as with the whole image, and the silhouette alone scores well
above chance (compare the median predicted lung areas per class printed with the U-Net masks),
then the two groups of children also differ in ways that are not lung texture: age and body
size, positioning, field of view, or the mask itself reacting to the disease. This data set
cannot tell which, and the same-source result would need an audit of its own. Where the probes
without lungs come close to the full image, "COVID-19 detection" on this data set is mostly
"adult internet X-ray detection".

## What the literature tables should make you suspect

The literature chapter ({doc}`11_covid_literature`) turns the paper's table of COVID-19
classifiers into data: reported accuracies from about 83 % to 98 % (three of the nine above
90 %), sensitivities from about 83 % to 100 %, half of the studies with fewer than 100 COVID-19
cases, and for none of them does the table give a validation protocol, an external test set, or
the source of each class. Many early COVID-19 X-ray studies
were trained on data sets assembled exactly like this one: COVID-19 images from the ieee8023
collection or similar web sources, "normal" and "pneumonia" images from the paediatric Kermany
set or from other hospitals. Read every high number in those tables with this chapter's audit in
mind: what would a metadata probe, or a lungs-removed probe, have scored on that data?

Roberts et al. {cite}`roberts2021pitfalls` examined in detail the 62 studies that passed their
quality screening and found none of them of potential clinical use, naming paediatric control
images, "Frankenstein" data sets (the same public images recombined and re-shared), missing
patient-level splits and the absence of external validation among the recurring problems. DeGrave et al.
{cite}`degrave2021shortcuts` showed that COVID-19 X-ray classifiers learn shortcuts (laterality
markers, text, patient positioning, the borders of the image) and lose much of their accuracy
on data from other hospitals. A reported 98 % on such data measures mostly how different the
sources are.

**A trustworthy data set** for this question would have:

- all classes from the **same hospitals, devices and period**, in the same format (DICOM, not
  figures copied from papers), with adult controls of the same age and sex mix;
- consecutive patients with a **reference standard** (RT-PCR, follow-up), not images selected
  because they were interesting enough to publish;
- controls that matter clinically (other pneumonias, heart failure), not healthy children;
- splits **by patient**, an **external test set** from another hospital, and results reported per
  site;
- audits like the ones above (source probes, masked probes, saliency) reported with the accuracy,
  and burned-in text or markers removed or checked.
"""),
code("""
results = {
    "images": len(y), "patients": len(set(groups)), "size": SIZE, "folds": FOLDS,
    "classifier": {"accuracy": full["accuracy"], "balanced_accuracy": full["balanced_accuracy"],
                   "per_class": C.per_class_table(y, full["pred"]),
                   "covid_vs_rest_accuracy": covid_vs_rest,
                   "normal_vs_pneumonia_binary_accuracy": pair["accuracy"]},
    "probes": audit,
    "grad_cam_share_on_lungs": cam_table,
    "lung_unet": {k: lung_config.get(k) for k in ("mode", "heldout_mean_dice", "base_filters")},
    "size_rule_accuracy": ex.size_rule_accuracy(table),
}
path = experiments.save_results("covid_classification", results, environment=env)
print(f"saved to {path.relative_to(utils.config.repo_root())}")
"""),
md("""
## What this build measured

The key numbers of this run (out-of-fold, grouped by patient, unless said otherwise; the lung
masks and the Grad-CAM head carry the caveats above):
"""),
code("""
a = audit["accuracy"]
rest = audit["COVID vs rest"]
print(f"{utils.mode()} mode: {len(y)} images at {SIZE} px, {FOLDS} folds")
print(f"- 3-class accuracy, full image: {a['full image']:.3f} (95% CI {audit.loc['full image', '95% CI low']:.3f} "
      f"to {audit.loc['full image', '95% CI high']:.3f}); majority class {a['majority class']:.3f}")
print(f"- 3-class accuracy of the mask-based probes: lungs removed {a['lungs removed']:.3f}, lung "
      f"silhouette only {a['lung silhouette only']:.3f}, lungs only {a['lungs only']:.3f}")
print(f"- COVID-19 or not: full image {rest['full image']:.3f}, file metadata only {rest['file metadata only']:.3f}, "
      f"the 512x512 rule {ex.size_rule_accuracy(table):.3f}")
print("- Grad-CAM heat on the lungs vs the lungs' share of the image (in-sample head): " + "; ".join(
    f"{c} {r['Grad-CAM mass on the lungs']:.2f} vs {r['lung share of the image']:.2f}" for c, r in cam_table.iterrows()))
print(f"- lung U-Net: trained on {int(unet_seen.sum())} of the {int(np.sum(y == 0))} COVID-19 images, "
      f"on none of the {int(np.sum(y != 0))} normal and pneumonia images")
"""),
md("""
## Summary

- Frozen ImageNet features and a linear head, evaluated by grouped cross-validation, classify the
  book's X-rays into COVID-19, normal and viral pneumonia; the per-class table shows how well,
  and which class is easiest; "What this build measured" gives the accuracy with its interval.
- The classes come from different sources, and the audit measures how much of the accuracy that
  explains: file metadata alone (and a one-line 512x512 rule), the image with the lungs blacked
  out, the lung silhouette alone, and the share of Grad-CAM heat on and above the lungs. Every
  probe that needs no lung yet comes close to the full image is evidence of a shortcut; compare
  the measured numbers with the full image.
- The audit has limits of its own: the lung masks come from a U-Net trained on most of the
  COVID images and on no child's X-ray (in-sample for one class, out of distribution for the
  others), which affects the three mask-based probes, and the Grad-CAM head was fitted on the
  images it explains.
- Normal versus viral pneumonia, held at one source, is the fairer question; the lungs-removed
  probe tests whether even there the model reads the lungs.
- High accuracies in the COVID-19 literature built on such "Frankenstein" data sets
  {cite}`roberts2021pitfalls` measure shortcuts {cite}`degrave2021shortcuts`. Trust needs data
  from one population and process for all classes, patient-level splits, external validation and
  audits like these.

## Exercises
"""),
*exercise(1, "Per-class recall", """
`ex.CONFUSION` is a 3-class confusion matrix (rows: true class, columns: predicted class, in the
order of `ex.CLASSES`). Compute the recall of each class.
""", """
print(ex.CLASSES)
print(ex.CONFUSION)
answer = ...  # your code here: {"covid": ..., "normal": ..., "viral_pneumonia": ...}
ex.check_recall(answer)
""", """
Recall (sensitivity) of class $c$ is the diagonal entry divided by the row sum: of the images
that truly are $c$, the share predicted as $c$. Dividing by the column sum would give the
precision.
""", """
recall = np.diag(ex.CONFUSION) / ex.CONFUSION.sum(axis=1)
answer = dict(zip(ex.CLASSES, recall))      # covid 0.83, normal 0.75, viral_pneumonia 0.50
ex.check_recall(answer)
"""),
*exercise(2, "A split by patient", """
Make a train/test split of this chapter's images with about 20 % in test and **no patient on
both sides** (`groups` holds the patient of each image). Return `(train_idx, test_idx)`.
""", """
answer = ...  # your code here: (train_idx, test_idx)
ex.check_patient_split(answer, groups)
""", """
`utils.splits.grouped_holdout` keeps every patient's images together (and the class proportions
close to the whole set's). A plain random split of images would put images of one COVID patient
on both sides.
""", """
train_idx, test_idx = splits.grouped_holdout(y, groups, test_size=0.2, seed=0)
answer = (train_idx, test_idx)
ex.check_patient_split(answer, groups)
"""),
*exercise(3, "The one-line classifier", """
Consider the rule "an X-ray of exactly 512x512 pixels (original size) is *not* COVID-19, any other
is COVID-19". What accuracy does it reach on this chapter's `table` for the question "COVID-19 or
not"? Compare it with the classifiers above.
""", """
answer = ...  # your code here: a number between 0 and 1
ex.check_size_rule(answer, table)
""", """
Apply the rule to every image and count how often it agrees with the truth. It never looks at
a pixel, let alone a lung; compare its accuracy with the "COVID vs rest" column of the audit
table.
""", """
is_512 = (table["width"].astype(int) == 512) & (table["height"].astype(int) == 512)
answer = np.mean(is_512.to_numpy() == (table["cls"] != "covid").to_numpy())
print(f"size rule {answer:.3f}, deep model (full image) {audit.loc['full image', 'COVID vs rest']:.3f}")
ex.check_size_rule(answer, table)
"""),
]

if __name__ == "__main__":
    print(write("notebooks/12_covid_xray_classification.ipynb", cells))
