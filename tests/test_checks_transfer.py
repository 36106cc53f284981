"""Exercise checks of chapters 06 and 09: a right answer passes, a typical wrong answer fails
with a specific hint, and the placeholder ``...`` gets the "No answer yet" feedback."""
import numpy as np
import pytest
from scipy import stats

from utils.checks import brain_tumor_transfer as bt
from utils.checks import transfer_learning as tl

ALL_CHECKS = [tl.check_paper_head_params, tl.check_resnet_preprocess, tl.check_feature_map_shape,
              tl.check_residual_shape, bt.check_paper_ci, bt.check_paired_p, bt.check_mcnemar_p]


@pytest.mark.parametrize("check", ALL_CHECKS, ids=lambda c: c.__name__)
def test_placeholder_gives_no_answer_yet(check):
    for placeholder in (..., None):
        fb = check(placeholder)
        assert not fb.ok and fb.message.startswith("No answer yet")


@pytest.mark.parametrize("check", ALL_CHECKS, ids=lambda c: c.__name__)
def test_garbage_never_raises(check):
    for junk in ("abc", [1, 2, 3, 4, 5], object()):
        assert not check(junk).ok


# ----------------------------------------------------------------------------- chapter 06
def test_paper_head_params():
    right = 7 * 7 * 2048 * 256 + 256 + 256 * 128 + 128 + 128 + 1
    assert tl.check_paper_head_params(right).ok
    fb = tl.check_paper_head_params(7 * 7 * 2048 * 256 + 256 * 128 + 128)
    assert not fb.ok and "biases" in fb.message
    fb = tl.check_paper_head_params(7 * 7 * 1280 * 256 + 256 + 256 * 128 + 128 + 128 + 1)
    assert not fb.ok and "2048" in fb.message
    fb = tl.check_paper_head_params(8_421_889)  # the author's 128 px input: 4x4x2048
    assert not fb.ok and "128 px" in fb.message


def test_paper_head_params_matches_keras():
    keras = pytest.importorskip("keras")
    from utils import transfer

    model = transfer.paper_head((7, 7, 2048))
    assert tl.check_paper_head_params(model.count_params()).ok
    keras.backend.clear_session()


def test_resnet_preprocess():
    keras = pytest.importorskip("keras")
    red = np.array([[[255.0, 0.0, 0.0]]])
    right = keras.applications.resnet50.preprocess_input(red.copy())[0, 0]
    assert tl.check_resnet_preprocess(right).ok
    fb = tl.check_resnet_preprocess([255 - 103.939, -116.779, -123.68])
    assert not fb.ok and "BGR" in fb.message
    fb = tl.check_resnet_preprocess([1.0, -1.0, -1.0])
    assert not fb.ok and "caffe" in fb.message


def test_feature_map_shape():
    assert tl.check_feature_map_shape((5, 5, 1280)).ok
    assert tl.check_feature_map_shape((None, 5, 5, 1280)).ok
    fb = tl.check_feature_map_shape((7, 7, 1280))
    assert not fb.ok and "224" in fb.message
    fb = tl.check_feature_map_shape((1280,))
    assert not fb.ok and "pooling" in fb.message


def test_residual_shape():
    assert tl.check_residual_shape(((28, 28, 128), True)).ok
    fb = tl.check_residual_shape(((28, 28, 128), False))
    assert not fb.ok and "1x1" in fb.message
    fb = tl.check_residual_shape(((56, 56, 128), True))
    assert not fb.ok and "stride 2" in fb.message


def test_residual_shape_matches_keras():
    keras = pytest.importorskip("keras")
    from utils import transfer

    x = keras.Input((56, 56, 64))
    out = transfer.residual_block(x, 128, stride=2, name="ex")
    model = keras.Model(x, out)
    has_proj = any(l.name == "ex_proj" for l in model.layers)
    assert tl.check_residual_shape((tuple(out.shape[1:]), has_proj)).ok
    keras.backend.clear_session()


# ----------------------------------------------------------------------------- chapter 09
def test_paper_ci():
    from utils.metrics import wilson_ci

    assert bt.check_paper_ci(wilson_ci(47, 51)).ok
    p = 47 / 51
    half = 1.96 * np.sqrt(p * (1 - p) / 51)
    fb = bt.check_paper_ci((p - half, p + half))
    assert not fb.ok and "Wald" in fb.message
    fb = bt.check_paper_ci((81.0, 97.0))
    assert not fb.ok and "proportions" in fb.message


def test_paired_p():
    right = stats.ttest_rel(bt.FOLD_ACC_A, bt.FOLD_ACC_B).pvalue
    assert bt.check_paired_p(right).ok
    fb = bt.check_paired_p(stats.ttest_ind(bt.FOLD_ACC_A, bt.FOLD_ACC_B).pvalue)
    assert not fb.ok and "unpaired" in fb.message


def test_paired_p_matches_experiments():
    from utils import experiments as xp

    assert bt.check_paired_p(xp.paired_test(bt.FOLD_ACC_A, bt.FOLD_ACC_B)["p"]).ok


def test_mcnemar_p():
    b, c = bt.DISCORDANT
    right = stats.binomtest(b, b + c, 0.5).pvalue
    assert bt.check_mcnemar_p(right).ok
    fb = bt.check_mcnemar_p(right / 2)
    assert not fb.ok and "one-sided" in fb.message
    fb = bt.check_mcnemar_p(stats.chi2.sf((abs(b - c) - 1) ** 2 / (b + c), 1))
    assert not fb.ok and "exact" in fb.message
    fb = bt.check_mcnemar_p(5.5)
    assert not fb.ok and "statistic" in fb.message


def test_mcnemar_p_matches_experiments():
    from utils import experiments as xp

    b, c = bt.DISCORDANT
    y = np.ones(b + c, int)
    prob_a = np.r_[np.zeros(b), np.ones(c)]  # A wrong on the first b, right on the next c
    prob_b = np.r_[np.ones(b), np.zeros(c)]
    assert bt.check_mcnemar_p(xp.mcnemar_test(y, prob_a, prob_b)["p"]).ok
