"""Literature tables of the source paper, as tidy data.

The source paper (Doğan, *The Use of Deep Learning in Biomedical Imaging ...*,
``dogan_paper`` in ``book/references.bib``) reproduces three literature tables
as figures.  They are transcribed in ``utils/literature/*.csv``:

===============================  =======  ===========  =====================================
name                             figure   paper_ref    content
===============================  =======  ===========  =====================================
``covid_segmentation``           Fig. 8   [34]         COVID-19 image segmentation methods
``covid_classification``         Fig. 9   [34]         COVID-19 CT / X-ray classification
``brain_tumor_classification``   Fig. 10  [36]         CNN brain tumour (glioma) grading
===============================  =======  ===========  =====================================

``paper_ref`` is the number of the paper's own reference from which the table
was taken (Shi et al. 2021 = [34], Xie et al. 2022 = [36]).  ``source_ref`` is
the citation number printed *inside* the table: it refers to the bibliography of
that review, not to the paper's reference list.

Conventions
-----------
* Raw text columns (``study``, ``method``, ``task``, ``subjects``, ``result``,
  ``performance``, ``validation``, ``reported_accuracy``, ...) keep the wording of
  the extracted paper text, including its typos (e.g. "Nairn et al.",
  "Target ROH", "TCCA", "ResNet2017", "F1E").  Only HTML tags ("<i>et al.</i>")
  were stripped from study names.
* ``source_row`` holds the raw line(s) of the extracted text (tab separated, lines
  joined by newlines) from which a row was transcribed.
* Numeric columns are derived from the raw text with :func:`parse_metric` /
  :func:`parse_fraction` / :func:`parse_subject_counts`;
  :func:`rebuild_numeric_columns` recomputes them, so the CSV files can be checked
  against the parser.  Metrics are fractions in [0, 1].  A cell is empty (NaN/NA)
  when the paper does not state the value: nothing is imputed.
* ``method_family`` uses a small controlled vocabulary (see :data:`METHOD_FAMILIES`)
  and ``validation_protocol`` a normalised spelling of the validation text.
* ``note`` documents every transcription decision for the row (continuation
  rows, misaligned cells, split rows, OCR-like typos).

Example
-------
>>> from utils.literature import load_table
>>> df = load_table("brain_tumor_classification")
>>> df.groupby("method_family")["accuracy"].median()  # doctest: +SKIP
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Iterable

import pandas as pd

__all__ = [
    "DATA_DIR",
    "TABLES",
    "METRICS",
    "METHOD_FAMILIES",
    "load_table",
    "load_all",
    "parse_metric",
    "parse_metrics",
    "parse_fraction",
    "parse_subject_counts",
    "parse_n_classes",
    "normalise_modality",
    "normalise_validation",
    "classify_method",
    "split_target_roi",
    "rebuild_numeric_columns",
    "rebuild_derived_columns",
]

#: Folder holding the CSV files.
DATA_DIR = Path(__file__).parent / "literature"

#: Table name -> (figure label in the paper, paper reference the table comes from).
TABLES: dict[str, tuple[str, int]] = {
    "covid_segmentation": ("Fig. 8", 34),
    "covid_classification": ("Fig. 9", 34),
    "brain_tumor_classification": ("Fig. 10", 36),
}

#: Metric columns (fractions in [0, 1]).
METRICS: tuple[str, ...] = ("accuracy", "sensitivity", "specificity", "auc", "dice", "f1")

#: Integer count columns.
COUNT_COLUMNS: tuple[str, ...] = ("n_subjects", "n_images", "n_covid", "n_classes")

#: Other integer columns.
INT_COLUMNS: tuple[str, ...] = ("row_id", "paper_ref", "source_ref", "year") + COUNT_COLUMNS

#: Controlled vocabulary of ``method_family``.
METHOD_FAMILIES: tuple[str, ...] = (
    "custom CNN",         # "Custom CNN model"
    "transfer learning",  # "Transfer learning with <ImageNet model>"
    "3D CNN",             # "3D CNN", "Multi-scale 3D CNN"
    "U-Net family",       # U-Net, UNet++, VB-Net (V-Net variant), U-Net + CNN classifier
    "ResNet",             # a ResNet named without saying whether it was pretrained
    "CNN (unspecified)",  # the table only says "CNN"
    "other",              # random forest, commercial software, region growing, ...
)

#: Modality of tables whose rows do not state one (section 3.3 of the paper: MRI).
TABLE_MODALITY = {"brain_tumor_classification": "MRI"}

# ---------------------------------------------------------------------------
# Metric parsing
# ---------------------------------------------------------------------------

#: Regular expressions (case-insensitive) for the labels of each metric.
METRIC_LABELS: dict[str, str] = {
    "accuracy": r"acc(?:uracy)?\.?",
    "sensitivity": r"sen(?:s(?:itivity)?)?\.?|tpr|recall|true[- ]positive[- ]rate",
    "specificity": r"spe(?:c(?:ificity)?)?\.?|tnr|true[- ]negative[- ]rate",
    "auc": r"roc[- ]?auc|auroc|auc",
    "dice": r"dice(?:[- ](?:score|coefficient|similarity coefficient|index))?|dsc",
    "f1": r"f1(?:[- ]?score)?",
}

_ALIASES = {
    "acc": "accuracy",
    "sen": "sensitivity",
    "sens": "sensitivity",
    "recall": "sensitivity",
    "tpr": "sensitivity",
    "spe": "specificity",
    "spec": "specificity",
    "tnr": "specificity",
    "auroc": "auc",
    "roc_auc": "auc",
    "dsc": "dice",
    "f1_score": "f1",
    "f1-score": "f1",
}

_NUMBER = r"(?P<value>\d+(?:\.\d+)?|\.\d+)\s*(?P<pct>%)?"
# a label must not be glued to other letters/digits ("F1E" is not "F1", "SPECT" is not "SPE")
_LEFT = r"(?<![A-Za-z0-9])"
_RIGHT = r"(?![A-Za-z0-9])"


def _compile(name: str) -> tuple[re.Pattern, re.Pattern]:
    label = f"{_LEFT}(?:{METRIC_LABELS[name]}){_RIGHT}"
    # "SEN = 98.0%", "Accuracy: 97 %", "AUC 0.93", "Dice of 0.91"
    label_first = re.compile(label + r"\s*(?:=|:|of|was|is)?\s*" + _NUMBER, re.IGNORECASE)
    # "92.9% (Acc.)", "0.952 (AUC)"
    value_first = re.compile(_NUMBER + r"\s*\(\s*(?:" + METRIC_LABELS[name] + r")\s*\)", re.IGNORECASE)
    return label_first, value_first


_PATTERNS = {name: _compile(name) for name in METRIC_LABELS}


def _canonical_metric(name: str) -> str:
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in METRIC_LABELS:
        raise ValueError(f"unknown metric {name!r}; expected one of {sorted(METRIC_LABELS)}")
    return key


def _is_missing(text) -> bool:
    if text is None:
        return True
    try:
        if pd.isna(text):
            return True
    except (TypeError, ValueError):
        pass
    return str(text).strip() == ""


def _to_fraction(value: str, pct: str | None) -> float:
    """``"98.0", "%"`` -> 0.98; ``"0.989", None`` -> 0.989; ``"97.1", None`` -> 0.971."""
    x = float(value)
    if pct or x > 1.0:
        x = x / 100.0
    if not 0.0 <= x <= 1.0:
        return math.nan
    return round(x, 6)


def parse_metric(text, name: str) -> float:
    """Return metric ``name`` stated in ``text`` as a fraction in [0, 1], or NaN.

    Both notations of the paper's tables are recognised:

    * label first: ``"SEN = 98.0%, SPE = 96.2%, AUC = 0.989"`` (Fig. 10),
    * value first: ``"96.0% (Sens.) 76.7% (Spec.) 0.952 (AUC)"`` (Fig. 9).

    ``name`` is one of ``accuracy, sensitivity, specificity, auc, dice, f1`` or an
    alias (``acc, sen, sens, spe, spec, tpr, tnr, dsc, ...``).  Labels recognised:
    ACC/Acc./Accuracy, SEN/Sens./Sensitivity/TPR/Recall, SPE/Spec./Specificity/TNR,
    AUC/AUROC, Dice/DSC, F1/F1 score.  Values with ``%`` or greater than 1 are
    percentages and divided by 100.  If the metric occurs several times, the first
    occurrence is returned.  Text without the metric (or None/NaN) gives NaN.

    >>> parse_metric("SEN = 98.0%, SPE = 96.2%, AUC = 0.989", "sensitivity")
    0.98
    >>> parse_metric("87.5% (Acc.) 83.3% (TPR) 74.3% (TNR)", "specificity")
    0.743
    >>> parse_metric("AUC = 92.8%", "auc")
    0.928
    """
    key = _canonical_metric(name)
    if _is_missing(text):
        return math.nan
    text = str(text)
    best = None
    for pattern in _PATTERNS[key]:
        m = pattern.search(text)
        if m and (best is None or m.start() < best.start()):
            best = m
    if best is None:
        return math.nan
    return _to_fraction(best.group("value"), best.group("pct"))


def parse_metrics(text) -> dict[str, float]:
    """All metrics of :data:`METRICS` found in ``text`` (NaN where absent)."""
    return {name: parse_metric(text, name) for name in METRICS}


def parse_fraction(text) -> float:
    """Parse a cell holding exactly one number (e.g. the "ACC%" column: ``"97.1"``).

    Percent values (``%`` or > 1) are divided by 100.  Empty cells and cells with
    zero or several numbers (ambiguous) give NaN.
    """
    if _is_missing(text):
        return math.nan
    numbers = re.findall(_NUMBER, str(text))
    if len(numbers) != 1:
        return math.nan
    value, pct = numbers[0]
    return _to_fraction(value, pct)


# ---------------------------------------------------------------------------
# Counts
# ---------------------------------------------------------------------------

def parse_subject_counts(text) -> list[tuple[int | None, str]]:
    """Split a "Subjects" cell (groups separated by ``;``) into ``(count, label)``.

    >>> parse_subject_counts("70 COVID-19; 1008 Others")
    [(70, 'COVID-19'), (1008, 'Others')]
    >>> parse_subject_counts("70 COVID-19; Others (if of subjects not available)")
    [(70, 'COVID-19'), (None, 'Others (if of subjects not available)')]
    """
    if _is_missing(text):
        return []
    groups = []
    for part in str(text).split(";"):
        part = part.strip()
        if not part:
            continue
        m = re.match(r"^(\d+)\s+(.+)$", part)
        if m:
            groups.append((int(m.group(1)), m.group(2).strip()))
        else:
            groups.append((None, part))
    return groups


def parse_n_classes(task) -> float:
    """Number of classes of a classification task, or NaN.

    ``"Classification: COVID-19/ Bac. Pneum./ Normal"`` -> 3,
    ``"LGG (grade II) vs. HGG (grade III)"`` -> 2, ``"Severity assessment"`` -> NaN.
    """
    if _is_missing(task):
        return math.nan
    task = str(task)
    m = re.match(r"^\s*classification\s*:\s*(.+)$", task, re.IGNORECASE)
    if m:
        return float(len([c for c in m.group(1).split("/") if c.strip()]))
    parts = re.split(r"\s+vs\.?\s+", task, flags=re.IGNORECASE)
    if len(parts) > 1:
        return float(len(parts))
    return math.nan


def _n_subjects(subjects, task) -> float:
    """Total subjects: sum of the groups, only if every group of the task is counted."""
    groups = parse_subject_counts(subjects)
    if not groups or any(n is None for n, _ in groups):
        return math.nan
    n_classes = parse_n_classes(task)
    if not math.isnan(n_classes) and len(groups) < n_classes:
        return math.nan  # a class of the task has no stated count
    return float(sum(n for n, _ in groups))


def _n_covid(subjects) -> float:
    for n, label in parse_subject_counts(subjects):
        if n is not None and re.match(r"covid", label, re.IGNORECASE):
            return float(n)
    return math.nan


# ---------------------------------------------------------------------------
# Categorical normalisation
# ---------------------------------------------------------------------------

def normalise_modality(text):
    """``"X-Ray"`` -> ``"X-ray"``, ``"CT"`` -> ``"CT"``, ``"MR"``/``"MRI"`` -> ``"MRI"``; else NA."""
    if _is_missing(text):
        return pd.NA
    t = str(text).strip().lower()
    if re.search(r"x[- ]?ray|cxr|radiograph", t):
        return "X-ray"
    if re.search(r"\bct\b|computed tomography", t):
        return "CT"
    if re.search(r"\bmri?\b|magnetic resonance", t):
        return "MRI"
    return pd.NA


def normalise_validation(text):
    """``"5-fold CV"`` -> ``"5-fold CV"``, ``"No info shared"`` -> ``"no info shared"``, ..."""
    if _is_missing(text):
        return pd.NA
    t = str(text).strip().lower()
    m = re.search(r"(\d+)\s*-?\s*fold", t)
    if m:
        return f"{int(m.group(1))}-fold CV"
    if "no info" in t or "not reported" in t or "not stated" in t:
        return "no info shared"
    if re.search(r"leave[- ]one[- ](?:subject|patient)?[- ]?out|loocv", t):
        return "leave-one-out CV"
    if re.search(r"hold[- ]?out|train.{0,10}test|split", t):
        return "hold-out"
    if "external" in t:
        return "external test set"
    return "other"


def classify_method(text) -> str | object:
    """Map a method/architecture cell to a :data:`METHOD_FAMILIES` label."""
    if _is_missing(text):
        return pd.NA
    t = str(text).strip().lower()
    if "transfer learning" in t or "pre-trained" in t or "pretrained" in t:
        return "transfer learning"
    if re.search(r"\b3d\b.*cnn", t):
        return "3D CNN"
    if "custom cnn" in t:
        return "custom CNN"
    if re.search(r"u-?net|v-?net|vb-net", t):
        return "U-Net family"
    if "resnet" in t:
        return "ResNet"
    if re.fullmatch(r"cnn", t):
        return "CNN (unspecified)"
    return "other"


#: Vocabulary of Fig. 8 "Target ROI" entries, longest first (the extracted text
#: lost the line breaks between entries: "Lung Lung lobes Lesion").
TARGET_ROI_VOCABULARY = ("Lung lobes", "Lung segments", "Lung", "Lesion", "Trachea", "Bronchus")


def split_target_roi(text):
    """``"Lung Lung lobes Lesion"`` -> ``"Lung; Lung lobes; Lesion"`` (NA if unparsable)."""
    if _is_missing(text):
        return pd.NA
    rest, found = str(text).strip(), []
    while rest:
        for word in TARGET_ROI_VOCABULARY:
            if re.match(re.escape(word) + r"(\s|$)", rest, re.IGNORECASE):
                found.append(word)
                rest = rest[len(word):].strip()
                break
        else:
            return pd.NA
    return "; ".join(found)


# ---------------------------------------------------------------------------
# Rebuilding derived columns
# ---------------------------------------------------------------------------

def _performance_column(df: pd.DataFrame) -> str | None:
    for col in ("performance", "result"):
        if col in df.columns:
            return col
    return None


def _cast(df: pd.DataFrame) -> pd.DataFrame:
    for col in INT_COLUMNS:
        if col in df.columns:
            df[col] = pd.to_numeric(df[col], errors="coerce").round().astype("Int64")
    for col in METRICS:
        if col in df.columns:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
    return df


def rebuild_numeric_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``df`` with the numeric columns recomputed from the raw text.

    * metrics (:data:`METRICS`) from ``performance`` (Fig. 10) or ``result`` (Fig. 9)
      with :func:`parse_metric`; ``accuracy`` falls back to the "ACC%" cell
      ``reported_accuracy`` (Fig. 10) via :func:`parse_fraction`;
    * ``n_subjects`` and ``n_covid`` from ``subjects``; ``n_classes`` from ``task``;
    * ``n_images`` stays NA (no table of the paper states image counts).

    Tables without a performance column (Fig. 8) get all-NaN metrics.
    """
    out = df.copy()
    n = len(out)
    perf = _performance_column(out)
    for metric in METRICS:
        if perf is not None:
            values = out[perf].map(lambda t, m=metric: parse_metric(t, m))
        else:
            values = pd.Series([math.nan] * n, index=out.index)
        out[metric] = values.astype("float64")
    if "reported_accuracy" in out.columns:
        reported = out["reported_accuracy"].map(parse_fraction).astype("float64")
        out["accuracy"] = out["accuracy"].fillna(reported)
    if "subjects" in out.columns:
        task = out["task"] if "task" in out.columns else pd.Series([None] * n, index=out.index)
        out["n_subjects"] = [_n_subjects(s, t) for s, t in zip(out["subjects"], task)]
        out["n_covid"] = out["subjects"].map(_n_covid)
    else:
        out["n_subjects"] = math.nan
    if "task" in out.columns and "n_classes" in df.columns:
        out["n_classes"] = out["task"].map(parse_n_classes)
    out["n_images"] = math.nan
    return _cast(out)


