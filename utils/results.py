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

# What the paper reports (section 3.3): one random 80/20 split of the 253 images (~51 test images).
PAPER = [
    {"experiment": "brain tumour MRI, small CNN", "metric": "accuracy", "value": 0.78,
     "protocol": "one random 80/20 split (~51 test images)", "source": "paper, section 3.3"},
    {"experiment": "brain tumour MRI, ResNet50 transfer learning", "metric": "accuracy", "value": 0.92,
     "protocol": "one random 80/20 split (~51 test images)", "source": "paper, section 3.3"},
]

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


def _walk(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, path + (str(key),))
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield path, float(node)


def headline_rows(name: str, payload: dict) -> list[dict]:
    """Scalar metrics of one saved result: mean values of summaries, and plain scalar metrics.

    A value counts when its last key is a metric name (accuracy, auc, sensitivity, specificity,
    dice, iou) or it is the ``mean`` of such a summary; per-fold lists are not headline numbers.
    """
    rows = []
    for path, value in _walk(payload.get("results", {})):
        if math.isnan(value):
            continue
        if path[-1] == "mean" and len(path) >= 2 and METRIC.search(path[-2]):
            metric, where = path[-2], path[:-2]
        elif METRIC.search(path[-1]) and "ci95" not in path:
            metric, where = path[-1], path[:-1]
        else:
            continue
        if path[-1].startswith(("target", "paper")) or any(p.startswith("paper") for p in where):
            continue  # targets and the paper's figures are not measurements
        where = [w for w in where if w not in ("summary", "results")]
        rows.append({"chapter result": name, "experiment": " / ".join(where) or "-",
                     "metric": metric, "value": round(value, 4)})
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
