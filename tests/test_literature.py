"""Tests of the literature tables (utils/literature) and of the bibliography (book/)."""

from __future__ import annotations

import csv
import math
import os
import sys
from pathlib import Path

import pytest

pd = pytest.importorskip("pandas")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from utils.literature import (  # noqa: E402
    INT_COLUMNS,
    METHOD_FAMILIES,
    METRICS,
    TABLES,
    load_all,
    load_table,
    parse_fraction,
    parse_metric,
    parse_metrics,
    parse_n_classes,
    parse_subject_counts,
    rebuild_derived_columns,
    rebuild_numeric_columns,
)

BIB = ROOT / "book" / "references.bib"
PAPER_REFS = ROOT / "book" / "paper_refs.csv"

# Rows counted in the paper's extracted text:
#  Fig. 8: 11 studies.
#  Fig. 9: 14 studies (lines with an empty first cell continue the subject list).
#  Fig. 10: 13 table rows + the two results of He et al. split into two rows = 14
#           (the stray "Z. Zhou" line has no data; Prager et al. has two rows).
EXPECTED_ROWS = {
    "covid_segmentation": 11,
    "covid_classification": 14,
    "brain_tumor_classification": 14,
}


def _paper_text_path() -> Path | None:
    candidates = [
        os.environ.get("DL_PAPER_TEXT"),
        ROOT / "shared" / "paper" / "deep-learning-in-biomedical-imaging.txt",
        ROOT.parent / "shared" / "paper" / "deep-learning-in-biomedical-imaging.txt",
    ]
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    return None


def _row(df, study, **where):
    sel = df["study"] == study
    for col, val in where.items():
        sel &= df[col] == val
    out = df[sel.fillna(False)]
    assert len(out) == 1, (study, where, len(out))
    return out.iloc[0]


@pytest.fixture(scope="module", params=list(TABLES))
def table(request):
    return request.param, load_table(request.param)


# --------------------------------------------------------------------------- tables

def test_row_counts():
    for name, n in EXPECTED_ROWS.items():
        assert len(load_table(name)) == n, name


def test_unknown_table_raises():
    with pytest.raises(KeyError):
        load_table("no_such_table")


def test_dtypes_and_figure(table):
    name, df = table
    figure, paper_ref = TABLES[name]
    for col in METRICS:
        assert df[col].dtype == "float64", col
    for col in INT_COLUMNS:
        if col in df.columns:
            assert str(df[col].dtype) == "Int64", col
    assert (df["figure"] == figure).all()
    assert (df["paper_ref"] == paper_ref).all()
    assert list(df["row_id"]) == list(range(1, len(df) + 1))
    assert df["source_row"].notna().all()
    assert df["study"].notna().all()
    assert not df["study"].str.contains("<i>").any()


def test_metrics_are_fractions(table):
    _, df = table
    for col in METRICS:
        values = df[col].dropna()
        assert ((values >= 0) & (values <= 1)).all(), col


def test_counts_are_positive(table):
    _, df = table
    for col in ("n_subjects", "n_images", "n_covid", "n_classes"):
        if col in df.columns:
            assert (df[col].dropna() > 0).all(), col


def test_numeric_columns_agree_with_parser(table):
    _, df = table
    rebuilt = rebuild_numeric_columns(df)
    for col in [*METRICS, "n_subjects", "n_images", "n_covid", "n_classes"]:
        if col in df.columns:
            pd.testing.assert_series_equal(df[col], rebuilt[col], check_names=True, obj=col)


def test_derived_columns_agree_with_normalisers(table):
    name, df = table
    rebuilt = rebuild_derived_columns(df, name)
    for col in ("modality", "method_family", "validation_protocol", "target_roi_list"):
        if col in df.columns:
            got = df[col].astype("object").where(df[col].notna(), None)
            want = rebuilt[col].astype("object").where(rebuilt[col].notna(), None)
            assert list(got) == list(want), col


