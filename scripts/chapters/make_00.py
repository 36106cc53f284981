import sys; from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from scripts.nbtools import md, code, setup, write
cells = [
md("""
# A tour of the book's data

Every experiment in this book runs on real, public medical images. Before training anything we
look at them: how many there are, where they come from, what formats and sizes they have, and
what is wrong with them. Two problems found here shape the whole book: **duplicate images** in the
brain MRI set, and **different sources per class** in the chest X-ray set.

**Learning objectives.** After this chapter you can

- load the book's three data sets through `utils` (every file verified by its sha256);
- describe each set: classes, counts, patients, sizes, formats, provenance and licence;
- find exact and near-duplicate images and explain why they must never straddle a train/test split;
- recognise a data set whose classes come from different sources (a shortcut waiting to happen).
"""),
setup(),
code("""
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

import utils
from utils import datasets, dedup, plots
"""),
code("""
env = utils.setup()
"""),
md("""
The report above names the mode (quick for tests, full for the book), the seed, library versions,
the hardware and where the data came from. Every chapter prints it, so any number in the book can
be traced to the environment that produced it.

## The brain MRI set

The paper's experiments use the Kaggle set *Brain MRI Images for Brain Tumor Detection*
{cite}`chakrabarty2019brainmri`: axial MRI slices in two folders, `yes/` (tumour) and `no/`.
`utils.datasets.brain_mri_table()` fetches every file (from the mirror, the cache or the pinned
GitHub commit), checks its sha256, and returns one row per file.
"""),
code("""
brain = datasets.brain_mri_table()
counts = brain["label"].value_counts().rename_axis("class").to_frame("images")
counts["share"] = (counts["images"] / counts["images"].sum()).round(3)
counts
"""),
code("""
sample = brain.groupby("label").sample(6, random_state=0)
fig = plots.image_grid([utils.read_image(p) for p in sample["path"]],
                       titles=[f"{l}: {f.split('/')[1]}" for l, f in zip(sample["label"], sample["file"])],
                       ncols=6, suptitle="Brain MRI: six 'no' (top) and six 'yes' (bottom) images")
"""),
md("""
The images are not a curated research set: slices come in very different sizes, crops,
contrasts (T1, T2, FLAIR) and some carry text or rulers. The classes are also imbalanced (see the share above): a model that always answers "yes"
already scores that share as accuracy.

## Sizes and formats of all images

`datasets.inventory()` reads the header of every image of the three sets. The file name's
extension does not always tell the truth about the format.
"""),
code("""
inv = datasets.inventory()
pd.crosstab([inv["dataset"], inv["format"]], inv["mode"], margins=True)
"""),
code("""
liars = inv.loc[~inv["format_matches_name"], ["dataset", "file", "format", "mode"]]
print(f"{len(liars)} files whose extension does not match their real format:")
liars
"""),
code("""
from matplotlib.ticker import NullFormatter, ScalarFormatter

images_only = inv[(inv["dataset"] != "brain_mri_masks") & ~inv["cls"].str.startswith("mask")]
fig, ax = plt.subplots(figsize=(7, 4.5))
sns.scatterplot(data=images_only, x="width", y="height", hue="cls", style="dataset", alpha=0.6, ax=ax)
ax.set(xscale="log", yscale="log", title="Image sizes in pixels (log scale); all 200 normal and "
       "pneumonia X-rays sit on one point, 512x512")
ticks = [200, 500, 1000, 2000, 4000]
ax.set_xticks(ticks)
ax.set_yticks(ticks)
for axis in (ax.xaxis, ax.yaxis):
    axis.set_major_formatter(ScalarFormatter())
    axis.set_minor_formatter(NullFormatter())
ax.title.set_fontsize(9)
ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
fig.tight_layout()
"""),
md("""
The loader decodes by content, not by name, and converts every mode in the table above
(grayscale `L`, palette `P`, `RGB`, `RGBA`) to one convention; it would convert 16-bit images
too, but these sets contain none. So none of this breaks a chapter. It does matter for the models: every
chapter resizes to one size, and a resize changes the aspect ratio of most images.

## Duplicates: the hidden leak

Many small public sets were assembled from web searches and contain the same picture more than
once. `utils.dedup.audit` finds **exact duplicates** (same bytes, same sha256) and
**near-duplicates** (the same picture resized, re-encoded or slightly cropped, found with a
256-bit difference hash).
"""),
code("""
images = [utils.read_image(p) for p in brain["path"]]
audit = dedup.audit(brain["file"], brain["sha256"], images, brain["label"])
summary = pd.Series({
    "files": audit["n_files"],
    "distinct byte contents (exact groups)": audit["n_exact_groups"],
    "distinct pictures (near-duplicate groups)": audit["n_near_groups"],
    "groups with conflicting labels": len(audit["label_conflicts"]),
}, name="brain MRI")
summary.to_frame()
"""),
code("""
path_of = dict(zip(brain["file"], brain["path"]))
exact_groups = [[path_of[f] for f in files] for files in audit["exact_table"]["file"]]
fig = plots.group_rows(exact_groups, max_groups=4)
_ = fig.suptitle("Exact duplicates: identical bytes under different names", y=1.02)
"""),
code("""
exact_sets = [set(g) for g in audit["exact_table"]["file"]]
near_only = [files for files in audit["near_table"]["file"]
             if not any(set(files) <= s for s in exact_sets)]
fig = plots.group_rows([[path_of[f] for f in files] for files in near_only], max_groups=6)
_ = fig.suptitle("Near-duplicates the byte hash misses: the same picture resized or re-encoded", y=1.02)
"""),
code("""
n_exact_copies = audit["n_files"] - audit["n_exact_groups"]
n_near_extra = audit["n_exact_groups"] - audit["n_near_groups"]
print(f"Byte hashing finds {n_exact_copies} redundant files; the perceptual hash merges "
      f"{n_near_extra} more pictures; {len(audit['label_conflicts'])} groups mix the labels.")
"""),
md("""
With a random 80/20 split of 253 files, several of these groups fall on both sides, and the
model is then tested on pictures it was trained on. Every split in this book is therefore
*grouped* by near-duplicate group: `utils.splits.grouped_holdout` for one train/test split,
`utils.splits.grouped_kfold` for cross-validation.
"""),
code("""
from utils import splits

train, test = splits.random_holdout(brain["y"], test_size=0.2, seed=0)
grouped_train, grouped_test = splits.grouped_holdout(brain["y"], brain["near_group"], 0.2, seed=0)
pd.DataFrame({
    "test images": [len(test), len(grouped_test)],
    "duplicate groups on both sides": [splits.straddling_groups(train, test, brain["near_group"]),
                                        splits.straddling_groups(grouped_train, grouped_test, brain["near_group"])],
}, index=["random 80/20 split (the paper's kind of protocol)", "grouped 80/20 split (this book)"])
"""),
md("""
## Tumour masks for the brain MRI set

128 of the `yes/` images have a tumour mask from another public repository. Who drew the masks,
and how (by hand, by an expert, semi-automatically), is not documented (see {doc}`../book/data`),
so treat them as a teaching set, not as expert ground truth. One mask (Y163) does not have the
size of its image; the segmentation chapter resizes it visibly instead of ignoring it.
"""),
code("""
pairs = datasets.brain_mri_mask_pairs()
print(f"{len(pairs)} image/mask pairs; size mismatches:")
display(pairs.loc[pairs["size_mismatch"], ["image", "file", "image_size", "mask_size"]])
show = pairs[~pairs["size_mismatch"]].sample(6, random_state=1)
overlays = [plots.overlay(utils.read_image(i), utils.read_image(m) > 127)
            for i, m in zip(show["image_path"], show["mask_path"])]
fig = plots.image_grid(overlays, titles=show["image"].str.split("/").str[1], ncols=6,
                       suptitle="Tumour masks (red) over their MRI")
"""),
md("""
## Errors in labels and masks

Looking at every image pays off. Two problems no hash can find: one "tumour" image is not a brain
MRI at all but an abdominal CT slice, and one tumour mask marks a region away from the visible
lesion. The book keeps such files (removing data silently would hide the problem) and records
them in `utils.datasets.KNOWN_ISSUES`; the tables carry them in an `issue` column, so a chapter
can name them wherever they matter: a model that "correctly" calls that CT slice a tumour has
learned nothing about tumours.
"""),
code("""
issues = pd.concat([brain.loc[brain["issue"] != "", ["file", "issue"]].assign(dataset="brain_mri"),
                    pairs.loc[pairs["issue"] != "", ["file", "issue"]].assign(dataset="brain_mri_masks")])
with pd.option_context("display.max_colwidth", None):
    display(issues[["dataset", "file", "issue"]])
odd_image = brain.loc[brain["issue"] != "", "path"].iloc[0]
bad_mask = pairs[pairs["issue"].str.contains("lesion")].iloc[0]
odd = [utils.read_image(odd_image),
       plots.overlay(utils.read_image(bad_mask["image_path"]), utils.read_image(bad_mask["mask_path"]) > 127)]
fig = plots.image_grid(odd, titles=[f"{brain.loc[brain['issue'] != '', 'file'].iloc[0]}: labelled 'tumour'",
                                    f"{bad_mask['file']}: the mask (red) misses the lesion"], ncols=2, size=4)
"""),
md("""
## The chest X-ray set

Three classes: COVID-19 X-rays from the ieee8023 collection {cite}`cohen2020covid` with
human-drawn lung masks from V7 Labs {cite}`v7labs2020covid`, and normal and viral-pneumonia X-rays
from Kermany et al. {cite}`kermany2018`. Several COVID images can belong to one patient, so the
book splits by patient.
"""),
code("""
chest = datasets.chest_xray_table()
per_class = chest.groupby("cls").agg(images=("file", "size"), patients=("group", "nunique"),
                                      with_lung_mask=("mask_path", lambda s: (s != "").sum()))
per_class
"""),
code("""
sample = chest.groupby("cls").sample(4, random_state=0)
fig = plots.image_grid([utils.read_image(p, size=256) for p in sample["path"]],
                       titles=sample["cls"], ncols=6, suptitle="Chest X-rays (resized to 256 px for display)")
"""),
code("""
covid = chest[chest["mask_path"] != ""].sample(4, random_state=2)
shown = []
for img_path, mask_path in zip(covid["path"], covid["mask_path"]):
    img = utils.read_image(img_path, size=256)
    mask = utils.read_image(mask_path, size=256, resample="nearest")
    shown += [plots.overlay(img, mask == 255), plots.overlay(img, mask == 127, color=(0.2, 0.4, 1.0))]
fig = plots.image_grid(shown, titles=["lung (255)", "ignore (127)"] * 4, ncols=8,
                       suptitle="V7 lung masks: lung in red, 'ignore' regions (devices, text) in blue")
"""),
code("""
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
x = inv[inv["dataset"] == "chest_xray"]
x = x[x["cls"].isin(["covid", "normal", "viral_pneumonia"])]
sns.histplot(data=x, x="width", hue="cls", bins=30, log_scale=True, ax=axes[0])
axes[0].set_title("Width of chest X-rays by class")
sns.countplot(data=x, x="cls", hue="mode", ax=axes[1])
axes[1].set_title("Colour mode by class")
fig.tight_layout()
"""),
md("""
Every normal and viral-pneumonia image is a 512x512 grayscale JPEG of a *child* from one
hospital; the COVID images are *adult* X-rays of every size, collected from papers and websites,
some with arrows and text. A classifier can separate these classes without looking at the lungs
at all. The COVID chapter measures how much of its accuracy comes from such shortcuts.

## Provenance and licences

Every file is listed in a committed manifest with its source repository, commit and licence as
stated by the source. The table below is computed from those manifests.
"""),
code("""
with pd.option_context("display.max_colwidth", None):
    display(datasets.provenance())
"""),
md("""
## Summary

- The brain MRI set has fewer distinct pictures than files (exact and near-duplicates, counted
  above); grouped splits keep copies of one picture on one side.
- Formats lie (PNG files named `.jpg`), sizes vary by an order of magnitude, and the classes are
  imbalanced; the loader handles the formats, the chapters handle the rest.
- Labels and masks contain errors (an abdominal CT labelled "tumour", a misplaced mask): look
  at your data before you trust a score computed on it.
- The chest X-ray classes come from different populations and sources: a warning for any
  accuracy measured on them.
- All data are fetched by `utils`, verified by sha256, and described in {doc}`../book/data`.

## Exercises

Each exercise has a check: replace the `...` with your answer and run the cell; the check says
whether it is right and, if not, why.

```{admonition} Exercise 1: Formats
:class: tip
How many files of the brain MRI set are PNG images named `.jpg`?
```
"""),
code("""
from utils.checks import data_tour as ex

answer = ...  # your code here: a number
ex.check_png_count(answer)
"""),
md("""
````{admonition} Solution
:class: dropdown
Filter the inventory by data set and compare the real format with the extension:

```python
b = inv[inv["dataset"] == "brain_mri"]
answer = int(((b["format"] == "PNG") & (b["extension"] == ".jpg")).sum())
```
````

```{admonition} Exercise 2: Keeping one copy
:class: tip
If you kept only one file of every near-duplicate group, how many brain MRI images would be left?
(Then look at the share of tumour images among them: does it change?)
```
"""),
code("""
answer = ...  # your code here: the number of images left
ex.check_distinct_pictures(answer)
"""),
md("""
````{admonition} Solution
:class: dropdown
Keep the first file of each group:

```python
first = brain.drop_duplicates("near_group")
answer = len(first)   # one image per near-duplicate group
first["y"].mean()     # the tumour share barely moves: no group mixes labels
```
````

```{admonition} Exercise 3: Patients
:class: tip
Which COVID-19 patient (`patientid`) contributes the most X-rays, and why does that matter for a
random split?
```
"""),
code("""
answer = ...  # your code here: a patientid (a string)
ex.check_top_patient(answer)
"""),
md("""
````{admonition} Solution
:class: dropdown
Count images per patient:

```python
counts = chest[chest["cls"] == "covid"].groupby("patientid").size()
answer = counts.idxmax()
```

Images of one patient share anatomy, devices and acquisition; a random split would test on
patients the model has already seen. Split by `group` (patient) instead.
````
"""),
]
write("notebooks/00_data_tour.ipynb", cells)
