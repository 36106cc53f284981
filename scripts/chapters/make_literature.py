"""Author the two literature chapters (07 brain tumour, 11 COVID-19) as output-free notebooks.

    python3 scripts/chapters/make_literature.py

The tables are the paper's Figs 8, 9 and 10, transcribed in ``utils/literature/*.csv``;
the analysis helpers live in ``utils/literature.py`` and the exercise checks in
``utils/checks/brain_tumor_literature.py`` and ``utils/checks/covid_literature.py``.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from scripts.nbtools import code, md, setup, write  # noqa: E402

# =============================================================================================
# Chapter 07: brain tumour literature (paper Fig. 10)
# =============================================================================================
brain = [
md("""
# What the brain tumour literature reports

Section 3.3 of the paper {cite}`dogan_paper` reproduces part of a table from the review of CNN
methods for brain tumour classification by Xie et al. {cite}`xie2022convolutional` (the paper's
Fig. 10), then trains two models of its own on 253 Kaggle MRI slices and reports 78 % (a small
CNN) and 92 % (ResNet50 transfer learning) test accuracy. The table's accuracies lie between
88 % and 99 %. Does that make the paper's models worse than the literature? This chapter turns
the table into data, plots it, checks it, and asks what can be compared with what.

**Learning objectives.** After this chapter you can

- load a literature table as a tidy DataFrame with numeric metric columns and trace every row
  back to the printed text;
- plot reported accuracy by architecture family and by validation protocol, and say why the
  differences are not evidence;
- prove that accuracy must lie between sensitivity and specificity, and flag the rows of a
  table that break this rule;
- put a Wilson confidence interval around an accuracy measured on a small test set, and place
  the paper's 78 % and 92 % (51 test images) next to the literature.
"""),
setup(),
code("""
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

import utils
from utils import datasets
from utils import literature as L
from utils.checks import brain_tumor_literature as ex
"""),
code("""
env = utils.setup()
"""),
md("""
## The table as data

`utils.literature` holds the paper's three literature tables, transcribed from the paper's
text. Raw text columns keep the printed wording (typos included); the numeric columns
(`accuracy`, `sensitivity`, `specificity`, `auc`, `f1`) are fractions parsed from the
"Performance" and "ACC%" cells, and stay empty (NaN) when the table does not state a value.
`add_references` adds a short plot `label` and a `reference`: every row comes from Xie et al.
{cite}`xie2022convolutional`, and the number in brackets is a citation *inside that review*.
"""),
code("""
bt = L.add_references(L.load_table("brain_tumor_classification"), "brain_tumor_classification")
print(f"{len(bt)} rows from {bt['study'].nunique()} studies; columns: {len(bt.columns)}")
bt[["label", "year", "task", "method_family", "validation_protocol",
    "accuracy", "sensitivity", "specificity", "auc"]]
"""),
md("""
Fourteen rows from twelve studies: Prager et al. report two models, and the He et al. cell holds
two results (labelled "TCCA" and "ResNet2017" in the paper, perhaps the TCIA and BraTS 2017 data
sets) that were split into two rows. Every transcription decision is written down in the `note`
column, and `source_row` keeps the printed line, so each number can be traced back:
"""),
code("""
with pd.option_context("display.max_colwidth", 110):
    display(bt.loc[bt["note"].notna(), ["label", "note"]])
print(bt.loc[bt["study"] == "Ge et al.", "source_row"].iloc[0])
"""),
md("""
Three more things a careful reader notices in the printed table:

- the header says "ACC% ¹", but the paper has no footnote 1, so we do not know how the
  accuracy was defined (per slice, per patient, mean over folds?);
- the bracketed numbers repeat: five different studies carry "[10]", so they cannot be one
  reference each; to find a study, search the review by author name;
- the metrics reported differ from row to row. The heat map shows which ones each row states.
"""),
code("""
fig, ax = plt.subplots(figsize=(7, 5.5))
L.plot_metric_table(bt, ["accuracy", "sensitivity", "specificity", "auc", "f1"], labels=bt["label"], ax=ax,
                    title="Fig. 10 as numbers: grey cells are not stated")
fig.tight_layout()
"""),
code("""
stated = bt[["accuracy", "sensitivity", "specificity", "auc", "f1"]].notna().sum().rename("rows stating it")
stated.to_frame().T
"""),
md("""
Only accuracy is stated by (almost) every row, so it is the only metric that can be compared
across the table at all. Hassan et al. report only an AUC, printed as a percentage ("AUC = 92.8%").

## Accuracy by architecture family

