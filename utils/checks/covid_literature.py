"""Exercise checks of chapter 11, *COVID-19 literature* (the paper's Figs 8 and 9)."""
from __future__ import annotations

from ..exercises import Feedback, check_number
from .. import literature as L


def _zhang():
    df = L.load_table("covid_classification")
    row = df[df["study"] == "Zhang et al."].iloc[0]
    return int(row["n_covid"]), int(row["n_subjects"])


def check_majority_accuracy(answer) -> Feedback:
    """Exercise 1: accuracy of always answering "Others" on Zhang et al.'s subjects."""
    n_covid, n = _zhang()
    want = (n - n_covid) / n
    return check_number(answer, want, atol=1e-3, rtol=0, what="an accuracy between 0 and 1", hints={
        n_covid / n: "that is the accuracy of always answering COVID-19; the majority class is 'Others'.",
        want * 100: "give a fraction, not a percentage.",
        0.5: "the classes are not balanced: 70 COVID-19 against 1008 others.",
    })


def check_perfect_sensitivity_bound(answer) -> Feedback:
    """Exercise 2: lower 95 % Wilson bound of Chen et al.'s 100 % sensitivity on (at most) 51 COVID-19 subjects."""
    want = L.wilson_ci(51, 51)[0]
    return check_number(answer, want, atol=1.5e-3, rtol=0, what="a lower bound between 0 and 1", hints={
        1.0: "the Wald interval collapses to a point at 100 %; the Wilson interval does not.",
        1 - 3 / 51: "that is the 'rule of three' (a one-sided 95 % bound); use L.wilson_ci(51, 51).",
        L.wilson_ci(51, 51, 0.90)[0]: "that is a 90 % interval; use confidence=0.95.",
        L.wilson_ci(51, 106)[0]: "sensitivity is measured on the COVID-19 subjects only (51), not on all 106.",
        want * 100: "give a fraction, not a percentage.",
    })


def check_region_and_lesion(answer) -> Feedback:
    """Exercise 3: number of Fig. 8 studies that segment both lung regions and lesions."""
    df = L.load_table("covid_segmentation")
    orient = df["target_roi_list"].map(L.segmentation_orientation)
    want = int((orient == "lung region + lesion").sum())
    any_lesion = int(df["target_roi_list"].str.contains("Lesion").sum())
    any_region = int(orient.isin(["lung region", "lung region + lesion"]).sum())
    return check_number(answer, want, atol=0, rtol=0, what="a number of studies", hints={
        any_lesion: "that counts every study with a lesion target, also those that segment lesions only.",
        any_region: "that counts every study with a lung-region target, also the one that segments the lung only.",
        int((orient == "lesion").sum()): "that is the number of lesion-only studies.",
        float(len(df)): "not every study has both kinds of target.",
    })
