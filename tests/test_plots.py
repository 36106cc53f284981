"""Tests of utils.plots: the image grid, the overlay and the table display used by every chapter."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from utils import audit, plots  # noqa: E402


def test_image_grid_titles_do_not_run_into_the_row_above():
    images = [np.random.default_rng(k).random((32, 32)) for k in range(8)]
    titles = [f"Y{k}\ntrue 1, predicted 0\np = 0.{k}" for k in range(8)]  # three-line titles
    fig = plots.image_grid(images, titles, ncols=4, suptitle="Misclassified images")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    axes = np.array(fig.get_axes()).reshape(2, 4)
    for col in range(4):
        above = axes[0, col].get_window_extent(renderer)
        title = axes[1, col].title.get_window_extent(renderer)
        assert title.y1 <= above.y0 + 1, (col, title, above)
    suptitle = fig._suptitle.get_window_extent(renderer)
    assert suptitle.y0 >= max(ax.title.get_window_extent(renderer).y1 for ax in axes[0]) - 1
    assert audit.figure_title(fig) == "Misclassified images"
    plt.close(fig)


def test_image_grid_accepts_mixed_shapes_and_hides_empty_cells():
    images = [np.zeros((10, 12)), np.zeros((8, 8, 1)), np.ones((6, 6, 3))]
    fig = plots.image_grid(images, ["a", "b", "c"], ncols=2)
    axes = fig.get_axes()
    assert len(axes) == 4 and [ax.get_title() for ax in axes] == ["a", "b", "c", ""]
    assert len(axes[3].get_images()) == 0
    plt.close(fig)


def test_overlay_paints_only_the_mask():
    image = np.full((4, 4), 0.5)
    mask = np.zeros((4, 4), bool)
    mask[1, 2] = True
    rgb = plots.overlay(image, mask, color=(1, 0, 0), alpha=0.5)
    assert rgb.shape == (4, 4, 3)
    assert np.allclose(rgb[0, 0], 0.5)
    assert np.allclose(rgb[1, 2], [0.75, 0.25, 0.25])


def test_readable_formats_floats_keeps_ints_and_dashes_missing():
    table = pd.DataFrame({"images": [12, 36], "recall": [1.0, 0.75], "precision": [0.857, np.nan],
                          "CI": ["0.76-1.00", ""]}, index=["covid", "all"])
    shown = plots.readable(table)
    assert shown.loc["covid", "recall"] == "1.000" and shown.loc["all", "recall"] == "0.750"
    assert shown.loc["all", "precision"] == "\u2013" and shown.loc["covid", "images"] == 12
    assert shown.loc["all", "CI"] == "" and table["precision"].isna().any()   # the original is kept
    assert plots.readable(table, digits=1).loc["covid", "precision"] == "0.9"
