"""utils.shift: input statistics, error rates per category, nearest pairs across collections."""
import numpy as np
import pytest

from utils import shift


def disc(size=64, radius=20, value=0.8, centre=None):
    yy, xx = np.mgrid[:size, :size]
    cy, cx = centre or (size // 2, size // 2)
    img = np.zeros((size, size), np.float32)
    img[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2] = value
    return img


def test_head_fill_measures_the_disc_and_ignores_a_speck_and_fills_holes():
    img = disc()
    img[30:34, 30:34] = 0.0          # a dark hole inside the head (ventricle)
    img[2:4, 2:4] = 0.9              # a bright speck (a label) outside it
    fill = shift.head_fill(img[None])[0]
    assert fill == pytest.approx(np.pi * 20 ** 2 / 64 ** 2, rel=0.08)
    assert shift.head_fill(disc(radius=10)[None])[0] < 0.3 * fill
    assert shift.head_fill(np.zeros((1, 32, 32)))[0] == 0.0


def test_input_stats_columns_and_values():
    imgs = np.stack([disc(value=0.8), disc(value=0.4)])[..., None]
    df = shift.input_stats(imgs, width=[512, 256], height=[400, 300])
    assert list(df["long_side"]) == [512, 300]
    assert df.loc[0, "head_mean"] == pytest.approx(0.8, abs=0.05)
    assert df.loc[1, "head_mean"] == pytest.approx(0.4, abs=0.05)
    assert df["background_mean"].max() < 0.05
    with pytest.raises(ValueError):
        shift.input_stats(imgs, width=[1], height=[1])


def test_intensity_histogram_inside_the_head_only():
    edges, dens = shift.intensity_histogram(disc(value=0.8)[None], bins=10)
    assert dens.sum() == pytest.approx(1.0)
    assert np.argmax(dens) == 8                      # 0.8 falls in [0.8, 0.9)
    _, whole = shift.intensity_histogram(disc(value=0.8)[None], bins=10, inside_head=False)
    assert whole[0] > 0.5                            # the background dominates the whole frame


def test_size_bins_labels():
    got = list(shift.size_bins([200, 300, 512, 900, 512], [200, 250, 512, 741, 300]))
    assert got == ["<=255", "256-511", "512", ">512", "512"]


def test_error_rates_per_category_with_grouped_intervals():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    prob = np.array([0.9, 0.2, 0.8, 0.1, 0.1, 0.7, 0.2, 0.3])
    keys = np.array(["a", "a", "b", "b", "h", "h", "h", "h"])
    groups = np.arange(8)
    t = shift.error_rates(y, prob, keys, groups, n_boot=200)
    assert list(t.index) == ["a", "b", "h"]
    assert list(t["errors"]) == [1, 1, 1]
    assert t.loc["h", "error_rate"] == pytest.approx(0.25)
    assert (t["ci_low"] <= t["error_rate"]).all() and (t["error_rate"] <= t["ci_high"]).all()
    # a threshold moves the errors
    assert shift.error_rates(y, prob, keys, groups, threshold=0.05, n_boot=50).loc["h", "errors"] == 4
    # one group holding all images of a category: the interval collapses to the value
    one = shift.error_rates(y, prob, keys, np.zeros(8), n_boot=50)
    assert one.loc["h", "ci_low"] == one.loc["h", "ci_high"] == pytest.approx(0.25)
    with pytest.raises(ValueError):
        shift.error_rates(y, prob, keys[:3], groups)


def test_nearest_pairs_finds_a_rotated_recompressed_copy():
    from scipy import ndimage

    rng = np.random.default_rng(0)

    def smooth(shape):   # a smooth random picture: hashes see structure, not pixel noise
        img = ndimage.gaussian_filter(rng.random(shape), 4)
        return ((img - img.min()) / np.ptp(img) * 255).astype(np.uint8)

    a = [smooth((96, 96)) for _ in range(5)]
    b = [smooth((80, 80)) for _ in range(4)]
    copy = np.rot90(a[3], 1)[:, ::-1]
    copy = np.clip(copy.astype(int) + 3, 0, 255).astype(np.uint8)      # brighter copy
    b.append(np.kron(copy, np.ones((2, 2), np.uint8)))                  # and upscaled
    pairs = shift.nearest_pairs(a, b, k=3)
    assert (pairs.loc[0, "a"], pairs.loc[0, "b"]) == (3, 4)
    assert pairs.loc[0, "distance"] < 20 < pairs.loc[1, "distance"]
    assert list(pairs["distance"]) == sorted(pairs["distance"])


def test_image_sizes_reads_width_and_height(tmp_path):
    from PIL import Image

    Image.fromarray(np.zeros((30, 50), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((70, 20), np.uint8)).save(tmp_path / "b.jpg")
    w, h = shift.image_sizes([tmp_path / "a.png", tmp_path / "b.jpg"])
    assert list(w) == [50, 20] and list(h) == [30, 70]


def test_collection_stats_summary_and_plot():
    import matplotlib
    matplotlib.use("Agg")
    big = np.stack([disc(radius=28), disc(radius=26)])
    small = np.stack([disc(radius=10)] * 3)
    stats = shift.collection_stats({"b": (big, [512, 512], [512, 400]),
                                    "a": (small, [256] * 3, [256] * 3)})
    summ = shift.collection_summary(stats)
    assert list(summ.index) == ["b", "a"]                 # the given order, not sorted
    assert list(summ["images"]) == [2, 3] and list(summ["distinct sizes"]) == [2, 1]
    assert summ.loc["b", "head_fill"] > 3 * summ.loc["a", "head_fill"]
    axes = shift.plot_inputs(stats, {"b": big, "a": small})
    assert len(axes[2].lines) == 2
