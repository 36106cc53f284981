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
