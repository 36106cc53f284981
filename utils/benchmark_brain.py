"""Benchmark of the brain tumour models under grouped, stratified K-fold cross-validation.

    python -m utils.benchmark_brain                          # paper and improved CNN
    python -m utils.benchmark_brain --models paper,improved,transfer,finetune
    DLBI_MODE=quick python -m utils.benchmark_brain          # 2 folds, 1-2 epochs, 64 px

Every model is evaluated on the same folds (stratified, grouped by near-duplicate group, seed
42) with the settings of :func:`utils.experiments.protocol`, which are also the settings of the
chapter *A CNN for brain tumours*.  Prints per-fold accuracy, AUC, sensitivity, specificity and
wall time, then the mean, SD (``ddof=1``) and t-based 95 % CI of each model (clipped to [0, 1]
for the rates, marked ``clipped``) and its pooled out-of-fold accuracy with a cluster bootstrap
interval over the near-duplicate groups; every pair of models is compared with the corrected
resampled t-test over the folds (Nadeau and Bengio: the folds' training sets overlap, so the
naive paired t-test is over-confident), a group bootstrap of the difference of their pooled
accuracies and, for comparison, McNemar's test (which treats the images as independent).
``--save NAME`` also writes ``_build/results/NAME.json``.

``--external`` instead trains each model once on all 253 images
(:func:`utils.experiments.fit_final`) and applies it to the development part of the external
set (300 tumour MRIs of other collections; 960 healthy IXI slices, axial, coronal and sagittal;
split once by :func:`utils.splits.split_external`, as chapter 13 splits it: external-test is
scored once, in chapter 13, never here): accuracy, AUC, sensitivity, specificity, Brier score
and ECE at the model's threshold, each with a 95 % cluster bootstrap interval (IXI subjects,
near-duplicate groups), then the sensitivity per tumour type and the specificity per view of
the healthy slices.  ``--external --record`` merges the figures into
``utils/recorded/brain_external_dev.json`` (labelled); chapter 13 shows the fine-tuned Lite0's
from there (:func:`utils.experiments.load_external_record`)::

    python -m utils.benchmark_brain --external --models finetune --record

Training-seed noise::

    python -m utils.benchmark_brain --seeds 3 --models paper,transfer --record

``--seeds N`` cross-validates each model on the same folds once per training seed (42, 142,
242, ...: :func:`utils.experiments.seed_repeats`; only initial weights, batch order and dropout
change) and reports, per model, the mean and SD over the seeds of the fold-mean metrics next to
the fold interval of the first seed's run, and per pair of models their difference seed by seed.
``--record`` merges the result into ``utils/recorded/brain_seed_repeats.json``, each model
labelled with the commit, date, mode and environment that produced it; chapters 08 and 09 read
it (:func:`utils.experiments.load_seed_record`, which refuses an entry whose settings are no
longer the protocol's).

``transfer`` is a frozen ImageNet EfficientNet-Lite0 (``utils.backbones``, offline weights) with
a small trained head: the offline stand-in for the paper's frozen ResNet50; ``finetune`` is the
same backbone with its top nine blocks fine-tuned (the transfer chapter's fine-tuned recipe;
there, the frozen backbone with the light head does as well within the intervals).
"""
from __future__ import annotations

import argparse
import sys
import time

from . import benchmark_common as B
from . import config


