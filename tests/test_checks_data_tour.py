"""Exercise checks of the data tour: right answers pass, typical wrong ones get a hint."""
import pytest

from utils.checks import data_tour as ex


@pytest.fixture(autouse=True)
def _data(mirror_env):
    yield


def test_png_count():
    assert ex.check_png_count(6)
    bad = ex.check_png_count(8)
    assert not bad and "only those" in bad.message
    assert "No answer yet" in ex.check_png_count(...).message


def test_distinct_pictures():
    from utils.datasets import brain_mri_table

    brain = brain_mri_table()
    assert ex.check_distinct_pictures(brain["near_group"].nunique())
    bad = ex.check_distinct_pictures(228)
    assert not bad and "exact" in bad.message
    assert "No answer yet" in ex.check_distinct_pictures(None).message


def test_top_patient():
    from utils.datasets import chest_xray_table

    c = chest_xray_table()
    counts = c[c["cls"] == "covid"].groupby("patientid").size()
    assert ex.check_top_patient(counts.idxmax())
    bad = ex.check_top_patient(counts.idxmin())
    assert not bad and "Sort" in bad.message
    assert not ex.check_top_patient("nobody")
    assert "No answer yet" in ex.check_top_patient(...).message