def rebuild_derived_columns(df: pd.DataFrame, name: str | None = None) -> pd.DataFrame:
    """:func:`rebuild_numeric_columns` plus the normalised categorical columns.

    Recomputes ``modality`` (from ``modality_raw``, or the table default of
    :data:`TABLE_MODALITY` when ``name`` is given and the table has no modality
    column), ``method_family``, ``validation_protocol`` and ``target_roi_list``.
    """
    out = rebuild_numeric_columns(df)
    if "modality_raw" in out.columns:
        out["modality"] = out["modality_raw"].map(normalise_modality)
    elif name in TABLE_MODALITY:
        out["modality"] = TABLE_MODALITY[name]
    if "method" in out.columns:
        out["method_family"] = out["method"].map(classify_method)
    if "validation" in out.columns:
        out["validation_protocol"] = out["validation"].map(normalise_validation)
    elif "validation_protocol" in out.columns:
        out["validation_protocol"] = pd.NA
    if "target_roi" in out.columns:
        out["target_roi_list"] = out["target_roi"].map(split_target_roi)
    return out


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------

def _path(name: str) -> Path:
    if name not in TABLES:
        raise KeyError(f"unknown table {name!r}; expected one of {sorted(TABLES)}")
    return DATA_DIR / f"{name}.csv"


