"""Gather the results the chapters saved during the build (``_build/results/*.json``).

Chapters call :func:`utils.experiments.save_results` with their measured numbers and the
environment that produced them; the results page reads them back with :func:`load_all` and shows
:func:`headline_table` next to :data:`PAPER`, the figures the paper reports.
"""
from __future__ import annotations

import json
import math
import re

from .experiments import results_dir
from .metrics import wilson_ci

# What the paper reports (section 3.3): one random 80/20 split of the 253 images (~51 test images).
PAPER = [
    {"experiment": "brain tumour MRI, small CNN", "metric": "accuracy", "value": 0.78,
     "protocol": "one random 80/20 split (~51 test images)", "source": "paper, section 3.3"},
    {"experiment": "brain tumour MRI, ResNet50 transfer learning", "metric": "accuracy", "value": 0.92,
     "protocol": "one random 80/20 split (~51 test images)", "source": "paper, section 3.3"},
]

PAPER_TEST_IMAGES = 51  # 20 % of 253

METRIC = re.compile(r"(accuracy|auc|sensitivity|specificity|dice|iou)$", re.IGNORECASE)


def load_all(root=None) -> dict:
    """Every saved result: ``{name: {"name", "results", "environment"}}`` (sorted by name)."""
    folder = results_dir(root)
    if not folder.is_dir():
        return {}
    out = {}
    for path in sorted(folder.glob("*.json")):
        try:
            out[path.stem] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            out[path.stem] = {"name": path.stem, "results": {}, "environment": {},
                              "error": f"unreadable: {err}"}
    return out