def test_categorical_vocabularies(table):
    _, df = table
    assert set(df["modality"].dropna()) <= {"CT", "X-ray", "MRI"}
    assert set(df["method_family"].dropna()) <= set(METHOD_FAMILIES)
    assert df["method_family"].notna().all()
    assert set(df["validation_protocol"].dropna()) <= {
        "no info shared", "5-fold CV", "10-fold CV", "hold-out", "leave-one-out CV",
        "external test set", "other",
    }


def test_no_invented_values():
    seg = load_table("covid_segmentation")
    assert seg[list(METRICS)].isna().all().all()  # Fig. 8 reports no performance
    assert seg["n_subjects"].isna().all()
    assert seg["validation_protocol"].isna().all()
    cls = load_table("covid_classification")
    assert cls["validation_protocol"].isna().all()  # Fig. 9 states no validation
    assert cls["dice"].isna().all()
    for name in TABLES:
        assert load_table(name)["n_images"].isna().all()  # no table states image counts
    bt = load_table("brain_tumor_classification")
    assert bt["n_subjects"].isna().all()
    assert bt["specificity"].isna().sum() == 7


def test_spot_checks_brain_tumor():
    df = load_table("brain_tumor_classification")
    chen = _row(df, "Chen et al.")
    assert chen["year"] == 2021
    assert chen["accuracy"] == pytest.approx(0.971)
    assert chen["sensitivity"] == pytest.approx(0.98)
    assert chen["specificity"] == pytest.approx(0.962)
    assert chen["f1"] == pytest.approx(0.97)
    assert chen["auc"] == pytest.approx(0.989)
    assert chen["validation_protocol"] == "5-fold CV"
    assert chen["method_family"] == "custom CNN"

    hassan = _row(df, "Hassan et al.")
    assert hassan["auc"] == pytest.approx(0.928)
    assert math.isnan(hassan["accuracy"])
    assert hassan["validation_protocol"] == "no info shared"
    assert hassan["method_family"] == "transfer learning"

    prager = df[df["study"] == "Prager et al."]
    assert list(prager["method_family"]) == ["transfer learning", "3D CNN"]
    assert list(prager["accuracy"]) == pytest.approx([0.963, 0.971])

    he = df[df["study"] == "He et al."]
    assert list(he["sub_result"]) == ["TCCA", "ResNet2017"]
    assert list(he["accuracy"]) == pytest.approx([0.9288, 0.9459])
    assert list(he["specificity"]) == pytest.approx([0.958, 0.92])

    hamdani = _row(df, "Hamdani et al.")
    assert hamdani["f1"] == pytest.approx(0.9942)  # not the "F1E = 99.47%" value
    assert hamdani["validation_protocol"] == "10-fold CV"

    assert _row(df, "Desai et al.")["task"] == "LGG vs. GBM"
    assert _row(df, "Abbas et al.")["accuracy"] == pytest.approx(0.88)
    assert (df["modality"] == "MRI").all()


def test_spot_checks_covid_classification():
    df = load_table("covid_classification")
    zhang = _row(df, "Zhang et al.")
    assert zhang["modality"] == "X-ray"
    assert zhang["sensitivity"] == pytest.approx(0.96)
    assert zhang["specificity"] == pytest.approx(0.767)
    assert zhang["auc"] == pytest.approx(0.952)
    assert zhang["n_subjects"] == 1078

    ghoshal = _row(df, "Ghoshal et al.")
    assert ghoshal["accuracy"] == pytest.approx(0.929)
    assert ghoshal["n_covid"] == 70
    assert pd.isna(ghoshal["n_subjects"])  # "Others" not counted in the paper

    wang = _row(df, "Wang et al.", source_ref=12)
    assert wang["n_classes"] == 4 and wang["n_subjects"] == 45 + 931 + 660 + 1203

    chen = _row(df, "Chen et al.")
    assert chen["sensitivity"] == pytest.approx(1.0)

    # the shifted subject lines of the last three studies
    assert _row(df, "Li et al.")["subjects"] == "468 COVID-19; 1351 CAP; 1445 Non-pneum."
    assert _row(df, "Shi et al.")["subjects"] == "1658 COVID-19; 1027 CAP"
    tang = _row(df, "Tang et al.")
    assert tang["subjects"] == "176 COVID-19"
    assert tang["sensitivity"] == pytest.approx(0.833)  # TPR
    assert tang["specificity"] == pytest.approx(0.743)  # TNR
    assert pd.isna(tang["n_classes"])
    assert set(df.loc[df["method"] == "RF", "method_family"]) == {"other"}
    assert df["modality"].value_counts().to_dict() == {"CT": 10, "X-ray": 4}