def load_table(name: str) -> pd.DataFrame:
    """Load one literature table as a DataFrame with proper dtypes.

    ``name`` is one of ``"covid_segmentation"`` (Fig. 8), ``"covid_classification"``
    (Fig. 9) and ``"brain_tumor_classification"`` (Fig. 10).  Integer columns use
    the nullable ``Int64`` dtype, metric columns ``float64`` (NaN = not stated),
    text columns ``string``.
    """
    path = _path(name)
    df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8")
    df = _cast(df)
    for col in df.columns:
        if col not in INT_COLUMNS and col not in METRICS:
            df[col] = df[col].astype("string")
    return df


def load_all(names: Iterable[str] | None = None) -> pd.DataFrame:
    """Concatenate several tables (default: all three) with a ``table`` column."""
    names = list(TABLES) if names is None else list(names)
    frames = []
    for name in names:
        df = load_table(name)
        df.insert(0, "table", pd.array([name] * len(df), dtype="string"))
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------
# Analysis helpers of the literature chapters (07 brain tumour, 11 COVID-19)
# ---------------------------------------------------------------------------

#: Bib key (``book/references.bib``) of the review each table was taken from.
REVIEW_KEYS: dict[str, str] = {
    "covid_segmentation": "shi2021review",
    "covid_classification": "shi2021review",
    "brain_tumor_classification": "xie2022convolutional",
}

