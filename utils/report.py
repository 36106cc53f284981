"""The book's results page (``notebooks/99_results.md``): what every chapter measured, next to
what the paper reports, with 95 % intervals.

Everything is read from the chapters' saved results (:func:`utils.results.load_all`):
:func:`summary_table` is the page's main table (one row per experiment), :func:`section_tables`
the same split by section and ready to read, :func:`plot_brain_accuracy` the brain MRI accuracy
figure.  This module knows the layout of every chapter's results file, so it sits on top of
the chapters' tools; reading and writing the files is :mod:`utils.results`.
"""
from __future__ import annotations

import math
import re

from .metrics import wilson_ci
from .plots import readable
from .results import PAPER, PAPER_TEST_IMAGES, load_all, read_summary, to_float


def _paper_ci(value: float, n: int = PAPER_TEST_IMAGES) -> tuple[float, float]:
    """Wilson interval of an accuracy the paper reports for its ``n`` (~51) test images."""
    return wilson_ci(round(value * n), n)


def summary_rows(results: dict | None = None) -> list[dict]:
    """The page's main table: one row per experiment, with its protocol, metric, value, 95 %
    interval, what the paper reports (where it reports something) and the mode of the run.

    Every value is read from the chapters' saved results; experiments whose result file is
    missing are left out (the page says which files it found)."""
    results = load_all() if results is None else results
    rows = []

    def row(section, experiment, protocol, metric, value, lo=math.nan, hi=math.nan, paper="",
            name=""):
        mode = results.get(name, {}).get("environment", {}).get("mode", "?")
        # the chapters clip fold-mean intervals to [0, 1] (utils.metrics.bounded_t_interval);
        # results saved before that are clipped here the same way
        rows.append({"section": section, "experiment": experiment, "protocol": protocol,
                     "metric": metric, "value": to_float(value), "95% CI low": max(to_float(lo), 0.0),
                     "95% CI high": min(to_float(hi), 1.0), "paper reports": paper, "mode": mode})

    cnn = results.get("brain_tumor_cnn", {}).get("results", {})
    brain = "brain MRI classification"
    if "paper_protocol_repeats" in cnn:
        rep = cnn["paper_protocol_repeats"]
        acc = read_summary(rep.get("summary", {})).get("accuracy", {})
        row(brain, "paper's CNN, paper's protocol",
            f"{rep.get('n_seeds', '?')} random 80/20 splits (duplicates may straddle)", "accuracy",
            acc.get("mean"), acc.get("ci_low"), acc.get("ci_high"), "0.78 (one split)",
            "brain_tumor_cnn")
    for key, label in (("paper_cnn_grouped_cv", "paper's CNN"), ("improved_cnn_grouped_cv", "improved CNN")):
        if key in cnn:
            sm = read_summary(cnn[key].get("summary", {}))
            for metric in ("accuracy", "auc"):
                if metric in sm:
                    v = sm[metric]
                    row(brain, label, "grouped 5-fold CV", metric, v["mean"], v["ci_low"], v["ci_high"],
                        "0.78 (one split)" if (key, metric) == ("paper_cnn_grouped_cv", "accuracy") else "",
                        "brain_tumor_cnn")
    tr = results.get("brain_tumor_transfer", {}).get("results", {})
    for key, model in tr.get("models", {}).items():
        sm = read_summary(model.get("summary", []))
        backbone = model.get("backbone", "?")
        for metric in ("accuracy", "auc"):
            if metric in sm:
                v = sm[metric]
                paper = ("0.92 (ResNet50, one split)"
                         if metric == "accuracy" and key == "frozen, paper head" else "")
                row(brain, f"{backbone}: {key}", "grouped 5-fold CV", metric, v["mean"], v["ci_low"],
                    v["ci_high"], paper, "brain_tumor_transfer")
    game = tr.get("pointing_game", {})
    if game.get("images"):
        n, k = int(game["images"]), int(game.get("peak_in_mask", 0))
        # chapter 09's interval (a bootstrap over near-duplicate groups); none is made up here
        lo, hi = game.get("ci_low", math.nan), game.get("ci_high", math.nan)
        row(brain, "Grad-CAM peak inside the tumour mask (fine-tuned model)",
            f"{n} correctly detected tumours ({game.get('interval', 'no interval saved')}); "
            f"chance {game.get('mean_mask_share', math.nan):.3f}",
            "hit rate", k / n, lo, hi, "", "brain_tumor_transfer")

    seg = results.get("covid_segmentation", {}).get("results", {})
    if "lung" in seg:
        lung = seg["lung"]
        row("segmentation", "lung U-Net, chest X-ray",
            f"{lung.get('heldout_images', '?')} held-out images of {lung.get('heldout_patients', '?')} "
            f"patients (target {lung.get('target_mean_dice', '?')})", "mean Dice",
            lung.get("mean_dice"), name="covid_segmentation")
    tumour = seg.get("tumour", {})
    for key, label in (("pretrained_encoder", "tumour U-Net, ImageNet encoder"),
                       ("from_scratch", "tumour U-Net, from scratch")):
        if key in tumour:
            row("segmentation", label, f"{tumour.get('heldout_images', '?')} held-out MRIs "
                f"(target {tumour.get('target_mean_dice', '?')})", "mean Dice",
                tumour[key].get("mean Dice (per image)"), name="covid_segmentation")
    if "box_agreement" in seg:
        box = seg["box_agreement"]
        row("segmentation", "lung boxes: human vs from masks",
            f"{box.get('lungs', '?')} lungs in {box.get('matched_images', '?')} images",
            "median IoU", box.get("median_iou"), name="covid_segmentation")

    cov = results.get("covid_classification", {}).get("results", {})
    clf = cov.get("classifier", {})
    if "accuracy" in clf:
        n = int(cov.get("images", 0) or 0)
        # the chapter's interval resamples patients (several X-rays per patient); a file
        # without it gets no interval rather than a Wilson interval that assumes independence
        lo, hi = (clf.get("accuracy_ci95") or [math.nan, math.nan])[:2]
        proto = (f"{n} images of {cov.get('patients', '?')} patients, patient-grouped "
                 f"{cov.get('folds', '?')}-fold CV")
        row("COVID-19 X-ray", "Lite0 features + logistic regression, 3 classes", proto, "accuracy",
            clf["accuracy"], lo, hi, "", "covid_classification")
        row("COVID-19 X-ray", "the same, COVID-19 vs the rest", proto, "accuracy",
            clf.get("covid_vs_rest_accuracy"), name="covid_classification")
    for probe in cov.get("probes", []):
        if isinstance(probe, dict) and probe.get("index") not in (None, "full image", "majority class"):
            row("COVID-19 X-ray", f"shortcut probe: {probe['index']}", "same folds, 3 classes",
                "accuracy", probe.get("accuracy"), probe.get("95% CI low"), probe.get("95% CI high"),
                "", "covid_classification")
    if "size_rule_accuracy" in cov:
        row("COVID-19 X-ray", "rule: 512x512 means not COVID-19", "all images, no training",
            "COVID vs rest accuracy", cov["size_rule_accuracy"], name="covid_classification")
    return rows