def test_spot_checks_covid_segmentation():
    df = load_table("covid_segmentation")
    assert (df["modality"] == "CT").all()
    assert _row(df, "Shan et al.")["target_roi_list"] == "Lung; Lung lobes; Lung segments; Lesion"
    assert _row(df, "Tang et al.")["method_family"] == "other"
    assert _row(df, "Gozes et al.")["method_family"] == "U-Net family"
    assert pd.isna(_row(df, "Cao et al.")["source_ref"])
    assert _row(df, "Qi et al.")["source_ref"] == 54
    assert (df["method_family"] == "U-Net family").sum() == 9


def test_load_all():
    df = load_all()
    assert len(df) == sum(EXPECTED_ROWS.values())
    assert set(df["table"]) == set(TABLES)


def test_source_rows_are_in_the_paper(table):
    path = _paper_text_path()
    if path is None:
        pytest.skip("paper text not available (set DL_PAPER_TEXT)")
    paper_lines = {line.rstrip() for line in path.read_text(encoding="utf-8").splitlines()}
    _, df = table
    for source in df["source_row"]:
        for line in source.split("\n"):
            assert line in paper_lines, line


# --------------------------------------------------------------------------- parser

@pytest.mark.parametrize(
    "text, name, expected",
    [
        ("SEN = 98.0%, SPE = 96.2%, AUC = 0.989", "sensitivity", 0.98),
        ("SEN = 98.0%, SPE = 96.2%, AUC = 0.989", "specificity", 0.962),
        ("SEN = 98.0%, SPE = 96.2%, AUC = 0.989", "auc", 0.989),
        ("SEN = 98.0%, SPE = 96.2%, F1 score = 97.0%, AUC = 0.989", "f1", 0.97),
        ("F1E = 99.47%, F1 score = 99.42%, SEN = 98.3%", "f1", 0.9942),
        ("AUC = 92.8%", "auc", 0.928),
        ("SPE = 92%", "spe", 0.92),
        ("92.9% (Acc.)", "accuracy", 0.929),
        ("96.0% (Sens.) 76.7% (Spec.) 0.952 (AUC)", "sens", 0.96),
        ("96.0% (Sens.) 76.7% (Spec.) 0.952 (AUC)", "spec", 0.767),
        ("96.0% (Sens.) 76.7% (Spec.) 0.952 (AUC)", "auc", 0.952),
        ("95.2% (Acc.) 100% (Sens.) 93.6% (Spec.)", "sensitivity", 1.0),
        ("87.5% (Acc.) 83.3% (TPR) 74.3% (TNR)", "sensitivity", 0.833),
        ("87.5% (Acc.) 83.3% (TPR) 74.3% (TNR)", "specificity", 0.743),
        ("Accuracy: 97.1%", "accuracy", 0.971),
        ("ACC = 0.9", "acc", 0.9),
        ("accuracy of 88", "accuracy", 0.88),
        ("Sensitivity = 0.91 and specificity = 0.85", "specificity", 0.85),
        ("Dice = 0.912", "dice", 0.912),
        ("mean Dice score 87.5%", "dice", 0.875),
        ("DSC: 0.79", "dice", 0.79),
        ("AUROC 0.93", "auc", 0.93),
        ("TCCA SEN = 97.4%, SPE = 95.8% ResNet2017 SEN = 95.2%", "sensitivity", 0.974),
    ],
)
def test_parse_metric(text, name, expected):
    assert parse_metric(text, name) == pytest.approx(expected)