The `method_family` column groups the "Model Architecture" cells into a small vocabulary:
custom CNNs, transfer learning from ImageNet models, and 3D CNNs. Each dot is one row; the
black bar is the group median.
"""),
code("""
fig, ax = plt.subplots(figsize=(8, 5))
L.plot_metric_by(bt, "method_family", "accuracy", ax=ax, annotate=True,
                 title="Fig. 10: reported accuracy by architecture family")
fig.tight_layout()
"""),
code("""
by_family = bt.groupby("method_family")["accuracy"].agg(["count", "median", "min", "max"]).round(3)
by_family
"""),
md("""
The families overlap almost completely: the spread *within* a family (the custom CNNs range from
88 % to 99.4 %) is larger than the difference between the family medians. With three to six rows per
family, different data, different tasks and different protocols, a difference of a point or two in
the medians says nothing about which architecture is better. The one study that tried two families
on its own data (Prager et al.: Inception transfer learning 96.3 %, 3D CNN 97.1 %) would be a fairer
comparison than any pooled median, but it does not help either: its 3D-CNN row is one of the rows
that cannot be taken at face value (its accuracy lies above both its sensitivity and its
specificity, see below), and a difference of under one point is below what a test set of a few
hundred cases can resolve (see the last section).

## Accuracy by validation protocol

How a result was validated matters more than the architecture. Half of the rows say
"No info shared": we do not know whether the accuracy was measured on a separate test set,
on cross-validation folds, or on the training data.
"""),
code("""
fig, ax = plt.subplots(figsize=(7.5, 3.2))
L.plot_metric_by(bt, "validation_protocol", "accuracy", hue="method_family", ax=ax,
                 order=["no info shared", "5-fold CV", "10-fold CV"],
                 title="Fig. 10: reported accuracy by validation protocol")
ax.legend(fontsize=7, title="family", title_fontsize=7, loc="lower left")
fig.tight_layout()
"""),
code("""
protocol = (bt.assign(protocol=np.where(bt["validation_protocol"] == "no info shared", "no info shared", "k-fold CV"))
            .groupby("protocol")["accuracy"].agg(["count", "median", "min", "max"]).round(3))
protocol
"""),
md("""
Rows that say nothing about validation do not report lower accuracies than the rows with
k-fold cross-validation; they include both the highest (Chakrabarti et al., 99.44 %) and the
lowest (Abbas et al., 88 %) value. Cross-validation is also not the same as a held-out test
set: if a model's settings were tuned on the same folds, the cross-validated accuracy is
optimistic, and if slices of one patient fall in different folds, it is optimistic again. None
of the rows mentions an *external* test set from another hospital.

## Can the numbers be true? Accuracy, sensitivity and specificity

For a binary task with a share $p$ of positive cases (here HGG) in the test set,

$$
\\text{accuracy} = p \\cdot \\text{sensitivity} + (1 - p) \\cdot \\text{specificity},
$$

a weighted mean of sensitivity and specificity. Whatever $p$ is, accuracy lies between
$\\min(\\text{sens}, \\text{spec})$ and $\\max(\\text{sens}, \\text{spec})$. Solving for $p$ gives the
share of positives a row *implies*: $p = (\\text{acc} - \\text{spec}) / (\\text{sens} - \\text{spec})$.
`L.accuracy_consistency` computes the allowed range and the implied share and flags every row
whose accuracy is outside the range by more than half a percentage point (the rounding of
the printed values).
"""),
code("""
flags = L.accuracy_consistency(bt)
checked = bt[["row_id", "label", "accuracy", "sensitivity", "specificity"]].join(flags)
checked.loc[checked["status"] != "not checkable"].round(3)
"""),
code("""
fig, ax = plt.subplots(figsize=(7.5, 3.6))
L.plot_accuracy_consistency(bt, labels=bt["label"], ax=ax,
                            title="Fig. 10: accuracy against the range sensitivity and specificity allow")
fig.tight_layout()
print(flags["status"].value_counts().to_string())
"""),
md("""
Three of the seven checkable rows cannot come from a single binary test set: Ge et al.
(accuracy 96.7 % above both 84.3 % and 93.6 %), Prager et al.'s 3D CNN (97.1 % above 94.7 % and
94.4 %) and He et al.'s first result (92.88 % below 97.4 % and 95.8 %). The implied shares of
positives are negative or far above 1. If the two He et al. accuracies were swapped, the TCCA
row would still be impossible (94.59 % < 95.8 %).

The flag does not say which number is wrong. Possible explanations: the values belong to
different experiments or data sets (the review may have merged cells), accuracy was averaged
over folds differently from sensitivity and specificity, the task was not binary, or a typo in
the review or in the paper's copy. It does say that these rows cannot be taken at face value.
Among the consistent rows, the implied share of HGG varies from about 0.23 to 0.81, so the rows'
accuracies also weight sensitivity and specificity very differently.