def summary_table(results: dict | None = None):
    """:func:`summary_rows` as a DataFrame (empty, with the columns, when nothing was saved).

    (Not :func:`utils.crossval.comparison_table`, which compares cross-validation results in
    memory, one row per model.)"""
    import pandas as pd

    cols = ["section", "experiment", "protocol", "metric", "value", "95% CI low", "95% CI high",
            "paper reports", "mode"]
    return pd.DataFrame(summary_rows(results), columns=cols)


def section_tables(results: dict | None = None, digits: int = 3) -> dict:
    """:func:`summary_table` split by section, ready to read: one table per section (brain MRI
    classification, segmentation, COVID-19 X-ray) with the interval in one column ("0.755-0.905",
    "–" where there is none), numbers with ``digits`` decimals and the backbone's name shortened."""
    import pandas as pd

    table = summary_table(results)
    out = {}
    for section, part in table.groupby("section", sort=False):
        part = part.copy()
        part["experiment"] = part["experiment"].str.replace("EfficientNet-Lite0 (ImageNet): ", "Lite0: ",
                                                            regex=False)
        part["95% CI"] = [f"{lo:.{digits}f}-{hi:.{digits}f}" if not (pd.isna(lo) or pd.isna(hi)) else None
                          for lo, hi in zip(part["95% CI low"], part["95% CI high"])]
        part["paper reports"] = part["paper reports"].replace("", None)
        cols = ["experiment", "protocol", "metric", "value", "95% CI", "paper reports", "mode"]
        out[section] = readable(part[cols].reset_index(drop=True), digits=digits)
    return out


def plot_brain_accuracy(results: dict | None = None, ax=None):
    """Brain MRI accuracy with 95 % intervals: the paper's two single-split figures (Wilson
    interval of ~51 test images) next to every model this book evaluated. Returns the figure
    (None when no brain result was saved)."""
    import matplotlib.pyplot as plt

    table = summary_table(results)
    ours = table[(table["section"] == "brain MRI classification") & (table["metric"] == "accuracy")]
    if ours.empty:
        return None
    labels, values, lows, highs, colours = [], [], [], [], []
    for p in PAPER:
        lo, hi = _paper_ci(p["value"])
        labels.append(f"paper, as reported: {p['experiment'].split(', ', 1)[1]}\n[one random split, 51 images]")
        values.append(p["value"]), lows.append(lo), highs.append(hi), colours.append("tab:gray")
    for _, r in ours.iterrows():
        name = re.sub(r" \([^)]*unfrozen\)", "", r["experiment"]).replace("EfficientNet-Lite0 (ImageNet): ", "Lite0, ")
        protocol = "grouped 5-fold CV" if "grouped" in r["protocol"] else r["protocol"].split(" (")[0]
        labels.append(f"{name}\n[{protocol}]")
        values.append(r["value"]), lows.append(r["95% CI low"]), highs.append(r["95% CI high"])
        colours.append("tab:blue")
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 0.5 * len(labels) + 1.2))
    else:
        fig = ax.figure
    y = list(range(len(labels)))[::-1]
    for yi, v, lo, hi, c in zip(y, values, lows, highs, colours):
        if not (math.isnan(lo) or math.isnan(hi)):
            ax.plot([max(lo, 0.0), min(hi, 1.0)], [yi, yi], color=c, lw=2, alpha=0.6)
        ax.plot([v], [yi], "o", color=c)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xlim(0.4, 1.0)
    ax.set_xlabel("accuracy (dot) and 95% interval (line)")
    ax.set_title("Brain tumour MRI accuracy: the paper's single-split figures (gray)\n"
                 "and this book's models (blue), with 95% intervals", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig
