"""What the seed benchmarks print (utils.benchmark_common): a NaN-safe figure, the spread over
training seeds, a difference seed by seed, the banner; and benchmark_segmentation's main()
end to end on stand-in U-Net tables (no training), printing and recording with them."""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from utils import benchmark_common as B
from utils import benchmark_segmentation as BS
from utils import config
from utils import experiments as xp
from utils import segmentation as S


def test_fmt_keeps_nan_as_wide_as_a_figure():
    assert B.fmt(0.12345) == "0.123" and B.fmt(0.5, 2) == "0.50"
    assert B.fmt(math.nan) == "  nan" and len(B.fmt(math.nan)) == len(B.fmt(0.0))


def test_spread_and_difference_lines_show_the_seed_figures():
    table = pd.DataFrame({"training_seed": [42, 142, 242], "mean_dice": [0.5, 0.6, 0.7]})
    sp = xp.seed_spread(table, ("mean_dice",))["mean_dice"]
    line = B.spread_line("mean_dice", sp, 11)
    assert line == "  mean_dice   over seeds 0.600 ± 0.100 (min 0.500, max 0.700, 3 seeds)"
    d = {"per_seed": [0.1, -0.02, 0.3], "mean": 0.1267, "sd": math.nan}
    assert B.difference_line(d) == "+0.100, -0.020, +0.300; mean +0.127, SD over seeds   nan"


def test_start_prints_the_banner_and_returns_the_seeds(capsys):
    env, seeds = B.start("U-Net seed repeats", 7, 3, split_seed=7)
    out = capsys.readouterr().out
    assert seeds == xp.training_seeds(3, 7) and len(seeds) == 3 and seeds[0] == 7
    assert out.startswith(f"U-Net seed repeats | mode {env['mode']} | split seed 7 | ")
    assert f"TF {env['tensorflow']}" in out
    assert env["determinism"] == config.determinism_summary()    # set before it was read
    if config.deterministic():
        assert env["determinism"].startswith("deterministic ops, threads ")
    assert B.start("x", 7)[1] == []


def test_segmentation_benchmark_prints_and_records_stand_in_tables(monkeypatch, tmp_path,
                                                                   capsys):
    class Stand:               # the table a tumour set has, without images
        table = pd.DataFrame({"image": [f"yes/Y{i}.jpg" for i in range(6)]})

    dice = {"scratch": [0.50, 0.45, 0.60], "pretrained": [0.70, 0.72, 0.69]}
    monkeypatch.setattr(S, "load_tumour_set", lambda size, verbose=False: Stand())
    monkeypatch.setattr(S, "tumour_split", lambda data, seed: ([0, 1, 2, 3], [4, 5]))
    monkeypatch.setattr(BS, "seed_table", lambda name, seeds, *a, **k: pd.DataFrame(
        {"training_seed": seeds, "mean_dice": dice[name], "median_dice": dice[name],
         "pooled_dice": dice[name], "seconds": [1.0] * len(seeds)}))
    path = tmp_path / "unet.json"
    monkeypatch.setattr(xp, "unet_seed_record_path", lambda mode="full": path)
    assert BS.main(["--models", "scratch,pretrained", "--record"]) == 0
    out = capsys.readouterr().out
    assert "mean_dice   over seeds 0.517 ± 0.076 (min 0.450, max 0.600, 3 seeds)" in out
    assert "pretrained - scratch, held-out mean Dice, seed by seed: +0.200, +0.270, +0.090" in out
    assert "is positive for all 3 training seeds" in out
    saved = json.loads(path.read_text())["models"]
    assert saved["scratch"]["heldout_files"] == ["yes/Y4.jpg", "yes/Y5.jpg"]
    assert saved["pretrained"]["n_train"] == 4
    with pytest.raises(ValueError, match="other images than this hold-out split"):
        xp.load_unet_seed_record(path, mode=saved["scratch"]["environment"]["mode"],
                                 heldout={"scratch": ["yes/Y0.jpg"]})