## What can be compared with what

Before comparing the paper's own results with the table, list what differs:

| | Fig. 10 rows | the paper's experiment |
|---|---|---|
| task | tumour **grading**: LGG vs HGG (12 rows), grade II vs III (Chen et al.), LGG vs GBM (Desai et al.) | tumour **detection**: tumour vs no tumour |
| data | not stated in the table | 253 Kaggle slices {cite}`chakrabarty2019brainmri`, with duplicates (see {doc}`00_data_tour`) |
| unit | not stated (slice, patch or patient) | slice |
| size of the test data | not stated | 51 images |
| validation | 7 rows: no information; 7 rows: 5- or 10-fold CV | one random 80/20 split |

(The paper calls its classes "malignant" and "benign", but the Kaggle folders are `yes` and `no`:
tumour or no tumour.) Grading separates two kinds of tumour; detection separates tumour from no
tumour.
Neither is a harder or easier version of the other, and a 97 % on one says nothing about the
other. Desai et al.'s LGG vs GBM compares the two ends of the grading scale (grade II and lower
vs grade IV), Chen et al.'s grade II vs III two neighbouring grades. The table gives no data set
sizes at all (`n_subjects` is empty for every row), so we cannot even say how precise its numbers
are. What we can say is how precise an accuracy *can* be for a given number of test cases.
"""),
code("""
n = np.unique(np.round(np.logspace(np.log10(20), np.log10(2000), 60)).astype(int))
rows = []
for acc in (0.78, 0.92, 0.97):
    lo, hi = L.wilson_ci(acc * n, n)
    rows.append(pd.DataFrame({"test cases": n, "half-width of the 95 % interval": (hi - lo) / 2,
                              "accuracy": f"{acc:.0%}"}))
widths = pd.concat(rows)
fig, ax = plt.subplots(figsize=(7, 3.8))
sns.lineplot(data=widths, x="test cases", y="half-width of the 95 % interval", hue="accuracy", ax=ax)
ax.axvline(51, color="0.4", ls="--")
ax.annotate("paper: 51 test images", (51, 0.13), xytext=(6, 0), textcoords="offset points", fontsize=8)
ax.set(xscale="log", title="How precise is an accuracy? Wilson 95 % interval half-width by test size")
fig.tight_layout()
"""),
code("""
def smallest_n(acc, half_width):
    sub = widths[(widths["accuracy"] == f"{acc:.0%}") & (widths["half-width of the 95 % interval"] <= half_width)]
    return int(sub["test cases"].min())

print("test cases needed for a +-2 point interval at 97 % accuracy: about", smallest_n(0.97, 0.02))
print("test cases needed for a +-2 point interval at 92 % accuracy: about", smallest_n(0.92, 0.02))
"""),
md("""
An interval of plus or minus 2 points needs about 300 test cases at 97 % accuracy and about 700 at
92 %; telling 96 % from 97 % needs thousands. Slices of the same patient do not count as
independent cases. Differences of one or two points between rows of Fig. 10 are below
what the usual data set of a few hundred patients can resolve.

## Where the paper's 78 % and 92 % would sit

The paper splits its 253 images 80/20. 20 % of 253 is 50.6; scikit-learn's
`train_test_split(test_size=0.2)` rounds the test set up to 51 images. Which numbers of correct
answers print as 78 % and 92 %?
"""),
code("""
n_test = int(np.ceil(0.2 * 253))
k_cnn, k_resnet = L.compatible_counts(0.78, n_test), L.compatible_counts(0.92, n_test)
print(f"test images: {n_test}; CNN: {k_cnn} correct; ResNet50: {k_resnet} correct")
"""),
md("""
Only one count fits each: 40 of 51 (78.4 %) and 47 of 51 (92.2 %). The Wilson score interval
(`L.wilson_ci`) turns these into 95 % confidence intervals. Unlike the textbook interval
$\\hat p \\pm 1.96 \\sqrt{\\hat p (1 - \\hat p) / n}$ it stays inside [0, 1] and is reliable for small $n$.
For reference, the majority class of the Kaggle set (tumour) makes up 61 % of the images: a model
that always answers "tumour" scores about 61 %.
"""),
code("""
mri = datasets.brain_mri_table()
majority = mri["y"].mean()
own = pd.DataFrame([
    {"label": "paper: CNN (40/51)", "k": k_cnn[0]},
    {"label": "paper: ResNet50 (47/51)", "k": k_resnet[0]},
])
own["value"] = own["k"] / n_test
own["low"], own["high"] = L.wilson_ci(own["k"].to_numpy(), n_test)
print(f"majority class (tumour) share in the Kaggle set: {majority:.3f}; "
      f"redundant copies (files minus near-duplicate groups): {len(mri) - mri['near_group'].nunique()}")
