"""Training-seed noise of chapter 10's U-Nets: each trained once per training seed on the
chapter's hold-out split.

Usage::

    python -m utils.benchmark_segmentation --seeds 3 [--models lung,scratch,pretrained] [--record]

``lung`` is the lung U-Net on the COVID X-rays (:func:`utils.segmentation.lung_recipe`, split
by patient with :func:`utils.segmentation.lung_split`), ``scratch`` the tumour U-Net trained from
scratch (:func:`utils.segmentation.tumour_recipe`) and ``pretrained`` the tumour U-Net with the
ImageNet-pretrained Lite0 encoder (:func:`utils.segmentation.pretrained_recipe`), both on
:func:`utils.segmentation.tumour_split`.  The split stays fixed; the training seeds are 42, 142,
242, ... (:func:`utils.experiments.training_seeds`), so only initial weights, batch order,
augmentation and dropout change.  Per seed it prints the held-out mean Dice per image (flip
test-time augmentation, as the chapter), the median Dice and the Dice pooled over all pixels;
per model the mean ± SD (``ddof=1``), min and max over the seeds; and the difference
pretrained − scratch seed by seed (:func:`utils.experiments.sign_verdict`).

``--record`` merges the result into ``utils/recorded/unet_seed_repeats.json`` (in quick mode
``unet_seed_repeats_quick.json``; a quick run never replaces the full file), each model labelled
with the commit, date, mode and environment that produced it; chapter 10 reads it
(:func:`utils.experiments.load_unet_seed_record`, which refuses an entry whose recipe is no
longer today's).  The mode is ``DLBI_MODE`` (full unless set to quick).
"""
from __future__ import annotations

import argparse
import sys
import time

from . import benchmark_common as B

MODELS = ("lung", "scratch", "pretrained")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m utils.benchmark_segmentation",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3, metavar="N",
                        help="training seeds per model (default: %(default)s; at least 2)")
    parser.add_argument("--models", default=",".join(MODELS),
                        help="comma-separated subset of lung,scratch,pretrained (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=42,
                        help="seed of the split and the first training seed (default: %(default)s)")
    parser.add_argument("--record", action="store_true",
                        help="merge the result into utils/recorded/unet_seed_repeats.json "
                             "(quick mode: unet_seed_repeats_quick.json)")
    args = parser.parse_args(argv)
    if args.seeds < 2:
        parser.error("--seeds needs at least 2 training seeds (an SD over one is undefined)")
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in MODELS]
    if unknown or not args.models:
        parser.error(f"unknown model(s) {unknown}; choose from {','.join(MODELS)}")
    return args


def seed_table(name: str, seeds, data, train_idx, test_idx, progress=print):
    """One row per training seed: ``training_seed``, the held-out figures of
    :func:`utils.segmentation.heldout_dice` and ``seconds`` (training and evaluation)."""
    import keras
    import pandas as pd

    from . import segmentation as S

    rows = []
    for train_seed in seeds:
        start, trained = time.perf_counter(), 0.0
        if name == "lung":   # kept on disk: utils.benchmark_covid trains the same U-Nets
            model, trained, loaded = S.seed_lung_unet(data, train_idx, seed=train_seed)
            trained = trained if loaded else 0.0
            row = S.heldout_eval(model, data, test_idx)[1]
        else:
            model, _, _ = S.fit_tumour_unet(name, data, train_idx, seed=train_seed)
            _, _, summary = S.tumour_summary(model, data, test_idx)
            row = {"mean_dice": float(summary["mean Dice (per image)"]),
                   "median_dice": float(summary["median Dice"]),
                   "pooled_dice": float(summary["Dice pooled over all pixels"])}
        row = {"training_seed": train_seed, **row,
               "seconds": time.perf_counter() - start + trained}
        rows.append(row)
        if progress is not None:
            progress(f"  seed {train_seed:>4}: mean Dice {B.fmt(row['mean_dice'])}, median "
                     f"{B.fmt(row['median_dice'])}, pooled {B.fmt(row['pooled_dice'])}, "
                     f"{row['seconds']:.0f} s")
        keras.backend.clear_session()
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    args = parse_args(argv)
    env, seeds = B.start("U-Net seed repeats", args.seed, args.seeds, split_seed=args.seed)
    from . import experiments as xp
    from . import segmentation as S

    print(f"training seeds {seeds}")
    entries, sets = {}, {}
    for name in args.models:
        recipe = S.unet_recipe(name)
        if name == "lung":
            data = S.load_lung_set(recipe["size"])
            train_idx, test_idx = S.lung_split(data.groups, seed=args.seed)
            files = data.table.loc[test_idx, "file"]
        else:
            if recipe["size"] not in sets:
                sets[recipe["size"]] = S.load_tumour_set(recipe["size"], verbose=False)
            data = sets[recipe["size"]]
            train_idx, test_idx = S.tumour_split(data, seed=args.seed)
            files = data.table.loc[test_idx, "image"]
        print(f"\n== {name}: {recipe}; train {len(train_idx)}, held-out {len(test_idx)} images")
        table = seed_table(name, seeds, data, train_idx, test_idx)
        entries[name] = xp.unet_seed_record_entry(name, table, env, files, len(train_idx),
                                                  args.seed)
        for metric in xp.UNET_METRICS:
            print(B.spread_line(metric, entries[name]["spread"][metric], 11))
    if {"scratch", "pretrained"} <= set(entries):
        record = {k: {**e, "mode": env["mode"]} for k, e in entries.items()}
        d = xp.seed_difference(record, "scratch", "pretrained", "mean_dice", xp.UNET_DESIGN)
        sd = max(record[k]["spread"]["mean_dice"]["sd"] for k in ("scratch", "pretrained"))
        print(f"\npretrained - scratch, held-out mean Dice, seed by seed: "
              f"{B.difference_line(d)}; it {xp.sign_verdict(d['per_seed'])}; the larger of "
              f"the two models' SD over seeds is {B.fmt(sd)}")
    if args.record:
        print(f"\nrecorded {xp.record_unet_seed_repeats(entries)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