def _fmt_p(p: float) -> str:
    """A p-value with four decimals, or in scientific notation when it is below 0.0001."""
    return f"{p:.4f}" if p >= 1e-4 else f"{p:.1e}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m utils.benchmark_brain", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="paper,improved",
                        help="comma-separated subset of paper,improved,transfer,finetune (default: %(default)s)")
    parser.add_argument("--folds", type=int, default=None,
                        help="number of folds (default: 2 in quick mode, 5 in full mode)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the folds and models")
    parser.add_argument("--external", action="store_true",
                        help="train on all 253 images, report on the external set")
    parser.add_argument("--save", default=None, metavar="NAME",
                        help="also write _build/results/NAME.json")
    parser.add_argument("--seeds", type=int, default=None, metavar="N",
                        help="repeat each model over N training seeds on the same folds")
    parser.add_argument("--record", action="store_true",
                        help="with --seeds: merge the result into utils/recorded/brain_seed_repeats.json; "
                             "with --external: into utils/recorded/brain_external_dev.json")
    args = parser.parse_args(argv)
    if args.record and not (args.seeds or args.external):
        parser.error("--record needs --seeds N or --external")
    if args.seeds is not None and args.seeds < 2:
        parser.error("--seeds needs at least 2 training seeds (an SD over one is undefined)")

    from . import experiments as xp

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in xp.MODELS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {','.join(xp.MODELS)}")

    env, _ = B.start("brain tumour benchmark", args.seed, seed=args.seed)
    if args.external:
        return external(models, args.seed, args.save, env, record=args.record)
    if args.seeds:
        return _seed_repeats(models, args, env)
    results, summaries = {}, {}
    for name in models:
        settings = xp.protocol(name)
        folds = args.folds or settings["folds"]
        fit = settings["fit"]
        print(f"\n== {name}: {settings['size']} px{' (cropped to the head)' if settings['crop'] else ''}, "
              f"{folds} grouped folds, up to {fit['epochs']} epochs"
              f"{', early stopping on a grouped inner validation split' if fit.get('inner_val') else ''}")
        try:
            data = xp.load_for(settings)
            start = time.perf_counter()
            print(f"{'fold':>4} {'n_test':>6} {'epochs':>6} {'acc':>6} {'auc':>6} {'sens':>6} "
                  f"{'spec':>6} {'time s':>7}")

            def show(row):
                print(f"{row['fold']:>4} {row['n_test']:>6} {row['epochs']:>6} "
                      f"{B.fmt(row['accuracy']):>6} {B.fmt(row['auc']):>6} "
                      f"{B.fmt(row['sensitivity']):>6} {B.fmt(row['specificity']):>6} "
                      f"{row['seconds']:>7.1f}", flush=True)

            config.seed_everything(args.seed)
            res = xp.run_protocol(name, data=data, folds=folds, seed=args.seed, progress=show)
        except NotImplementedError as err:
            print(f"   skipped: {err}")
            continue
        total = time.perf_counter() - start
        s = xp.summarise(res.folds, columns=xp.METRICS + ("seconds",))
        summaries[name] = s
        pooled = xp.pooled_accuracy(res, data.y, data.groups)
        results[name] = {"settings": settings, "folds": res.folds, "summary": s,
                         "pooled": res.overall(data.y), "pooled_accuracy": pooled,
                         "total_seconds": total, "oof": res.oof, "fold_of": res.fold_of,
                         "result": res}
        labels, groups = data.y, data.groups
        for metric in xp.METRICS:
            r = s.loc[metric]
            print(f"  {metric:<11} mean {B.fmt(r['mean'])}  sd {B.fmt(r['sd'])}  "
                  f"95% CI of the mean [{B.fmt(r['ci_low'])}, {B.fmt(r['ci_high'])}]"
                  f"{' clipped' if r['ci_clipped'] else ''}")
        print(f"  pooled out-of-fold accuracy {pooled['accuracy']:.3f} ({pooled['correct']}/"
              f"{pooled['images']}), 95% {pooled['interval']} [{B.fmt(pooled['ci_low'])}, "
              f"{B.fmt(pooled['ci_high'])}]")
        print(f"  wall time   {s.loc['seconds', 'mean']:.1f} s per fold, {total:.0f} s in all "
              f"(data loading excluded)")

    if len(summaries) > 1:
        print("\n== summary (mean over folds)")
        print(f"{'model':<10} {'acc':>6} {'auc':>6} {'sens':>6} {'spec':>6} {'s/fold':>7}")
        for name, s in summaries.items():
            print(f"{name:<10} {B.fmt(s.loc['accuracy', 'mean']):>6} {B.fmt(s.loc['auc', 'mean']):>6} "
                  f"{B.fmt(s.loc['sensitivity', 'mean']):>6} {B.fmt(s.loc['specificity', 'mean']):>6} "
                  f"{s.loc['seconds', 'mean']:>7.1f}")
    names = list(results)
    comparisons = {}
    for i, a in enumerate(names):  # every pair of models was tested on the same folds
        for b in names[i + 1:]:
            c = xp.compare(results[b]["result"], results[a]["result"], labels, groups)
            t, pooled, mc = c["corrected t"], c["pooled"], c["mcnemar"]
            comparisons[f"{b} vs {a}"] = c
            print(f"\n{b} vs {a}: accuracy difference {t['mean_diff']:+.3f} over the folds "
                  f"(95% CI {t['ci_low']:+.3f} to {t['ci_high']:+.3f}), corrected resampled t-test "
                  f"p = {t['p']:.3f}; pooled {pooled['diff']:+.3f} (group bootstrap 95% CI "
                  f"{pooled['ci_low']:+.3f} to {pooled['ci_high']:+.3f}); "
                  f"McNemar (images as independent): {b} right & {a} wrong {mc['a_right_b_wrong']}, "
                  f"the reverse {mc['a_wrong_b_right']}, p = {_fmt_p(mc['p'])}")
    for r in results.values():
        r.pop("result")
    if comparisons:
        results["comparisons"] = comparisons
    if args.save:
        path = xp.save_results(args.save, results, environment=env)
        print(f"\nsaved {path}")
    return 0