own.round(3)
"""),
code("""
fig, ax = plt.subplots(figsize=(7.5, 3.2))
L.plot_against_literature(bt["accuracy"], own, ax=ax, literature_label="Fig. 10 accuracies",
                          title="The paper's test accuracies (95 % Wilson CI) next to Fig. 10")
ax.axvline(majority, color="0.5", ls=":", lw=1)
ax.annotate("always 'tumour'", (majority, 2.4), xytext=(4, 0), textcoords="offset points", fontsize=8)
fig.tight_layout()
"""),
code("""
inside = ((bt["accuracy"] >= own.loc[1, "low"]) & (bt["accuracy"] <= own.loc[1, "high"])).sum()
print(f"Fig. 10 accuracies inside the ResNet50's 95 % interval: {inside} of {bt['accuracy'].notna().sum()}")
print(f"Fig. 10 accuracies above the CNN's upper bound ({own.loc[0, 'high']:.3f}): "
      f"{(bt['accuracy'] > own.loc[0, 'high']).sum()}")
"""),
md("""
The ResNet50's interval, roughly 82 % to 97 %, contains most of the literature's accuracies: one
test set of 51 images cannot tell it apart from them. The CNN's interval (65 % to 88 %) lies
below all of them (Abbas et al.'s 88 % is just above its upper end), but it is a different task on different data, and its lower end is not
far from the 61 % of always answering "tumour". And the interval only covers *sampling*
uncertainty: the random split of the paper can place copies of one picture in training and test
(the data tour found 44 redundant copies among 253 files), which makes the test accuracy optimistic in a way no
interval shows. The later chapters repeat the paper's experiments with grouped splits and
cross-validation to measure this.

## Summary

- Fig. 10 becomes a 14-row tidy table (12 studies); only accuracy is stated by almost every
  row (13 of 14). Every row is traceable to the printed text through `source_row` and `note`.
- Reported accuracies (88 % to 99.4 %) do not differ systematically by architecture family or by
  validation protocol; the spread within a group is larger than the differences between groups.
- Accuracy is a weighted mean of sensitivity and specificity. Three of the seven rows that state
  all three values break this rule, so they cannot come from one binary test set.
- The table's tasks (grading: LGG vs HGG) are not the paper's task (tumour vs no tumour); it
  states no data set sizes, and half its rows give no validation protocol.
- On 51 test images, the paper's 92 % has a 95 % Wilson interval of about 82 % to 97 %, which
  contains 8 of the 13 literature accuracies; the 78 % (65 % to 88 %) lies below all of them.

## Exercises

```{admonition} Exercise 1: The share of positives a row implies
:class: tip
Prager et al.'s transfer-learning row reports accuracy 96.3 %, sensitivity 93.3 % and
specificity 97.2 %. What share $p$ of HGG (positive) cases in the test data do these three numbers
imply? Give a fraction between 0 and 1.
```
"""),
code("""
answer = ...  # your code here
ex.check_implied_prevalence(answer)
"""),
md("""
```{admonition} Solution
:class: dropdown
Solve $\\text{acc} = p \\cdot \\text{sens} + (1 - p) \\cdot \\text{spec}$ for $p$:

~~~python
row = bt[bt["label"] == "Prager et al. (transfer learning)"].iloc[0]
answer = L.implied_prevalence(row["accuracy"], row["sensitivity"], row["specificity"])
# (0.963 - 0.972) / (0.933 - 0.972) = 0.231: about one case in four is HGG
~~~
```

```{admonition} Exercise 2: An interval for the paper's best model
:class: tip
The paper's ResNet50 answered 47 of 51 test images correctly. Compute the 95 % Wilson interval
of its accuracy as a pair `(low, high)` of fractions.
```
"""),
code("""
answer = ...  # your code here
ex.check_paper_interval(answer)
"""),
md("""
```{admonition} Solution
:class: dropdown
~~~python
answer = L.wilson_ci(47, 51)   # about (0.815, 0.969)
~~~
The Wald interval $0.922 \\pm 1.96\\sqrt{0.922 \\cdot 0.078 / 51}$ = (0.848, 0.995) is centred on
the estimate and too narrow near 100 %; Wilson's interval is shifted towards 50 %.
```

```{admonition} Exercise 3: Find the impossible rows yourself
:class: tip
Without `L.accuracy_consistency`, find the `row_id` values of the Fig. 10 rows whose accuracy
lies outside $[\\min(\\text{sens}, \\text{spec}), \\max(\\text{sens}, \\text{spec})]$ by more than 0.005.
Rows that do not state all three values cannot be checked and are not flagged.
```
"""),
code("""
answer = ...  # your code here
ex.check_impossible_rows(answer)
"""),
md("""
```{admonition} Solution
:class: dropdown
~~~python
both = bt.dropna(subset=["accuracy", "sensitivity", "specificity"])
lo = both[["sensitivity", "specificity"]].min(axis=1)
hi = both[["sensitivity", "specificity"]].max(axis=1)
bad = both[(both["accuracy"] < lo - 0.005) | (both["accuracy"] > hi + 0.005)]
answer = list(bad["row_id"])   # [4, 8, 10]
~~~
`dropna` first: `min(axis=1)` skips NaN, so a row with only a sensitivity would otherwise be
compared with a range of width zero.
```
"""),
]

# =============================================================================================
# Chapter 11: COVID-19 literature (paper Figs 8 and 9)
# =============================================================================================
covid = [
md("""
# What the COVID-19 imaging literature reports

Section 3.2 of the paper {cite}`dogan_paper` reviews deep learning for COVID-19 diagnosis from
chest CT and X-ray with two tables taken from the review by Shi et al. {cite}`shi2021review`:
segmentation methods (the paper's Fig. 8) and classification studies (Fig. 9). The reported
sensitivities and accuracies are high, often above 90 %. This chapter turns both tables into data,
plots what they report against data set size, modality and method, and then asks what such
numbers cannot tell us, with two later analyses of this literature {cite}`roberts2021pitfalls`
{cite}`degrave2021shortcuts`.

**Learning objectives.** After this chapter you can

- load the two tables as tidy DataFrames with numeric metric and subject-count columns;
- sort segmentation methods into lung-region-oriented and lesion-oriented from their targets;
- plot reported performance against data set size, by modality (CT vs X-ray) and method family,
  and say why these plots do not rank methods or modalities;
- bound the precision of a reported sensitivity with a Wilson interval;
- name what the tables leave out: validation protocol, external test data, the source of each
  class, and the shortcuts this allows.
"""),
setup(),
code("""
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

import utils
from utils import literature as L
from utils.checks import covid_literature as ex
"""),
code("""
env = utils.setup()
"""),
md("""
## Segmentation methods (Fig. 8)

The paper, following Shi et al., groups COVID-19 segmentation into **lung-region-oriented**
methods, which separate lung anatomy (whole lung, lobes), and **lung-lesion-oriented** methods,
which separate the lesions (infection) from the lung. Fig. 8 lists eleven CT methods with their
target regions of interest. Three of them are also references of the paper itself: Zheng et al.
{cite}`zheng2020deep`, Cao et al. {cite}`cao2020longitudinal` and Huang et al. {cite}`huang2020serial`.
"""),
code("""
seg = L.add_references(L.load_table("covid_segmentation"), "covid_segmentation")
seg["orientation"] = seg["target_roi_list"].map(L.segmentation_orientation)
seg[["label", "modality", "method", "method_family", "target_roi_list", "application", "orientation"]]
"""),
md("""
The printed "Target ROI" cells lost their line breaks ("Lung Lung lobes Lesion");
`L.split_target_roi` splits them with the table's vocabulary into `target_roi_list`. A one-hot
matrix shows who segments what:
"""),
code("""
roi = L.roi_matrix(seg, labels=seg["label"])
fig, ax = plt.subplots(figsize=(6.5, 4.6))
sns.heatmap(roi, cmap="Blues", cbar=False, linewidths=0.5, linecolor="white", ax=ax, annot=True, fmt="d")
ax.set_title("Fig. 8: target regions of each segmentation method")
ax.set_xlabel("target region of interest")
fig.tight_layout()
"""),
code("""
fig, ax = plt.subplots(figsize=(7, 3))
sns.countplot(data=seg, y="orientation", hue="application", ax=ax,
              order=["lung region", "lesion", "lung region + lesion"])
ax.set_title("Fig. 8: lung-region vs lesion-oriented segmentation")
ax.set_xlabel("methods")
fig.tight_layout()
pd.crosstab(seg["orientation"], seg["method_family"], margins=True)
"""),
md("""
Most methods (7 of 11) segment both: the lung and the lesions inside it, which is what
quantification (the percentage of lung affected) needs; 5 of the 6 quantification methods do. Only one targets the lung alone, three
the lesions alone. Nine of eleven methods belong to the U-Net family (U-Net, UNet++, and VB-Net, a
V-Net variant); the other two are commercial software and threshold-based region growing, which is
not deep learning. Fig. 8 reports **no performance at all**: no Dice, no data set size. It tells us
which architectures were used, not how well they worked.

## Classification studies (Fig. 9)

Fig. 9 lists fourteen classification studies: the modality, the subjects per class, the task,
the method and the result. The paper describes them as "evaluated using the accuracy method", but
the result cells mix accuracy, sensitivity, specificity and AUC.
"""),
code("""
cls = L.add_references(L.load_table("covid_classification"), "covid_classification")
cls[["label", "modality", "n_covid", "n_subjects", "n_classes", "method_family",
     "accuracy", "sensitivity", "specificity", "auc"]]
"""),
md("""
`n_covid` is the number of COVID-19 subjects, `n_subjects` the total, left empty when a class of
the task has no count in the table (Ghoshal et al.: "Others (# of subjects not available)"; Song
et al. and Xu et al.: no count for "Normal"). In the extracted text the subject cells of the last
three studies are shifted by one line; the `note` column records how they were reassigned:
"""),
code("""
with pd.option_context("display.max_colwidth", 120):
    display(cls.loc[cls["note"].notna(), ["label", "subjects", "note"]].tail(3))
"""),
code("""
fig, ax = plt.subplots(figsize=(7, 5.5))
L.plot_metric_table(cls, labels=cls["label"], ax=ax, title="Fig. 9 as numbers: grey cells are not stated")
fig.tight_layout()
"""),
code("""
summary = pd.DataFrame({
    "rows stating it": cls[["accuracy", "sensitivity", "specificity", "auc"]].notna().sum(),
    "median": cls[["accuracy", "sensitivity", "specificity", "auc"]].median().round(3),
})
summary  # one row per metric: the counts stay whole numbers
"""),
md("""
No single metric is stated by every row: 9 rows give an accuracy, 8 a sensitivity and a
specificity, 2 an AUC. The tasks
also differ: two-class (COVID-19 vs others), three- and four-class problems, and one severity
assessment (Tang et al.), which does not detect COVID-19 at all. Two rows (Shi et al., Tang et
al.) use random forests (RF), not deep learning.

## Reported performance against data set size

Does performance grow with the number of subjects? Each marker is one stated metric of one
study; the x-axis is the number of COVID-19 subjects (stated for every row) or of all subjects
(stated for 11 rows).
"""),
code("""
fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), sharey=True)
L.plot_metric_vs_size(cls, "n_covid", ax=axes[0], title="Fig. 9: performance against COVID-19 subjects")
L.plot_metric_vs_size(cls, "n_subjects", ax=axes[1], title="Fig. 9: performance against all subjects")
axes[0].get_legend().remove()
axes[1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
fig.tight_layout()
"""),
code("""
long = L.long_metrics(cls, ["accuracy", "sensitivity", "specificity", "auc"],
                      id_cols=["label", "modality", "method_family", "n_covid", "n_subjects"])
# Spearman's rank correlation = Pearson's correlation of the ranks
# (AUC is left out: two rows)
rho = {m: g["value"].rank().corr(g["n_covid"].astype(float).rank())
       for m, g in long.groupby("metric") if len(g) >= 5}
pd.DataFrame({"rows": long.groupby("metric").size(), "rank correlation with n_covid": pd.Series(rho).round(2)}).dropna()
"""),
code("""
complete = cls.dropna(subset=["n_subjects"]).sort_values("n_subjects")   # rows with counts for every class
acc = long[long["metric"] == "accuracy"]
best = acc.loc[acc["value"].idxmax()]
smaller = complete.loc[complete["n_subjects"] < best["n_subjects"]]
print(f"highest accuracy: {best['label']} {best['value']:.1%} on {best['n_subjects']} subjects; "
      f"{len(smaller)} of {len(complete)} sets with complete counts are smaller: "
      + ", ".join(f"{r.label} ({r.n_subjects})" for r in smaller.itertuples()))
largest = complete.tail(3)
values = long.loc[long["label"].isin(largest["label"]), "value"]
print("three largest sets: " + ", ".join(f"{r.label} ({r.n_subjects})" for r in largest.itertuples())
      + f"; their reported values range from {values.min():.1%} to {values.max():.1%}")
print("points per metric:", long.groupby("metric").size().to_dict())
"""),
md("""
There is no clear trend: the rank correlations are weak and differ in sign. The highest
accuracy (Narin et al., printed "Nairn") comes from one of the smallest sets with complete counts
(50 COVID-19 and 50 normal X-rays; the printout above lists the only smaller one), and the three
largest sets report middling values (their range is printed above). Small sets do not make
models better; they make the *estimate* noisier, and they are easier to assemble from few
sources, which makes shortcuts easier (below). With eight or nine points per metric (two for
AUC, as counted above) and different tasks, the rank correlations are descriptive only.

## By modality and method family

The paper argues that CT is more sensitive and specific than X-ray for COVID-19. Do the tables
show it?
"""),
code("""
fig, axes = plt.subplots(2, 2, figsize=(12, 6.5))
for row, metric in enumerate(["accuracy", "sensitivity"]):
    L.plot_metric_by(cls, "modality", metric, hue="modality", ax=axes[row, 0], annotate=True,
                     title=f"Fig. 9: {metric} by modality")
    L.plot_metric_by(cls, "method_family", metric, hue="modality", ax=axes[row, 1],
                     title=f"Fig. 9: {metric} by method family")
fig.tight_layout()
"""),
code("""
pd.crosstab(long["modality"], long["metric"]).rename_axis(columns="rows stating")
"""),
code("""
# COVID-19 detection only: Tang et al.'s sensitivity refers to severity (left out here and below)
detection = cls[(cls["task"] != "Severity assessment") & cls["sensitivity"].notna()]
xray_sens = detection.loc[detection["modality"] == "X-ray", "sensitivity"].iloc[0]
ct_sens = detection.loc[detection["modality"] == "CT", "sensitivity"]
print(f"X-ray sensitivity (Zhang et al.): {xray_sens:.1%}; higher than {(ct_sens < xray_sens).sum()} "
      f"of the {len(ct_sens)} CT sensitivities for COVID-19 detection, lower than "
      f"{(ct_sens > xray_sens).sum()} (Tang et al.'s severity sensitivity left out)")
"""),
md("""
The table cannot answer the question. Three of the four X-ray studies report only an accuracy;
the single X-ray sensitivity (Zhang et al.) falls among the CT sensitivities for COVID-19
detection, neither the highest nor the lowest (printed above). The CT accuracies include the severity task (Tang et al.) and three-class problems. The X-ray and CT studies also have
different tasks and control classes. The same holds for the method families: "CNN" and "ResNet"
are the authors' labels, not controlled experiments, and every family contains high and
middling values.

## How precise is a reported sensitivity?

A sensitivity is measured on the COVID-19 cases of the **test** set only. The table gives the
subjects of the whole study, so the test set was smaller (or, with cross-validation, at most
that large). A Wilson interval computed with all COVID-19 subjects is therefore the *narrowest*
interval the result can have; the true one is wider. `L.rate_ci` turns a reported rate and a count
into that interval. We leave out Tang et al., whose sensitivity refers to severity, not to COVID-19.
"""),
code("""
det = cls[cls["task"] != "Severity assessment"].copy()
_, det["sens_low"], det["sens_high"] = L.rate_ci(det["sensitivity"], det["n_covid"])
_, det["spec_low"], det["spec_high"] = L.rate_ci(det["specificity"], det["n_subjects"] - det["n_covid"])
det.loc[det["sensitivity"].notna(), ["label", "modality", "n_covid", "sensitivity", "sens_low", "sens_high"]].round(3)
"""),
code("""
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), sharey=False)
L.plot_forest(det, "sensitivity", "sens_low", "sens_high", hue="modality", ax=axes[0],
              title="Sensitivity: narrowest possible 95 % interval")