def _num(value) -> float:
    """``value`` as a float (NaN for missing or non-numeric values)."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def _summary(node) -> dict:
    """``{metric: {"mean", "ci_low", "ci_high"}}`` from either summary layout the chapters save:
    ``{"accuracy": {"mean", "ci95": [lo, hi]}}`` or a list of records ``{"index", "mean",
    "ci_low", "ci_high"}`` (a DataFrame saved by :func:`utils.experiments.save_results`)."""
    out = {}
    if isinstance(node, dict):
        for metric, v in node.items():
            if isinstance(v, dict) and "mean" in v:
                lo, hi = (list(v.get("ci95") or []) + [math.nan, math.nan])[:2]
                out[metric] = {"mean": _num(v["mean"]), "ci_low": _num(lo), "ci_high": _num(hi)}
    elif isinstance(node, list):
        for rec in node:
            if isinstance(rec, dict) and "index" in rec and "mean" in rec:
                out[rec["index"]] = {"mean": _num(rec["mean"]), "ci_low": _num(rec.get("ci_low")),
                                     "ci_high": _num(rec.get("ci_high"))}
    return out


def headline_rows(name: str, payload: dict) -> list[dict]:
    """Scalar metrics of one saved result: mean values of summaries, and plain scalar metrics.

    A value counts when its last key is a metric name (accuracy, auc, sensitivity, specificity,
    dice, iou) or it is the ``mean`` of such a summary (either summary layout); per-fold lists,
    targets and figures quoted from the paper (``paper_reported_*``) are not headline numbers.
    """
    rows = []

    def add(where, metric, value):
        if not math.isnan(value):
            where = [w for w in where if w not in ("summary", "results")]
            rows.append({"chapter result": name, "experiment": " / ".join(where) or "-",
                         "metric": metric, "value": round(value, 4)})

    def visit(node, path):
        if isinstance(node, dict):
            if "summary" in node and isinstance(node["summary"], list):
                for metric, v in _summary(node["summary"]).items():
                    if METRIC.search(metric):
                        add(list(path), metric, v["mean"])
            for key, value in node.items():
                if key == "summary" and isinstance(value, list):
                    continue
                visit(value, path + (str(key),))
        elif isinstance(node, (int, float)) and not isinstance(node, bool):
            value, last = float(node), path[-1] if path else ""
            if last == "mean" and len(path) >= 2 and METRIC.search(path[-2]):
                add(list(path[:-2]), path[-2], value)
            elif METRIC.search(last) and "ci95" not in path and not last.startswith(
                    ("target", "paper_reported")):
                add(list(path[:-1]), last, value)

    visit(payload.get("results", {}), ())
    return rows


def headline_table(results: dict | None = None):
    """One row per headline metric of every saved result, with the mode that produced it."""
    import pandas as pd

    results = load_all() if results is None else results
    rows = []
    for name, payload in results.items():
        mode = payload.get("environment", {}).get("mode", "?")
        for row in headline_rows(name, payload):
            rows.append({**row, "mode": mode})
    return pd.DataFrame(rows, columns=["chapter result", "experiment", "metric", "value", "mode"])


def _paper_ci(value: float, n: int = PAPER_TEST_IMAGES) -> tuple[float, float]:
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
        # a t-interval of a mean over 5 folds can pass 1: a proportion's interval stops there
        rows.append({"section": section, "experiment": experiment, "protocol": protocol,
                     "metric": metric, "value": _num(value), "95% CI low": max(_num(lo), 0.0),
                     "95% CI high": min(_num(hi), 1.0), "paper reports": paper, "mode": mode})

    cnn = results.get("brain_tumor_cnn", {}).get("results", {})
    brain = "brain MRI classification"
    if "paper_protocol_repeats" in cnn:
        rep = cnn["paper_protocol_repeats"]
        acc = _summary(rep.get("summary", {})).get("accuracy", {})
        row(brain, "paper's CNN, paper's protocol",
            f"{rep.get('n_seeds', '?')} random 80/20 splits (duplicates may straddle)", "accuracy",
            acc.get("mean"), acc.get("ci_low"), acc.get("ci_high"), "0.78 (one split)",
            "brain_tumor_cnn")
    for key, label in (("paper_cnn_grouped_cv", "paper's CNN"), ("improved_cnn_grouped_cv", "improved CNN")):
        if key in cnn:
            sm = _summary(cnn[key].get("summary", {}))
            for metric in ("accuracy", "auc"):
                if metric in sm:
                    v = sm[metric]
                    row(brain, label, "grouped 5-fold CV", metric, v["mean"], v["ci_low"], v["ci_high"],
                        "0.78 (one split)" if (key, metric) == ("paper_cnn_grouped_cv", "accuracy") else "",
                        "brain_tumor_cnn")
    tr = results.get("brain_tumor_transfer", {}).get("results", {})
    for key, model in tr.get("models", {}).items():
        sm = _summary(model.get("summary", []))
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
        lo, hi = wilson_ci(k, n)
        row(brain, "Grad-CAM peak inside the tumour mask (fine-tuned model)",
            f"{n} correctly detected tumours; chance {game.get('mean_mask_share', math.nan):.3f}",
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
        lo, hi = wilson_ci(round(clf["accuracy"] * n), n) if n else (math.nan, math.nan)
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
    """:func:`summary_rows` as a DataFrame (empty, with the columns, when nothing was saved)."""
    import pandas as pd

    cols = ["section", "experiment", "protocol", "metric", "value", "95% CI low", "95% CI high",
            "paper reports", "mode"]
    return pd.DataFrame(summary_rows(results), columns=cols)


def section_tables(results: dict | None = None, digits: int = 3) -> dict:
    """:func:`summary_table` split by section, ready to read: one table per section (brain MRI
    classification, segmentation, COVID-19 X-ray) with the interval in one column ("0.755-0.905",
    "–" where there is none), numbers with ``digits`` decimals and the backbone's name shortened."""
    import pandas as pd

    from .plots import readable

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


def environment_table(results: dict | None = None):
    """The environment each saved result came from (date, mode, versions, CPU/GPU)."""
    import pandas as pd

    results = load_all() if results is None else results
    keys = ["date", "mode", "accelerator", "cpu_cores", "python", "tensorflow", "keras", "seed"]
    return pd.DataFrame([{"chapter result": n, **{k: p.get("environment", {}).get(k) for k in keys}}
                         for n, p in results.items()])