#: Fig. 8 target ROIs that are lung *regions* (anatomy) rather than lesions.  The paper
#: (after Shi et al.) calls methods that separate "whole lung and lung lobes"
#: lung-region-oriented; segments and airways (trachea, bronchus) are anatomy too.
LUNG_REGION_ROIS: tuple[str, ...] = ("Lung", "Lung lobes", "Lung segments", "Trachea", "Bronchus")
LESION_ROIS: tuple[str, ...] = ("Lesion",)

__all__ += [
    "REVIEW_KEYS", "LUNG_REGION_ROIS", "LESION_ROIS",
    "add_references", "row_labels", "long_metrics",
    "wilson_ci", "rate_ci", "compatible_counts",
    "accuracy_bounds", "implied_prevalence", "accuracy_consistency",
    "segmentation_orientation", "roi_matrix",
    "plot_metric_table", "plot_metric_by", "plot_metric_vs_size",
    "plot_accuracy_consistency", "plot_against_literature", "plot_forest",
]


def _present(value) -> bool:
    return not _is_missing(value)


def row_labels(df: pd.DataFrame) -> pd.Series:
    """Short, unique labels for plots: the study name, disambiguated where it repeats.

    A repeated study name gets the table's citation number when those differ
    ("Wang et al. [12]" / "Wang et al. [76]"), else the ``sub_result``
    ("He et al. (TCCA)"), else the method family ("Prager et al. (3D CNN)").
    Remaining duplicates get a running number.
    """
    labels = []
    counts = df["study"].value_counts()
    for _, row in df.iterrows():
        study = str(row["study"])
        label = study
        if counts[row["study"]] > 1:
            same = df[df["study"] == row["study"]]
            if "source_ref" in df.columns and same["source_ref"].nunique(dropna=True) == len(same) \
                    and _present(row["source_ref"]):
                label = f"{study} [{int(row['source_ref'])}]"
            elif "sub_result" in df.columns and _present(row.get("sub_result")):
                label = f"{study} ({row['sub_result']})"
            elif "method_family" in df.columns and same["method_family"].nunique() == len(same):
                label = f"{study} ({row['method_family']})"
        labels.append(label)
    out = pd.Series(labels, index=df.index, dtype="string")
    dup = out.duplicated(keep=False)
    if dup.any():
        out[dup] = out[dup] + " #" + (out[dup].groupby(out[dup]).cumcount() + 1).astype(str)
    return out