L.plot_forest(det, "specificity", "spec_low", "spec_high", hue="modality", ax=axes[1],
              title="Specificity: narrowest possible 95 % interval")
fig.tight_layout()
"""),
md("""
Chen et al.'s 100 % sensitivity on at most 51 COVID-19 subjects is compatible with a true
sensitivity of 93 %, and Zhang et al.'s 76.7 % specificity is the lowest of the detection studies. The
intervals of most studies overlap. And these are best cases: they assume every subject was in the
test set, and that each subject counts once (Fig. 9 counts subjects; many studies evaluated
images or CT slices, several per patient, which are not independent).

## What these numbers cannot tell us

The tables report what the studies measured, not whether the models work in a hospital:

- **Validation.** Fig. 9 has no validation column (`validation_protocol` is empty for every
  row): we do not know whether a result comes from a held-out test set, cross-validation, or the
  training data.
- **External validation.** No row reports a test on data from another hospital or scanner. A
  model can be accurate on its own test split and fail elsewhere.
- **Where each class comes from.** Many early COVID-19 data sets took the COVID-19 images from one
  source (papers, websites, one hospital) and the controls from another. Roberts et al.
  {cite}`roberts2021pitfalls` screened 2,212 studies of machine learning for COVID-19 from chest
  X-rays and CT, examined the roughly 60 that passed quality screening in detail, and found none of
  them of potential clinical use because of methodological flaws or underlying biases. Among the
  problems: "Frankenstein" data sets merged from other public sets, non-COVID controls that were
  children's X-rays compared with adult COVID-19 patients, and missing external validation.
