"""Training-seed noise of chapter 12's shortcut probes: the lung U-Net that makes the masks,
trained once per training seed, and the probes on the masked X-rays of each.

Usage::

    python -m utils.benchmark_covid --seeds 3 [--record]

The probes (:func:`utils.covid.probe`, a logistic-regression head under grouped
cross-validation) are deterministic; the only trained, seed-dependent part of the mask-based
probes is chapter 10's lung U-Net (:func:`utils.segmentation.lung_recipe`, trained on the
training patients of :func:`utils.segmentation.lung_split`).  Per training seed (42, 142,
242, ...: :func:`utils.experiments.training_seeds`) this trains the lung U-Net as
:func:`utils.segmentation.train_lung_unet` does (without saving over the chapter's model),
(kept on disk by :func:`utils.segmentation.seed_lung_unet`: a U-Net that
``utils.benchmark_segmentation`` trained for the same seed is loaded, not retrained),
predicts the lung masks of chapter 12's X-rays (:func:`utils.covid.load_images` with
:func:`utils.covid.probe_settings`, :func:`utils.covid.predict_lungs`), makes the three
variants (:func:`utils.covid.lung_variants`) and probes each
(:func:`utils.covid.variant_probes`, figures of :func:`utils.covid.probe_summary`).  It prints
the figures per seed, per probe the mean ± SD (``ddof=1``), min and max over the seeds, and
per masked probe its difference to the full-image probe (which uses no mask) seed by seed
(:func:`utils.experiments.sign_verdict`).

``--record`` merges the result into ``utils/recorded/covid_probe_seeds.json`` (in quick mode
``covid_probe_seeds_quick.json``; a quick run never replaces the full file), each probe
labelled with the commit, date, mode and environment that produced it; chapter 12 reads it
(:func:`utils.experiments.load_probe_seed_record`, which refuses an entry made with another
lung recipe, other chapter settings or on other images).  The mode is ``DLBI_MODE`` (full
unless set to quick).
"""
from __future__ import annotations

import argparse
import sys
import time

from . import benchmark_common as B


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m utils.benchmark_covid",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3, metavar="N",
                        help="training seeds of the lung U-Net (default: %(default)s; at least 2)")
    parser.add_argument("--seed", type=int, default=42,
                        help="seed of the lung U-Net's split and the first training seed "
                             "(default: %(default)s)")
    parser.add_argument("--record", action="store_true",
                        help="merge the result into utils/recorded/covid_probe_seeds.json "
                             "(quick mode: covid_probe_seeds_quick.json)")
    args = parser.parse_args(argv)
    if args.seeds < 2:
        parser.error("--seeds needs at least 2 training seeds (an SD over one is undefined)")
    return args


def seed_tables(seeds, X, y, groups, folds, lung, train_idx, test_idx, progress=print):
    """Per probe of :data:`utils.experiments.PROBES`, a table with one row per training seed
    of the lung U-Net: ``training_seed``, the figures of :func:`utils.covid.probe_summary`,
    the U-Net's held-out mean Dice on chapter 10's split (``unet_heldout_mean_dice``), the
    median predicted lung area on chapter 12's images and ``seconds`` (the full-image probe,
    which uses no mask, is repeated per seed: the same figures each time)."""
    import keras
    import numpy as np
    import pandas as pd

    from . import covid as C
    from . import segmentation as S

    features, _ = C.lite0_features(X, "full")
    rows = {name: [] for name in ("full_image", *C.VARIANTS)}
    for train_seed in seeds:
        start = time.perf_counter()
        # shared with utils.benchmark_segmentation: a U-Net it trained is loaded, not retrained
        model, trained, loaded = S.seed_lung_unet(lung, train_idx, S.lung_recipe(),
                                                  seed=train_seed)
        dice = S.heldout_eval(model, lung, test_idx)[1]["mean_dice"]
        lungs = C.predict_lungs(model, X)
        results = {"full_image": C.probe(features, y, groups, n_splits=folds),
                   **C.variant_probes(C.lung_variants(X, lungs), y, groups, folds, train_seed)}
        seconds = time.perf_counter() - start + (trained if loaded else 0.0)
        common = {"unet_heldout_mean_dice": float(dice),
                  "median_lung_area": float(np.median(lungs.mean(axis=(1, 2, 3)))),
                  "seconds": seconds}
        for name, res in results.items():
            rows[name].append({"training_seed": train_seed, **C.probe_summary(res, y, groups),
                               **common})
        if progress is not None:
            progress(f"  seed {train_seed:>4}: lung U-Net held-out Dice {B.fmt(dice)}, "
                     + ", ".join(f"{name} {B.fmt(rows[name][-1]['accuracy'])}" for name in rows)
                     + f" (accuracy), {seconds:.0f} s")
        keras.backend.clear_session()
    return {name: pd.DataFrame(r) for name, r in rows.items()}


def main(argv=None) -> int:
    args = parse_args(argv)
    env, seeds = B.start("probe seed repeats", args.seed, args.seeds,
                         lung_U_Net_split_seed=args.seed)
    from . import covid as C
    from . import experiments as xp
    from . import segmentation as S

    settings = C.probe_settings()
    recipe = S.lung_recipe()
    print(f"training seeds {seeds}")
    X, y, groups, table = C.load_images(settings["size"], settings["per_class"])
    lung = S.load_lung_set(recipe["size"])
    train_idx, test_idx = S.lung_split(lung.groups, seed=args.seed)
    print(f"chapter 12: {len(y)} images at {settings['size']} px, {settings['folds']} folds; "
          f"lung U-Net {recipe}, trained on {len(train_idx)} images")
    start = time.perf_counter()
    tables = seed_tables(seeds, X, y, groups, settings["folds"], lung, train_idx, test_idx)
    entries = {name: xp.probe_seed_record_entry(name, t, env, table["file"], args.seed)
               for name, t in tables.items()}
    for name, entry in entries.items():
        print(f"\n== {name}")
        for metric in xp.PROBE_METRICS:
            print(B.spread_line(metric, entry["spread"][metric], 19))
    record = {k: {**e, "mode": env["mode"]} for k, e in entries.items()}
    print("\nmasked probe - full image, seed by seed:")
    for name in C.VARIANTS:
        for metric in ("accuracy", "COVID vs rest"):
            d = xp.seed_difference(record, "full_image", name, metric, xp.PROBE_DESIGN)
            print(f"  {name:<13} {metric:<13} {B.difference_line(d)}; "
                  f"it {xp.sign_verdict(d['per_seed'])}")
    print(f"\n{len(seeds)} seeds in {time.perf_counter() - start:.0f} s")
    if args.record:
        print(f"recorded {xp.record_probe_seeds(entries)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
