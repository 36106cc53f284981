"""The choices of the 3-D experiments are made on validation data, and their intervals."""
import numpy as np

from utils import benchmark_3d as B
from utils import metrics, volumes


def test_validation_split_is_inside_training_and_disjoint():
    cases = np.array([f"case_{i:03d}" for i in range(60)])
    train, test = B.hippocampus_split(cases)
    fit, val = B.validation_split(train, cases)
    assert set(fit) | set(val) == set(train)
    assert not set(fit) & set(val)
    assert not (set(fit) | set(val)) & set(test)
    assert 0.08 < len(val) / len(train) < 0.25
    again = B.validation_split(train, cases)
    assert list(again[1]) == list(val)                      # seeded
    other = B.validation_split(train, cases, seed=7)
    assert list(other[1]) != list(val)


class _Asymmetric:
    """A 'classifier' that reads one corner voxel: its flipped copies see other voxels."""

    def predict(self, x, batch_size=32, verbose=0):
        return x[:, 0, 0, 0].reshape(len(x), 1)


def test_flip_choice_follows_validation_auc():
    rng = np.random.default_rng(1)
    y = np.array([0, 1] * 20)
    x = rng.normal(size=(40, 4, 4, 4, 1)).astype(np.float32)
    # the label is written into the opposite corner: only flipped copies see it
    x[:, -1, -1, -1, 0] = y * 5.0
    use, rows = B.choose_flip_averaging(_Asymmetric(), x, y, (1, 2, 3))
    assert use and rows[1]["val AUC"] > rows[0]["val AUC"]
    x[:, 0, 0, 0, 0] = y * 50.0                       # now the plain prediction is perfect
    x[:, -1, -1, -1, 0] = 0.0
    use, rows = B.choose_flip_averaging(_Asymmetric(), x, y, (1, 2, 3))
    assert rows[0]["val AUC"] == 1.0 and not use      # ties keep the cheaper plain prediction


def test_best_threshold_maximises_balanced_accuracy():
    y = np.array([0, 0, 0, 1, 1])
    prob = np.array([0.1, 0.2, 0.6, 0.5, 0.9])
    t = B.best_threshold(y, prob)
    m = metrics.binary_metrics(y, prob, threshold=t)
    assert (m["sensitivity"] + m["specificity"]) / 2 == max(
        (metrics.binary_metrics(y, prob, threshold=float(c))["sensitivity"]
         + metrics.binary_metrics(y, prob, threshold=float(c))["specificity"]) / 2 for c in prob)
