"""What the benchmarks (``python -m utils.benchmark_brain``, ``utils.benchmark_segmentation``
and ``utils.benchmark_covid``) share: their start (TensorFlow configured, its meaningless
per-predict log line filtered, the environment and the training seeds, one banner line) and
the lines they print (figures, the spread over training seeds, a difference seed by seed).
The figures themselves come from :mod:`utils.experiments`; this module only prints them.
"""
from __future__ import annotations

from . import config


def fmt(x, digits: int = 3) -> str:
    """``x`` with ``digits`` decimals, or ``"  nan"`` (as wide as ``0.000``) when it is NaN."""
    return "  nan" if x != x else f"{x:.{digits}f}"


def start(title: str, book_seed: int, n_seeds: int | None = None, **parts) -> tuple[dict, list]:
    """Configure TensorFlow (its deterministic ops and thread counts too, before the environment
    is read, so that a record's label describes how its models were trained), print the banner
    ``title | mode ... | parts ... | machine | TF`` and return ``(environment, training
    seeds)`` (:func:`utils.experiments.training_seeds` of ``n_seeds`` starting at
    ``book_seed``; an empty list without ``n_seeds``)."""
    config.configure_tensorflow()
    config.filter_native_stderr(force=True)
    config.configure_determinism()    # as training will (seed_everything): the record says so
    from . import experiments as xp

    env = config.environment(book_seed)
    seeds = xp.training_seeds(n_seeds, book_seed) if n_seeds else []
    middle = "".join(f" | {k.replace('_', ' ')} {v}" for k, v in parts.items())
    print(f"{title} | mode {env['mode']}{middle} | {env['cpu_cores']} CPU cores, "
          f"{env['accelerator']} | TF {env['tensorflow']}")
    return env, seeds


def spread_line(metric: str, spread: dict, width: int = 15) -> str:
    """One metric's spread over training seeds (an item of :func:`utils.experiments.seed_spread`):
    ``metric over seeds mean ± SD (min ..., max ..., N seeds)``."""
    return (f"  {metric:<{width}} over seeds {fmt(spread['mean'])} ± {fmt(spread['sd'])} "
            f"(min {fmt(spread['min'])}, max {fmt(spread['max'])}, {spread['n_seeds']} seeds)")


def difference_line(d: dict) -> str:
    """A difference seed by seed (:func:`utils.experiments.seed_difference`): the values, their
    mean and SD over seeds."""
    return (f"{', '.join(f'{v:+.3f}' for v in d['per_seed'])}; mean {d['mean']:+.3f}, "
            f"SD over seeds {fmt(d['sd'])}")