- **Shortcuts.** DeGrave et al. {cite}`degrave2021shortcuts` examined COVID-19 detectors trained on data
  sets of this kind, where all positives come from one source and all negatives from another. With
  explainable-AI methods they showed that the models relied on confounding features of how the
  images were acquired (text markers, the image borders) rather than on lung findings, and that they
  failed in new hospitals. They also showed that a good external test alone does not prove a model
  uses the pathology: a shortcut can survive the move to another hospital.
- **Prevalence.** Accuracy depends on the class balance of the test data. Zhang et al. had 70
  COVID-19 and 1,008 other subjects: a model that always answers "other" is right 93.5 % of the
  time (Exercise 1).

This book's own chest X-ray set has exactly the source problem: its COVID-19 images are adult
X-rays from the ieee8023 collection {cite}`cohen2020covid`, its normal and viral pneumonia images
come from one children's hospital {cite}`kermany2018`. Any accuracy measured on it answers
"adult or child, which archive?" as much as "COVID-19 or not?". The COVID-19 classification chapter
measures how much.
"""),
code("""
what_is_stated = pd.Series({
    "rows": len(cls),
    "validation protocol stated": int(cls["validation_protocol"].notna().sum()),
    "total subjects stated": int(cls["n_subjects"].notna().sum()),
    "accuracy stated": int(cls["accuracy"].notna().sum()),
    "sensitivity and specificity stated": int(cls[["sensitivity", "specificity"]].notna().all(axis=1).sum()),
    "deep learning method (not RF)": int((cls["method"] != "RF").sum()),
}, name="Fig. 9").to_frame()
what_is_stated
"""),
md("""
## Summary

