"""Unlabelled images of the same domain: does a run with them beat the run without, on defaults?

Offline tasks from scikit-learn's bundled digits (upscaled to 32x32 RGB PNGs); the base is
`recipe_parity`'s small CNN pretrained on plain digits 0-4, the user's own `.keras`:

* `digits10`: all ten digits, `--shots` (default 10) labels per class, `--pool` (default 1000)
  unlabelled images of the same digits, every other image the test set;
* `inverted10`: the same with every image inverted (labelled, unlabelled and test alike), a
  domain the base was not trained on, but one domain throughout;
* `no_shift`: digits 5-9, 10 labels per class, every other image of 5-9 split in half between
  the unlabelled images and the test set (fewer unlabelled images: ~440);
* `outliers`: digits 5-9, 10 labels per class, the unlabelled images are every digit 0-4 (other
  classes altogether); every other image of 5-9 is the test set.

Per task and seed, `trainer.run_fn.run_fn` (the in-process FineTuner) runs on its defaults
(`model_uri` and the seed only) without and with `unlabelled_files`. Nothing selects on the
test set: the run's validation rows come from the labelled images. Printed: test accuracy of
both, the gain with its spread over seeds, what the run chose, and the run times.

Done-when of issue 20: `digits10` and `inverted10` gain >= 1.5 points averaged over 5 seeds;
`no_shift` and `outliers` lose no more than 0.5; a run with semi-supervision costs <= 1.5x one
without (the run with unlabelled images also extracts their bottlenecks; both figures printed).

    python bench/semi_supervised.py [--seeds 0 1 2 3 4] [--tasks digits10 inverted10 no_shift outliers]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import recipe_parity as parity  # noqa: E402  (same folder: the source CNN, records, quiet runs)

ALL_DIGITS = tuple(range(10))
TASKS = ("digits10", "inverted10", "no_shift", "outliers")


def _split(task: str, targets, shots: int, pool: int, seed: int):
    """(labelled, unlabelled, test) indices of the task's images for this seed."""
    import numpy as np

    rng = np.random.default_rng(seed)
    classes = ALL_DIGITS if task in ("digits10", "inverted10") else parity.TARGET_DIGITS
    labelled = np.sort(np.concatenate([rng.choice(np.flatnonzero(targets == d), shots, replace=False) for d in classes]))
    rest = rng.permutation(np.setdiff1d(np.flatnonzero(np.isin(targets, classes)), labelled))
    if task == "outliers":
        return labelled, np.flatnonzero(np.isin(targets, parity.SOURCE_DIGITS)), np.sort(rest)
    cut = pool if task in ("digits10", "inverted10") else len(rest) // 2
    return labelled, np.sort(rest[:cut]), np.sort(rest[cut:])


def _task_pngs(task: str, pixels, pngs):
    import numpy as np
    import tensorflow as tf

    if task != "inverted10":
        return pngs
    return [tf.io.encode_png((255 - image).astype(np.uint8)).numpy() for image in pixels]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--shots", type=int, default=10)
    parser.add_argument("--pool", type=int, default=1000)
    parser.add_argument("--workdir", default="")
    args = parser.parse_args()
    started = time.perf_counter()

    import numpy as np

    workdir = args.workdir or tempfile.mkdtemp(prefix="bench_semi_")
    pngs, pixels, targets, _, source_path = parity.digits_and_source(workdir)
    summary = []
    for task in args.tasks:
        images = _task_pngs(task, pixels, pngs)
        accuracy, seconds, semi_seconds = {"without": [], "with": []}, {"without": [], "with": []}, []
        for seed in args.seeds:
            labelled, unlabelled, test = _split(task, targets, args.shots, args.pool, seed)
            seed_dir = os.path.join(workdir, task, f"seed_{seed}")
            os.makedirs(seed_dir, exist_ok=True)
            train_file = parity._records(os.path.join(seed_dir, "train.tfrecord.gz"), [images[i] for i in labelled],
                                         targets[labelled])
            unlabelled_file = parity._records(os.path.join(seed_dir, "unlabelled.tfrecord.gz"),
                                              [images[i] for i in unlabelled], ["?"] * len(unlabelled))
            test_pngs = [images[i] for i in test]
            chosen = {}
            for name, extra in (("without", {}), ("with", {"unlabelled_files": [unlabelled_file]})):
                value, decision, spent = parity.run_plugin(
                    source_path, [train_file], test_pngs, targets[test], seed, os.path.join(seed_dir, name), extra)
                accuracy[name].append(value)
                seconds[name].append(spent)
                chosen[name] = decision
            adaptation = chosen["with"].get("adaptation") or {}
            semi = adaptation.get("semi_supervised") or {}
            semi_seconds.append(semi.get("seconds") or adaptation.get("seconds") or 0.0)
            print(f"  {task} seed {seed}: {len(labelled)} labelled, {len(unlabelled)} unlabelled, {len(test)} test; "
                  f"cut {chosen['with']['cut_layer']}; without {100 * accuracy['without'][-1]:.1f}%, with "
                  f"{100 * accuracy['with'][-1]:.1f}%; drift {((adaptation.get('drift') or {}).get('drift'))}, "
                  f"method {adaptation.get('method')}, kept {adaptation.get('kept')}, setting {semi.get('setting')}, "
                  f"validation {semi.get('validation_accuracy')} vs {semi.get('labelled_only_validation_accuracy')}; "
                  f"exported {chosen['with']['exported']}; {seconds['without'][-1]:.0f} s vs {seconds['with'][-1]:.0f} s",
                  flush=True)
        gains = 100 * (np.array(accuracy["with"]) - np.array(accuracy["without"]))
        ratio = np.mean(seconds["with"]) / np.mean(seconds["without"])
        summary.append((task, accuracy, gains, ratio, np.mean(semi_seconds), np.mean(seconds["without"])))
    print(f"\n== test accuracy, mean over seeds {args.seeds}; gain = with - without unlabelled images")
    for task, accuracy, gains, ratio, semi, without in summary:
        target = "target >= +1.5" if task in ("digits10", "inverted10") else "target >= -0.5"
        print(f"  {task:10s} without {100 * np.mean(accuracy['without']):5.1f}%  with {100 * np.mean(accuracy['with']):5.1f}%"
              f"  gain {gains.mean():+.1f} ± {gains.std():.1f} points (per seed {' '.join(f'{g:+.1f}' for g in gains)}; "
              f"{target})")
        print(f"  {'':10s} cost: run with / without {ratio:.2f}x (target <= 1.5); the unlabelled-image step (semi-supervision or adaptation) {semi:.1f} s "
              f"of a {without:.0f} s run without")
    print(f"\nruntime {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
