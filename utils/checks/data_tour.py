"""Checks for the exercises of the data tour (notebooks/00_data_tour.ipynb)."""
from __future__ import annotations

from ..exercises import Feedback, check_number, correct, is_unanswered, unanswered, wrong


def _brain():
    from ..datasets import brain_mri_table

    return brain_mri_table()


def check_png_count(answer) -> Feedback:
    """Exercise 1: the number of brain MRI files that are PNG images named ``.jpg``."""
    from ..data import image_info

    infos = [image_info(p) for p in _brain()["path"]]
    png = sum(i["format"] == "PNG" for i in infos)
    named_jpg = sum(i["format"] == "PNG" and i["extension"] in (".jpg", ".jpeg") for i in infos)
    return check_number(answer, named_jpg, what="a count of files", hints={
        png: f"{png} is the number of all PNG files; count only those whose name ends in .jpg.",
        0: "trust the content, not the name: compare `format` with `extension` in the inventory.",
    })


def check_distinct_pictures(answer) -> Feedback:
    """Exercise 2: images left after keeping one file per near-duplicate group."""
    brain = _brain()
    return check_number(answer, brain["near_group"].nunique(), what="a number of images", hints={
        brain["exact_group"].nunique(): "that is one file per *exact* group (same bytes); the "
        "near-duplicate groups also merge resized and re-encoded copies.",
        len(brain): "that is every file; keep one file per `near_group`.",
    })


def check_top_patient(answer) -> Feedback:
    """Exercise 3: the patientid of the COVID-19 patient with the most X-rays."""
    from ..datasets import chest_xray_table

    if is_unanswered(answer):
        return unanswered("a patient id")
    covid = chest_xray_table()
    counts = covid[covid["cls"] == "covid"].groupby("patientid").size()
    best = counts[counts == counts.max()].index.astype(str).tolist()
    if str(answer).strip() in best:
        return correct(f"patient {answer} has {counts.max()} X-rays in this set.")
    if str(answer).strip() in counts.index.astype(str):
        return wrong(f"patient {answer} has {counts[str(answer).strip()]} X-rays; another has "
                     f"{counts.max()}. Sort the group sizes.")
    return wrong(f"{answer!r} is not a COVID-19 patient id of this set; group by `patientid`.")
