"""The results the chapters save and the pages that gather them (``_build/results/*.json``).

Chapters write their measured numbers, with the environment that produced them, by
:func:`save_results`; :func:`load_results` reads one file back, :func:`load_cv_results` the
cross-validation tables in it, :func:`load_all` every file.  :func:`headline_table` lists their
headline metrics and :data:`PAPER` holds the figures the paper reports; the results page's
tables and figure, which put the two side by side with intervals, are :mod:`utils.report`.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

from . import config

# What the paper reports (section 3.3): one random 80/20 split of the 253 images (~51 test images).
PAPER = [
    {"experiment": "brain tumour MRI, small CNN", "metric": "accuracy", "value": 0.78,
     "protocol": "one random 80/20 split (~51 test images)", "source": "paper, section 3.3"},
    {"experiment": "brain tumour MRI, ResNet50 transfer learning", "metric": "accuracy", "value": 0.92,
     "protocol": "one random 80/20 split (~51 test images)", "source": "paper, section 3.3"},
]

PAPER_TEST_IMAGES = 51  # 20 % of 253

METRIC = re.compile(r"(accuracy|auc|sensitivity|specificity|dice|iou)$", re.IGNORECASE)


# ------------------------------------------------------------------------------------------
# Saving and reading one chapter's results
# ------------------------------------------------------------------------------------------
def results_dir(root: Path | str | None = None) -> Path:
    """``<repo>/_build/results`` (or ``<root>/_build/results``)."""
    return Path(root or config.repo_root()) / "_build" / "results"


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "to_dict") and hasattr(obj, "columns"):  # DataFrame: a list of rows
        import pandas as pd

        if not isinstance(obj.index, pd.RangeIndex):
            obj = obj.rename_axis(obj.index.name or "index").reset_index()
        return _jsonable(obj.to_dict(orient="records"))
    if hasattr(obj, "to_dict"):  # Series
        return _jsonable(obj.to_dict())
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


def save_results(name: str, results: dict, root: Path | str | None = None,
                 environment: dict | None = None) -> Path:
    """Write ``results`` to ``_build/results/<name>.json`` with the environment; return the path.

    NumPy numbers, arrays, Series and DataFrames are converted; NaN becomes ``null``.  The
    file has ``name``, ``results`` and ``environment`` (:func:`utils.config.environment`).

    A quick-mode run (the test suite executes every chapter in quick mode) never overwrites a
    full-mode result of the same name: it writes ``_build/results/quick/<name>.json`` instead,
    so the book's numbers survive a test run.
    """
    if not name or "/" in name or "\\" in name:
        raise ValueError(f"name must be a plain file stem, not {name!r}")
    env = environment if environment is not None else config.environment()
    path = results_dir(root) / f"{name}.json"
    if env.get("mode") == "quick" and _saved_mode(path) == "full":
        path = results_dir(root) / "quick" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"name": name, "results": _jsonable(results), "environment": _jsonable(env)}
    tmp = path.with_suffix(".json.part")
    tmp.write_text(json.dumps(payload, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def _saved_mode(path: Path) -> str | None:
    """The mode recorded in a saved result file (None if missing or unreadable)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))["environment"].get("mode")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def load_results(name: str, root: Path | str | None = None) -> dict:
    """Read back what :func:`save_results` wrote."""
    return json.loads((results_dir(root) / f"{name}.json").read_text(encoding="utf-8"))


def _find_cv_entries(obj, path=()):
    """Yield (path, dict) for every dict under ``obj`` whose ``folds`` is a list of per-fold
    records with an ``accuracy``."""
    if isinstance(obj, dict):
        folds = obj.get("folds")
        if isinstance(folds, list) and folds and isinstance(folds[0], dict) \
                and "accuracy" in folds[0]:
            yield path, obj
        for key, value in obj.items():
            if key != "folds":
                yield from _find_cv_entries(value, path + (str(key),))


def load_cv_results(name: str = "brain_tumor_cnn", root=None, mode: str | None = None) -> dict | None:
    """Cross-validation results saved by another chapter (``_build/results/<name>.json``).

    Returns ``None`` when the file does not exist, else ``{"environment": ..., "models":
    {model name: {"folds": DataFrame, "oof": array or None, "fold_of": array or None}}}``;
    a model is any entry with a per-fold ``folds`` table; ``oof`` are its out-of-fold
    probabilities when the chapter saved them (keys ``oof`` or ``oof_prob``).

    ``mode`` ("quick" or "full"): only results recorded in that mode (the ``mode`` of the
    saved environment, :func:`save_results`); a quick run's file is looked for where
    :func:`save_results` puts it when a full-mode result exists (``quick/<name>.json``).  A file
    of another mode, or without a recorded mode, gives ``None``, so that a chapter never mixes
    a quick run's predictions with a full run's (or the reverse).  ``mode=None``: any file.
    """
    import pandas as pd

    path = results_dir(root) / f"{name}.json"
    if mode is not None:
        if mode not in config.MODES:
            raise ValueError(f"mode must be one of {config.MODES} or None, not {mode!r}")
        candidates = [path] + ([results_dir(root) / "quick" / f"{name}.json"]
                               if mode == "quick" else [])
        path = next((c for c in candidates if c.is_file() and _saved_mode(c) == mode), None)
        if path is None:
            return None
    if not path.is_file():
        return None
    payload = json.loads(path.read_text(encoding="utf-8"))
    models = {}
    for key_path, entry in _find_cv_entries(payload.get("results", {})):
        label = "/".join(key_path) or name
        oof = entry.get("oof", entry.get("oof_prob"))
        fold_of = entry.get("fold_of")
        models[label] = {
            "folds": pd.DataFrame(entry["folds"]),
            "oof": None if oof is None else np.asarray(oof, dtype=float),
            "fold_of": None if fold_of is None else np.asarray(fold_of, dtype=int),
        }
    return {"path": path, "environment": payload.get("environment", {}), "models": models}


# ------------------------------------------------------------------------------------------
# Gathering every chapter's results
# ------------------------------------------------------------------------------------------
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


def to_float(value) -> float:
    """``value`` as a float (NaN for missing or non-numeric values)."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def read_summary(node) -> dict:
    """``{metric: {"mean", "ci_low", "ci_high"}}`` from either summary layout the chapters save:
    ``{"accuracy": {"mean", "ci95": [lo, hi]}}`` or a list of records ``{"index", "mean",
    "ci_low", "ci_high"}`` (a DataFrame saved by :func:`save_results`)."""
    out = {}
    if isinstance(node, dict):
        for metric, v in node.items():
            if isinstance(v, dict) and "mean" in v:
                lo, hi = (list(v.get("ci95") or []) + [math.nan, math.nan])[:2]
                out[metric] = {"mean": to_float(v["mean"]), "ci_low": to_float(lo), "ci_high": to_float(hi)}
    elif isinstance(node, list):
        for rec in node:
            if isinstance(rec, dict) and "index" in rec and "mean" in rec:
                out[rec["index"]] = {"mean": to_float(rec["mean"]), "ci_low": to_float(rec.get("ci_low")),
                                     "ci_high": to_float(rec.get("ci_high"))}
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
                for metric, v in read_summary(node["summary"]).items():
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


def environment_table(results: dict | None = None):
    """The environment each saved result came from (date, mode, versions, CPU/GPU)."""
    import pandas as pd

    results = load_all() if results is None else results
    keys = ["date", "mode", "accelerator", "cpu_cores", "python", "tensorflow", "keras", "seed"]
    return pd.DataFrame([{"chapter result": n, **{k: p.get("environment", {}).get(k) for k in keys}}
                         for n, p in results.items()])