- Fig. 8 (11 CT segmentation methods): 9 are U-Net variants; 7 segment the lung *and* the lesions,
  1 only the lung, 3 only the lesions. The table reports no performance.
- Fig. 9 (14 classification studies, 10 CT, 4 X-ray): the results mix accuracy, sensitivity,
  specificity and AUC, over two-, three- and four-class tasks and one severity task; two methods
  are random forests.
- Reported performance does not rise with data set size, and the table cannot compare CT with
  X-ray or one architecture with another: the metrics, tasks and data differ.
- Even in the best case (every subject in the test set), a 100 % sensitivity on 51 patients means
  "at least about 93 %".
- The tables state no validation protocol, no external test, and not where each class came from;
  analyses of this literature found that such gaps made the published models unreliable
  {cite}`roberts2021pitfalls` {cite}`degrave2021shortcuts`.

## Exercises

```{admonition} Exercise 1: The majority-class baseline
:class: tip
Zhang et al. (X-ray) had 70 COVID-19 and 1,008 other subjects. What accuracy does a "model"
reach that always answers "Others", on these subjects? Compute it from `cls`.
```
"""),
code("""
answer = ...  # your code here
ex.check_majority_accuracy(answer)
"""),
md("""
```{admonition} Solution
:class: dropdown
~~~python
row = cls[cls["study"] == "Zhang et al."].iloc[0]
answer = (row["n_subjects"] - row["n_covid"]) / row["n_subjects"]   # 1008 / 1078 = 0.935
~~~
That is why Zhang et al. report sensitivity and specificity instead: 93.5 % accuracy would be
meaningless here.
```