def add_references(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Copy of ``df`` with ``label`` (:func:`row_labels`), ``reference`` and ``cite_key``.

    ``reference`` is a readable citation of where the row comes from: the study, its year
    when known, and the citation number *inside the review* with the review's bib key, e.g.
    ``"Chen et al. 2021, ref. [27] of xie2022convolutional"``.  ``cite_key`` is the row's own
    bib key when the book has one (three rows of Fig. 8), else the review's key; a chapter
    writes it as ``{cite}`key``` in its text.
    """
    review = REVIEW_KEYS[name]
    out = df.copy()
    out["label"] = row_labels(out)
    refs, keys = [], []
    for _, row in out.iterrows():
        who = str(row["study"])
        if "year" in out.columns and _present(row["year"]):
            who += f" {int(row['year'])}"
        own = row["bib_key"] if "bib_key" in out.columns and _present(row["bib_key"]) else None
        if own:
            refs.append(f"{who} ({own}), in {review}")
        elif _present(row.get("source_ref")):
            refs.append(f"{who}, ref. [{int(row['source_ref'])}] of {review}")
        else:
            refs.append(f"{who}, in {review}")
        keys.append(own or review)
    out["reference"] = pd.array(refs, dtype="string")
    out["cite_key"] = pd.array(keys, dtype="string")
    return out


def long_metrics(df: pd.DataFrame, metrics: Iterable[str] = METRICS,
                 id_cols: Iterable[str] | None = None) -> pd.DataFrame:
    """Tidy long format: one row per (study row, stated metric); unstated metrics dropped.

    ``id_cols`` defaults to every non-metric column.  Columns ``metric`` and ``value``.
    """
    metrics = [m for m in metrics if m in df.columns]
    if id_cols is None:
        id_cols = [c for c in df.columns if c not in METRICS]
    long = df.melt(id_vars=list(id_cols), value_vars=metrics, var_name="metric", value_name="value")
    return long.dropna(subset=["value"]).reset_index(drop=True)


# ---------------------------------------------------------------------------
# Intervals and counts
# ---------------------------------------------------------------------------

def wilson_ci(k, n, confidence: float = 0.95):
    """Wilson score interval for a proportion ``k / n`` (``k`` successes of ``n`` trials).

    A vectorised wrapper of :func:`utils.metrics.wilson_ci` (the one implementation of the
    book): scalars give a tuple of floats, arrays (broadcast together) a tuple of arrays,
    and ``n = 0`` gives NaN instead of an error.  Unlike the textbook (Wald) interval
    ``p +- z sqrt(p(1-p)/n)`` it stays inside [0, 1] and does not collapse to a point at
    ``k = 0`` or ``k = n``.

    >>> lo, hi = wilson_ci(47, 51)          # the paper's ResNet50: 92 % of 51 test images
    >>> round(lo, 3), round(hi, 3)
    (0.815, 0.969)
    """
    import numpy as np

    from .metrics import wilson_ci as _wilson

    k_arr, n_arr = np.broadcast_arrays(np.asarray(k, dtype=float), np.asarray(n, dtype=float))
    lo = np.full(k_arr.shape, np.nan)
    hi = np.full(k_arr.shape, np.nan)
    for idx in np.ndindex(k_arr.shape):
        if n_arr[idx] == 0:
            if k_arr[idx] != 0:
                raise ValueError("need 0 <= k <= n")
            _wilson(0, 1, confidence)  # still validates the confidence level
            continue
        lo[idx], hi[idx] = _wilson(float(k_arr[idx]), float(n_arr[idx]), confidence)
    if lo.ndim == 0:
        return float(lo), float(hi)
    return lo, hi


def rate_ci(rate, n, confidence: float = 0.95):
    """Wilson interval of a *reported rate* measured on ``n`` cases (``k = round(rate * n)``).

    Vectorised; NaN where the rate or ``n`` is missing.  Returns ``(k, low, high)``.
    """
    import numpy as np

    r = pd.to_numeric(pd.Series(rate), errors="coerce").to_numpy(dtype=float)
    m = pd.to_numeric(pd.Series(n), errors="coerce").to_numpy(dtype=float)
    ok = ~(np.isnan(r) | np.isnan(m)) & (m > 0)
    k = np.full(r.shape, np.nan)
    lo = np.full(r.shape, np.nan)
    hi = np.full(r.shape, np.nan)
    if ok.any():
        k[ok] = np.round(r[ok] * m[ok])
        lo[ok], hi[ok] = wilson_ci(k[ok], m[ok], confidence)
    if np.ndim(rate) == 0 and np.ndim(n) == 0:
        return float(k[0]), float(lo[0]), float(hi[0])
    return k, lo, hi


def compatible_counts(rate: float, n: int, decimals: int = 0) -> list[int]:
    """Numbers of correct cases ``k`` out of ``n`` that print as ``rate`` (in %, rounded).

    >>> compatible_counts(0.78, 51), compatible_counts(0.92, 51)
    ([40], [47])
    """
    target = round(100.0 * rate, decimals)
    return [k for k in range(n + 1) if round(100.0 * k / n, decimals) == target]


# ---------------------------------------------------------------------------
# Consistency of accuracy, sensitivity and specificity
# ---------------------------------------------------------------------------

def accuracy_bounds(sensitivity, specificity):
    """The range accuracy must lie in: ``[min(sens, spec), max(sens, spec)]``.

    On a binary test set with a share ``p`` of positives,
    ``accuracy = p * sensitivity + (1 - p) * specificity`` is a weighted mean of the two,
    whatever ``p`` is.  Works on scalars and arrays (NaN in, NaN out).
    """
    import numpy as np

    se = np.asarray(sensitivity, dtype=float)
    sp = np.asarray(specificity, dtype=float)
    lo, hi = np.fmin(se, sp), np.fmax(se, sp)
    lo = np.where(np.isnan(se) | np.isnan(sp), np.nan, lo)
    hi = np.where(np.isnan(se) | np.isnan(sp), np.nan, hi)
    if lo.ndim == 0:
        return float(lo), float(hi)
    return lo, hi


def implied_prevalence(accuracy, sensitivity, specificity):
    """Share of positives ``p`` solving ``acc = p * sens + (1 - p) * spec``.

    ``p = (acc - spec) / (sens - spec)``; NaN when ``sens == spec`` (any ``p`` fits) or a
    value is missing.  A ``p`` outside [0, 1] means the three numbers cannot come from one
    binary test set.
    """
    import numpy as np

    a = np.asarray(accuracy, dtype=float)
    se = np.asarray(sensitivity, dtype=float)
    sp = np.asarray(specificity, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(np.isclose(se, sp), np.nan, (a - sp) / (se - sp))
    return float(p) if p.ndim == 0 else p


def accuracy_consistency(df: pd.DataFrame, tol: float = 0.005) -> pd.DataFrame:
    """Flag rows whose accuracy lies outside the sensitivity/specificity range.

    Returns a frame (same index) with ``acc_min``, ``acc_max``, ``implied_prevalence``
    and ``status``: ``"consistent"``, ``"impossible"`` (accuracy more than ``tol`` outside
    ``[acc_min, acc_max]``) or ``"not checkable"`` (accuracy, sensitivity or specificity
    not stated).  ``tol`` absorbs rounding of the printed values (default half a
    percentage point: some cells are printed as whole percentages, "SPE = 92%").
    """
    import numpy as np

    acc = df["accuracy"].to_numpy(dtype=float)
    lo, hi = accuracy_bounds(df["sensitivity"].to_numpy(dtype=float),
                             df["specificity"].to_numpy(dtype=float))
    known = ~(np.isnan(acc) | np.isnan(lo))
    outside = known & ((acc < lo - tol) | (acc > hi + tol))
    status = np.where(~known, "not checkable", np.where(outside, "impossible", "consistent"))
    return pd.DataFrame({
        "acc_min": lo,
        "acc_max": hi,
        "implied_prevalence": implied_prevalence(acc, df["sensitivity"], df["specificity"]),
        "status": pd.array(status, dtype="string"),
    }, index=df.index)


# ---------------------------------------------------------------------------
# Segmentation targets (Fig. 8)
# ---------------------------------------------------------------------------

def _roi_items(target_roi_list) -> list[str]:
    if _is_missing(target_roi_list):
        return []
    return [t.strip() for t in str(target_roi_list).split(";") if t.strip()]


def segmentation_orientation(target_roi_list):
    """``"lung region"``, ``"lesion"`` or ``"lung region + lesion"`` (NA if empty).

    The grouping of the paper (after Shi et al.): lung-region-oriented methods separate
    lung anatomy (:data:`LUNG_REGION_ROIS`), lung-lesion-oriented methods the lesions.
    """
    items = _roi_items(target_roi_list)
    region = any(i in LUNG_REGION_ROIS for i in items)
    lesion = any(i in LESION_ROIS for i in items)
    if region and lesion:
        return "lung region + lesion"
    if region:
        return "lung region"
    if lesion:
        return "lesion"
    return pd.NA


def roi_matrix(df: pd.DataFrame, labels=None) -> pd.DataFrame:
    """One-hot matrix (rows = studies, columns = :data:`TARGET_ROI_VOCABULARY`) of Fig. 8."""
    labels = row_labels(df) if labels is None else pd.Series(list(labels), index=df.index)
    rows = {lab: {roi: int(roi in _roi_items(v)) for roi in TARGET_ROI_VOCABULARY}
            for lab, v in zip(labels, df["target_roi_list"])}
    order = ["Lung", "Lung lobes", "Lung segments", "Trachea", "Bronchus", "Lesion"]
    return pd.DataFrame.from_dict(rows, orient="index")[order]


# ---------------------------------------------------------------------------
# Plots (matplotlib + seaborn; every function sets a title and returns the Axes)
# ---------------------------------------------------------------------------

_METRIC_NAMES = {"accuracy": "Accuracy", "sensitivity": "Sensitivity", "specificity": "Specificity",
                 "auc": "AUC", "dice": "Dice", "f1": "F1"}


def _axes(ax, figsize=(7, 4)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_metric_table(df: pd.DataFrame, metrics: Iterable[str] = ("accuracy", "sensitivity", "specificity", "auc"),
                      labels=None, ax=None, title: str = "Reported metrics (blank: not stated)"):
    """Heat map of the stated metrics, one row per study row; unstated cells stay blank."""
    import seaborn as sns

    metrics = [m for m in metrics if m in df.columns]
    labels = row_labels(df) if labels is None else labels
    values = df[metrics].astype(float)
    values.index = list(labels)
    values.columns = [_METRIC_NAMES.get(m, m) for m in metrics]
    ax = _axes(ax, figsize=(1.3 * len(metrics) + 3, 0.32 * len(df) + 1.2))
    sns.heatmap(values, annot=True, fmt=".3f", cmap="viridis", vmin=max(0.0, float(values.min().min()) - 0.05),
                vmax=1.0, cbar=False, linewidths=0.5, linecolor="white", ax=ax, annot_kws={"fontsize": 8})
    ax.set_facecolor("#eeeeee")
    ax.set_title(title)
    ax.tick_params(axis="y", labelsize=8)
    ax.set_ylabel("")
    return ax


def plot_metric_by(df: pd.DataFrame, by: str, metric: str = "accuracy", hue: str | None = None,
                   order=None, ax=None, title: str | None = None, annotate: bool = False):
    """Strip plot of one metric per category of ``by``, with the group medians (black bars).

    Tick labels carry the number of rows that state the metric (``n``).  ``annotate``
    writes each row's label next to its point.
    """
    import numpy as np
    import seaborn as sns

    data = df.dropna(subset=[metric, by]).copy()
    data[by] = data[by].astype(str)
    if order is None:
        order = data.groupby(by)[metric].median().sort_values().index.tolist()
    order = [o for o in order if o in set(data[by])]
    ax = _axes(ax)
    if annotate:
        # deterministic spread: the points of a category are stacked by value, one line each,
        # so that every label gets its own line
        data["_rank"] = data.groupby(by)[metric].rank(method="first") - 1
        size = data.groupby(by)[metric].transform("size")
        pos = {c: i for i, c in enumerate(order)}
        data["_y"] = [pos[c] + (r - (s - 1) / 2) * min(0.12, 0.7 / max(s, 1))
                      for c, r, s in zip(data[by], data["_rank"], size)]
        sns.scatterplot(data=data, x=metric, y="_y", hue=hue, s=50, ax=ax, legend=hue is not None, alpha=0.85)
    else:
        sns.stripplot(data=data, x=metric, y=by, hue=hue, order=order, jitter=0.15, size=7, ax=ax,
                      legend=hue is not None, alpha=0.85)
    medians = data.groupby(by)[metric].median()
    for i, cat in enumerate(order):
        ax.plot([medians[cat]] * 2, [i - 0.3, i + 0.3], color="black", lw=2)
    n = data.groupby(by).size()
    ax.set_yticks(range(len(order)), [f"{c}\n(n={n[c]})" for c in order])
    if annotate:
        labels = row_labels(data) if "label" not in data.columns else data["label"]
        for (_, row), lab in zip(data.iterrows(), labels):
            ax.annotate(str(lab), (row[metric], row["_y"]), xytext=(6, 0), textcoords="offset points",
                        fontsize=7, alpha=0.8, va="center")
        ax.set_ylim(len(order) - 0.5, -0.5)
    lo = float(np.nanmin(data[metric])) if len(data) else 0.0
    ax.set_xlim(max(0.0, lo - 0.05), 1.005)
    if annotate:  # room for the labels of the best values; no ticks beyond 1
        start = max(0.0, lo - 0.05)
        ax.set_xlim(start, 1.07)
        ax.set_xticks(np.arange(np.ceil(start * 20) / 20, 1.0 + 1e-9, 0.05))
    ax.set_xlabel(f"reported {_METRIC_NAMES.get(metric, metric).lower()}")
    ax.set_ylabel(by.replace("_", " "))
    ax.set_title(title or f"Reported {_METRIC_NAMES.get(metric, metric).lower()} by {by.replace('_', ' ')}")
    return ax


def plot_metric_vs_size(df: pd.DataFrame, size_col: str = "n_subjects",
                        metrics: Iterable[str] = ("accuracy", "sensitivity", "specificity", "auc"),
                        hue: str = "modality", ax=None, title: str | None = None, annotate: bool = True):
    """Reported metrics (y) against a size column (x, log scale); one marker per metric."""
    import seaborn as sns

    data = df.copy()
    if "label" not in data.columns:
        data["label"] = row_labels(data)
    long = long_metrics(data, metrics, id_cols=["label", size_col, hue])
    long = long.dropna(subset=[size_col])
    long[size_col] = long[size_col].astype(float)
    long["metric"] = long["metric"].map(lambda m: _METRIC_NAMES.get(m, m))
    ax = _axes(ax)
    sns.scatterplot(data=long, x=size_col, y="value", hue=hue, style="metric", s=70, ax=ax, alpha=0.85)
    if annotate:
        first = long.sort_values("value").drop_duplicates("label", keep="first")
        for _, row in first.iterrows():
            ax.annotate(str(row["label"]), (row[size_col], row["value"]), xytext=(3, -10),
                        textcoords="offset points", fontsize=7, alpha=0.8)
    ax.set_xscale("log")
    ax.set_xlabel(size_col.replace("_", " ") + " (log scale)")
    ax.set_ylabel("reported value")
    ax.legend(fontsize=7, loc="best")
    ax.set_title(title or f"Reported performance against {size_col.replace('_', ' ')}")
    return ax


def plot_accuracy_consistency(df: pd.DataFrame, tol: float = 0.005, labels=None, ax=None,
                              title: str = "Accuracy must lie between sensitivity and specificity"):
    """For rows stating all three: the allowed range (bar) and the reported accuracy (dot)."""
    import numpy as np

    flags = accuracy_consistency(df, tol)
    labels = row_labels(df) if labels is None else pd.Series(list(labels), index=df.index)
    keep = flags["status"] != "not checkable"
    flags, labels = flags[keep], labels[keep]
    ax = _axes(ax, figsize=(7, 0.45 * max(1, keep.sum()) + 1.2))
    y = np.arange(len(flags))
    colours = np.where(flags["status"] == "impossible", "tab:red", "tab:green")
    ax.hlines(y, flags["acc_min"], flags["acc_max"], color="0.6", lw=6, label="[min(sens, spec), max(sens, spec)]")
    ax.scatter(df.loc[flags.index, "accuracy"], y, c=list(colours), s=60, zorder=3)
    ax.scatter([], [], c="tab:green", label="accuracy: consistent")
    ax.scatter([], [], c="tab:red", label="accuracy: impossible")
    ax.set_yticks(y, list(labels))
    ax.invert_yaxis()
    ax.set_xlabel("value")
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title(title)
    return ax


def plot_against_literature(values, own: pd.DataFrame, ax=None, literature_label: str = "literature",
                            title: str = "Own results (95 % Wilson CI) against the literature",
                            xlabel: str = "accuracy"):
    """Literature values as a strip, own results as points with interval bars.

    ``own`` has columns ``label``, ``value``, ``low``, ``high`` (one row per own result).
    """
    import numpy as np

    ax = _axes(ax, figsize=(7, 1.0 + 0.5 * (len(own) + 1)))
    vals = pd.to_numeric(pd.Series(values), errors="coerce").dropna().to_numpy(dtype=float)
    rng = np.random.default_rng(0)
    ax.scatter(vals, rng.uniform(-0.15, 0.15, len(vals)), color="tab:blue", alpha=0.7, s=40)
    if len(vals):
        ax.plot([np.median(vals)] * 2, [-0.3, 0.3], color="black", lw=2)
    for i, (_, row) in enumerate(own.iterrows(), start=1):
        ax.errorbar(row["value"], i, xerr=[[row["value"] - row["low"]], [row["high"] - row["value"]]],
                    fmt="o", color="tab:orange", capsize=4, ms=8)
        ax.annotate(f"{row['value']:.1%} [{row['low']:.1%}, {row['high']:.1%}]", (row["value"], i),
                    xytext=(0, 8), textcoords="offset points", ha="center", fontsize=8)
    ax.set_yticks(range(len(own) + 1), [f"{literature_label} (n={len(vals)})", *own["label"]])
    ax.set_ylim(-0.6, len(own) + 0.6)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return ax


def plot_forest(df: pd.DataFrame, value: str, low: str, high: str, label: str = "label",
                hue: str | None = None, ax=None, title: str = "Reported values with 95 % intervals",
                xlabel: str | None = None):
    """Forest plot: one row per entry of ``df``, a point at ``value`` and a bar ``[low, high]``.

    Rows without an interval are skipped.  ``hue`` colours the rows by a category.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    data = df.dropna(subset=[value, low, high]).reset_index(drop=True)
    ax = _axes(ax, figsize=(7, 0.4 * max(1, len(data)) + 1.2))
    cats = list(dict.fromkeys(data[hue].astype(str))) if hue else [None]
    colours = dict(zip(cats, plt.rcParams["axes.prop_cycle"].by_key()["color"] * 3))
    y = np.arange(len(data))
    for i, row in data.iterrows():
        c = colours[str(row[hue])] if hue else "tab:blue"
        ax.errorbar(row[value], i, xerr=[[row[value] - row[low]], [row[high] - row[value]]], fmt="o",
                    color=c, capsize=3)
    if hue:
        for cat in cats:
            ax.errorbar([], [], xerr=[], fmt="o", color=colours[cat], label=cat)
        ax.legend(fontsize=7, loc="lower left", title=hue.replace("_", " "), title_fontsize=7)
    ax.set_yticks(y, [str(v) for v in data[label]])
    ax.invert_yaxis()
    ax.set_xlabel(xlabel or value.replace("_", " "))
    ax.set_title(title)
    return ax
