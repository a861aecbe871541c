"""Suspect labels: does a run on its defaults find planted label errors, and at what cost?

Offline task from scikit-learn's bundled digits: the base is `recipe_parity`'s small CNN
pretrained on plain digits 0-4, the user's own `.keras`; the labelled images are `--shots`
(default 40) plain digits of each of 5-9, of which `--flip` (default 10 %) get a wrong label
(another of 5-9, at random). `trainer.run_fn.run_fn` (the in-process FineTuner) runs on its
defaults (`model_uri` and the seed only) and writes `suspect_labels.csv`; the bench compares
that list with the planted flips.

A second run per seed sets `drop_suspect_labels` (train again without the listed images).

Printed per seed and on average: how many flips the list found (recall), how many of the list
are flips (precision), the suspect step's time against the run's, and the test accuracy of the
plain run and of the run that dropped the suspects (the test images are every other plain
digit of 5-9, correctly labelled).
Done-when of issue 21: recall >= 0.8 at precision >= 0.6, averaged over 5 seeds; dropping the
suspects beats the plain run by >= 1 point.

At scale (`--scale-rows`, default 20,000; 0 skips it): synthetic bottlenecks (`--scale-dims`
512, 10 classes, 10 % flipped) timed side by side: the suspect step (5 out-of-fold probe fits
and cleanlab) against the head's own fit over the probe's C grid, as the run fits it.

    python bench/suspect_labels.py [--seeds 0 1 2 3 4] [--shots 40] [--flip 0.1] [--scale-rows 20000] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import recipe_parity as parity  # noqa: E402  (same folder: the source CNN, records, quiet runs)


def _flipped(targets, shots: int, flip: float, seed: int):
    """(labelled indices, their given digits, the positions whose label was flipped)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    labelled = np.sort(np.concatenate([rng.choice(np.flatnonzero(targets == d), shots, replace=False)
                                       for d in parity.TARGET_DIGITS]))
    given = targets[labelled].copy()
    flipped = np.sort(rng.choice(len(labelled), int(round(flip * len(labelled))), replace=False))
    for position in flipped:
        given[position] = rng.choice([d for d in parity.TARGET_DIGITS if d != given[position]])
    return labelled, given, flipped


def _at_scale(rows: int, dims: int, flip: float) -> None:
    """Times the suspect step against the probe head's fit on `rows` synthetic bottlenecks."""
    import numpy as np

    from tfx_transfer.trainer.labelling import suspect_labels
    from tfx_transfer.trainer.selection import probe

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, rows)
    centres = rng.normal(size=(10, dims))
    features = (centres[labels] + 2.0 * rng.normal(size=(rows, dims))).astype(np.float32)
    given = labels.copy()
    flipped = rng.choice(rows, int(flip * rows), replace=False)
    given[flipped] = (given[flipped] + 1 + rng.integers(0, 9, len(flipped))) % 10
    start = time.perf_counter()
    fits = list(probe.fit_path(features, given, probe.C_GRID, 0, 10))
    head_seconds = time.perf_counter() - start
    start = time.perf_counter()
    suspects = suspect_labels.find_suspects(given, suspect_labels.out_of_fold_probabilities(
        features, given, fits[-1].C, 0, 10))
    step = time.perf_counter() - start
    found = len(set(suspects.rows.tolist()) & set(flipped.tolist()))
    print(f"\n== at scale: {rows:,} synthetic rows x {dims} dims, 10 classes, {flip:.0%} flipped")
    print(f"  suspect step {step:.1f} s; the probe head's fit over C {probe.C_GRID}: {head_seconds:.1f} s; "
          f"ratio {step / head_seconds:.2f}; recall {found / len(flipped):.2f}, precision "
          f"{found / max(1, len(suspects.rows)):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--shots", type=int, default=40)
    parser.add_argument("--flip", type=float, default=0.1)
    parser.add_argument("--scale-rows", type=int, default=20000)
    parser.add_argument("--scale-dims", type=int, default=512)
    parser.add_argument("--workdir", default="")
    args = parser.parse_args()
    started = time.perf_counter()

    import numpy as np

    workdir = args.workdir or tempfile.mkdtemp(prefix="bench_suspects_")
    pngs, _, targets, _, source_path = parity.digits_and_source(workdir)
    test_digits_all = np.flatnonzero(np.isin(targets, parity.TARGET_DIGITS))
    recalls, precisions, shares, gains = [], [], [], []
    for seed in args.seeds:
        labelled, given, flipped = _flipped(targets, args.shots, args.flip, seed)
        seed_dir = os.path.join(workdir, f"seed_{seed}")
        os.makedirs(seed_dir, exist_ok=True)
        train_file = parity._records(os.path.join(seed_dir, "train.tfrecord.gz"), [pngs[i] for i in labelled], given)
        test = np.setdiff1d(test_digits_all, labelled)
        accuracy, decision, seconds = parity.run_plugin(source_path, [train_file], [pngs[i] for i in test], targets[test],
                                                        seed, os.path.join(seed_dir, "run"), {})
        with open(os.path.join(seed_dir, "run", "model_run", "suspect_labels.csv")) as f:
            listed = {int(row["id"][len("img"):]) for row in csv.DictReader(f)}
        found = listed & set(flipped.tolist())
        recall, precision = len(found) / len(flipped), (len(found) / len(listed) if listed else float("nan"))
        dropped_accuracy, dropped, _ = parity.run_plugin(source_path, [train_file], [pngs[i] for i in test], targets[test],
                                                         seed, os.path.join(seed_dir, "dropped"), {"drop_suspect_labels": True})
        gains.append(100 * (dropped_accuracy - accuracy))
        step = decision["suspect_labels"]["seconds"]
        recalls.append(recall)
        precisions.append(precision)
        shares.append(step / seconds)
        print(f"  seed {seed}: {len(labelled)} labelled, {len(flipped)} flipped; listed {len(listed)}, of them flips "
              f"{len(found)}: recall {recall:.2f}, precision {precision:.2f}; test accuracy {100 * accuracy:.1f}%, "
              f"{100 * dropped_accuracy:.1f}% with {dropped['suspect_labels']['dropped']} dropped; "
              f"suspect step {step:.1f} s of a {seconds:.0f} s run", flush=True)
    print(f"\n== {args.shots} labels/class, {args.flip:.0%} flipped, seeds {args.seeds}")
    print(f"  recall    {np.mean(recalls):.2f} ± {np.std(recalls):.2f} (target >= 0.8)")
    print(f"  precision {np.nanmean(precisions):.2f} ± {np.nanstd(precisions):.2f} (target >= 0.6)")
    print(f"  drop_suspect_labels - plain run: {np.mean(gains):+.1f} points ± {np.std(gains):.1f} (per seed "
          f"{' '.join(f'{g:+.1f}' for g in gains)}; target >= +1)")
    print(f"  cost: the suspect step is {100 * np.mean(shares):.1f} % of the run (target <= 10 % with label-next)")
    if args.scale_rows:
        _at_scale(args.scale_rows, args.scale_dims, args.flip)
    print(f"\nruntime {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