```{admonition} Exercise 2: How sure is 100 %?
:class: tip
Chen et al. (CT) report 100 % sensitivity and had 51 COVID-19 subjects. Assuming all 51 were
tested, what is the lower end of the 95 % Wilson interval of the sensitivity?
```
"""),
code("""
answer = ...  # your code here
ex.check_perfect_sensitivity_bound(answer)
"""),
md("""
```{admonition} Solution
:class: dropdown
~~~python
answer = L.wilson_ci(51, 51)[0]   # about 0.930
~~~
The Wald interval is $1 \\pm 0$ here, which is absurd; the "rule of three" (1 - 3/51 = 0.941) is
a one-sided approximation. With fewer test subjects the bound would be lower still.
```

```{admonition} Exercise 3: Region and lesion
:class: tip
How many methods of Fig. 8 segment both lung regions (lung, lobes, segments, airways) and
lesions? Use `target_roi_list` (or `L.segmentation_orientation`).
```
"""),
code("""
answer = ...  # your code here
ex.check_region_and_lesion(answer)
"""),
md("""
```{admonition} Solution
:class: dropdown
~~~python
answer = (seg["target_roi_list"].map(L.segmentation_orientation) == "lung region + lesion").sum()   # 7
~~~
Or by hand: a study counts if its list contains "Lesion" and at least one lung region;
Zheng et al. (lung only) and Li, Chen, Shen et al. (lesion only) do not.
```
"""),
]

if __name__ == "__main__":
    print(write("notebooks/07_brain_tumor_literature.ipynb", brain))
    print(write("notebooks/11_covid_literature.ipynb", covid))