@pytest.mark.parametrize(
    "text, name",
    [
        ("Weakly-supervised method by pseudo labels", "accuracy"),
        ("no metrics here", "auc"),
        ("", "sensitivity"),
        (None, "dice"),
        (float("nan"), "f1"),
        ("F1E = 99.47%", "f1"),      # F1E is not F1
        ("SPECT imaging 45", "specificity"),  # SPECT is not SPE
        ("SEN = 98.0%", "specificity"),
        ("92.9% (Acc.)", "sensitivity"),
        ("AUC = 180", "auc"),          # out of range -> NaN
    ],
)
def test_parse_metric_missing(text, name):
    assert math.isnan(parse_metric(text, name))


def test_parse_metric_unknown_name():
    with pytest.raises(ValueError):
        parse_metric("SEN = 98%", "precision_at_k")


def test_parse_metrics_dict():
    out = parse_metrics("95.2% (Acc.) 100% (Sens.) 93.6% (Spec.)")
    assert set(out) == set(METRICS)
    assert out["accuracy"] == pytest.approx(0.952)
    assert math.isnan(out["auc"]) and math.isnan(out["dice"])


@pytest.mark.parametrize(
    "text, expected",
    [("97.1", 0.971), ("98", 0.98), ("95.87", 0.9587), ("0.88", 0.88), ("88 %", 0.88)],
)
def test_parse_fraction(text, expected):
    assert parse_fraction(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", None, "92.88 94.59", "n/a"])
def test_parse_fraction_missing_or_ambiguous(text):
    assert math.isnan(parse_fraction(text))


def test_parse_subjects_and_classes():
    assert parse_subject_counts("45 COVID-19; 931 Bac. Pneum.") == [(45, "COVID-19"), (931, "Bac. Pneum.")]
    assert parse_subject_counts(None) == []
    assert parse_n_classes("Classification: COVID-19/ Bac. Pneum./ Vir. Pneum./ Normal") == 4
    assert parse_n_classes("LGG (grade II) vs. HGG (grade III)") == 2
    assert math.isnan(parse_n_classes("Severity assessment"))


# --------------------------------------------------------------------------- bibliography

def _paper_refs():
    with open(PAPER_REFS, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_paper_refs_cover_1_to_37():
    rows = _paper_refs()
    assert [int(r["ref"]) for r in rows] == list(range(1, 38))
    assert all(r["bib_key"] for r in rows)
    # refs [18] and [32] are the same article
    keys = {int(r["ref"]): r["bib_key"] for r in rows}
    assert keys[18] == keys[32] == "lakhani2017deep"
    assert keys[27] == "ronneberger2015unet"
    assert keys[34] == "shi2021review" and keys[36] == "xie2022convolutional"


def test_bib_parses_and_has_all_keys():
    database = pytest.importorskip("pybtex.database")
    bib = database.parse_file(str(BIB))
    keys = set(bib.entries)
    missing = {r["bib_key"] for r in _paper_refs()} - keys
    assert not missing, missing
    extra = {
        "dogan_paper", "chakrabarty2019brainmri", "cohen2020covid", "kermany2018",
        "v7labs2020covid", "tan2019efficientnet", "sandler2018mobilenetv2",
        "selvaraju2017gradcam", "roberts2021pitfalls", "degrave2021shortcuts",
    }
    assert extra <= keys, extra - keys
    for key, entry in bib.entries.items():
        assert "title" in entry.fields, key
        assert entry.persons.get("author"), key


def test_table_bib_keys_exist():
    database = pytest.importorskip("pybtex.database")
    keys = set(database.parse_file(str(BIB)).entries)
    for name in TABLES:
        used = set(load_table(name)["bib_key"].dropna())
        assert used <= keys, (name, used - keys)


def test_bib_formats_with_default_style():
    pytest.importorskip("pybtex")
    from pybtex.database import parse_file
    from pybtex.plugin import find_plugin

    bib = parse_file(str(BIB))
    style = find_plugin("pybtex.style.formatting", "unsrt")()
    formatted = list(style.format_entries(bib.entries.values()))  # raises on missing required fields
    assert len(formatted) == len(bib.entries)