def external(models, seed: int, save: str | None, env: dict, record: bool = False) -> int:
    """``--external``: each model trained on all 253 images, scored on **external-dev**.

    The external set is split once (:func:`utils.splits.split_external`, as chapter 13 splits
    it) and only its development part is scored here: external-test is looked at once, in
    chapter 13, for the recipe chosen on external-dev.  ``record`` merges each model's figures
    into :data:`utils.experiments.EXTERNAL_RECORD` (labelled), which chapter 13 reads for the
    models it cannot afford to train in the build."""
    from . import experiments as xp
    from .splits import split_external

    print(f"brain tumour benchmark, external-dev | mode {env['mode']} | seed {seed} | "
          f"{env['cpu_cores']} CPU cores, {env['accelerator']} | TF {env['tensorflow']}")
    results, loaded, entries = {}, {}, {}
    for name in models:
        settings = xp.protocol(name)
        key = (settings["size"], settings["crop"], settings.get("rgb", False))
        start = time.perf_counter()
        final = xp.fit_final(name, seed=seed)
        if key not in loaded:
            loaded[key] = xp.load_external_for(settings)
        ext = loaded[key]
        dev, _ = split_external(ext)
        prob = final.predict(ext.X[dev])
        part = ext.table.iloc[dev].reset_index(drop=True)
        table = xp.external_scores(ext.y[dev], prob, part, threshold=final.threshold)
        total = time.perf_counter() - start
        print(f"\n== {name}: given {final.n_images} images, fitted on {final.n_train} "
              f"({final.n_val} for early stopping), {final.epochs} epochs, {final.seconds:.0f} s; "
              f"external-dev: {int(ext.y[dev].sum())} tumours, "
              f"{int((ext.y[dev] == 0).sum())} healthy slices; threshold {final.threshold:.2f}")
        for score, r in table.iterrows():
            print(f"  {score:<24} {B.fmt(r['value'])}  95% CI [{B.fmt(r['ci_low'])}, "
                  f"{B.fmt(r['ci_high'])}]  n {int(r['n'])}")
        results[name] = {"settings": settings, "external_dev": table, "prob": prob,
                         "image_id": part["image_id"].to_numpy(),
                         "n_train": final.n_train, "epochs": final.epochs,
                         "threshold": final.threshold,
                         "train_seconds": final.seconds, "total_seconds": total}
        entries[name] = xp.external_record_entry(name, final, table, part["image_id"], env, seed)
    if len(results) > 1:
        print("\n== summary (external-dev, each model at its threshold)")
        cols = ("accuracy", "auc", "sensitivity", "specificity", "brier", "ece")
        print(f"{'model':<10} {'thresh':>6} " + " ".join(f"{c[:6]:>6}" for c in cols))
        for name, r in results.items():
            print(f"{name:<10} {B.fmt(r['threshold'], 2):>6} " +
                  " ".join(f"{B.fmt(r['external_dev'].loc[c, 'value']):>6}" for c in cols))
    if save:
        path = xp.save_results(save, results, environment=env)
        print(f"\nsaved {path}")
    if record:
        print(f"\nrecorded {xp.record_external(entries)}")
    return 0


def _seed_repeats(models, args, env) -> int:
    """``--seeds N``: every model over N training seeds on the same folds."""
    from . import experiments as xp

    seeds = xp.training_seeds(args.seeds, args.seed)
    print(f"training seeds {seeds}; folds drawn with seed {args.seed}")
    entries, record = {}, {}
    for name in models:
        settings = xp.protocol(name)
        folds = args.folds or settings["folds"]
        print(f"\n== {name}: {folds} grouped folds, {len(seeds)} training seeds")
        data = xp.load_for(settings)

        def show(train_seed, row):
            print(f"  seed {train_seed:>4} fold {row['fold']} acc {B.fmt(row['accuracy'])} "
                  f"auc {B.fmt(row['auc'])} epochs {row['epochs']} {row['seconds']:.1f} s", flush=True)

        table, runs = xp.seed_repeats(name, args.seeds, data=data, folds=folds, seed=args.seed,
                                      progress=show)
        entry = xp.seed_record_entry(name, table, runs, env, folds, args.seed)
        entries[name] = entry
        record[name] = {**entry, "mode": env["mode"]}
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        for metric in xp.METRICS + ("pooled_accuracy",):
            line = B.spread_line(metric, entry["spread"][metric])
            if metric in entry["fold_interval"]:
                fi = entry["fold_interval"][metric]
                line += (f"; first seed's fold mean {B.fmt(fi['mean'])}, 95% CI "
                         f"[{B.fmt(fi['ci_low'])}, {B.fmt(fi['ci_high'])}]")
            print(line)
    names = list(entries)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            d = xp.seed_difference(record, a, b)
            print(f"\n{b} - {a}, fold-mean accuracy, seed by seed: {B.difference_line(d)}")
    if args.record:
        print(f"\nrecorded {xp.record_seed_repeats(entries)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
