"""Adaptation to unlabelled serving images, and the embedding drift check, on an offline shifted task.

The task, built from scikit-learn's bundled data (MNIST-M style, after Ganin & Lempitsky 2015):

* base: `recipe_parity`'s small CNN pretrained on plain digits 0-4, the user's own `.keras`;
* labelled (source) domain: plain digits 5-9, `--shots` (default 20) labels per class;
* serving (target) domain: the other images of 5-9, each blended onto a random 32x32 patch of
  scikit-learn's sample photos (the absolute difference, per channel, as MNIST-M is built);
  half of them are the unlabelled images the run is given, the other half the test set. The
  target labels are used for scoring only.

Per seed, `trainer.run_fn.run_fn` (the in-process FineTuner) runs on its defaults with
`adaptation` set to 'none', 'dann', 'mcc' and 'auto' (the default), and once more with
`strategy='fine_tune'` and no adaptation, for the cost comparison. Printed: target test
accuracy of each, the gains over 'none' with their spread over seeds, each run's seconds, and
the drift check on the chosen cut's bottlenecks, against the serving images (drift expected)
and against held-out plain digits (none expected).

    python bench/domain_adaptation.py [--seeds 0 1 2] [--shots 20] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import recipe_parity as parity  # noqa: E402  (same folder: the source CNN, records, quiet runs)

PATCH = 8 * parity.SCALE
RUNS = {
    "none": {"adaptation": "none"},
    "dann": {"adaptation": "dann"},
    "mcc": {"adaptation": "mcc"},
    "auto": {},
    "fine_tune": {"adaptation": "none", "strategy": "fine_tune"},
}


def blend(pixels, seed: int):
    """Each image's absolute difference with a random patch of a scikit-learn sample photo."""
    import numpy as np
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images
    rng = np.random.default_rng(seed)
    out = np.empty_like(pixels)
    for i, image in enumerate(pixels):
        photo = photos[rng.integers(len(photos))]
        y, x = rng.integers(0, photo.shape[0] - PATCH), rng.integers(0, photo.shape[1] - PATCH)
        out[i] = np.abs(photo[y:y + PATCH, x:x + PATCH].astype("float32") - image)
    return out


def _pngs(images):
    import numpy as np
    import tensorflow as tf

    return [tf.io.encode_png(image.astype(np.uint8)).numpy() for image in images]


def _drift(source_path: str, cut: str, train_images, others, seed: int):
    """The drift check of the labelled images' bottlenecks at `cut` against each of `others`."""
    from tfx_transfer.trainer.domain import drift

    base = parity._cut_base(source_path, cut)
    reference = base.predict(train_images, verbose=0)
    results = {}
    for name, images in others.items():
        start = time.perf_counter()
        result = drift.check_drift(reference, base.predict(images, verbose=0), seed=seed)
        results[name] = (result, time.perf_counter() - start)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--shots", type=int, default=20)
    parser.add_argument("--workdir", default="")
    args = parser.parse_args()
    started = time.perf_counter()

    import numpy as np

    workdir = args.workdir or tempfile.mkdtemp(prefix="bench_adaptation_")
    pngs, pixels, targets, _, source_path = parity.digits_and_source(workdir)
    print(f"source CNN: plain digits 0-4; task: plain digits 5-9, {args.shots} labels/class -> digits 5-9 blended "
          f"onto sample-photo patches; seeds {args.seeds}")

    accuracy = {name: [] for name in RUNS}
    seconds = {name: [] for name in RUNS}
    adapt_seconds = {name: [] for name in RUNS}
    drift_rows = []
    for seed in args.seeds:
        rng = np.random.default_rng(seed)
        labelled = np.sort(np.concatenate([rng.choice(np.flatnonzero(targets == d), args.shots, replace=False)
                                           for d in parity.TARGET_DIGITS]))
        rest = rng.permutation(np.setdiff1d(np.flatnonzero(np.isin(targets, parity.TARGET_DIGITS)), labelled))
        unlabelled, test = np.sort(rest[: len(rest) // 2]), np.sort(rest[len(rest) // 2:])
        blended = blend(pixels, 1000 + seed)
        seed_dir = os.path.join(workdir, f"seed_{seed}")
        os.makedirs(seed_dir, exist_ok=True)
        train_file = parity._records(os.path.join(seed_dir, "train.tfrecord.gz"), [pngs[i] for i in labelled],
                                     targets[labelled])
        unlabelled_file = parity._records(os.path.join(seed_dir, "unlabelled.tfrecord.gz"), _pngs(blended[unlabelled]),
                                          ["?"] * len(unlabelled))
        test_pngs = _pngs(blended[test])
        decisions = {}
        for name, extra in RUNS.items():
            value, decision, spent = parity.run_plugin(
                source_path, [train_file], test_pngs, targets[test], seed, os.path.join(seed_dir, name),
                {"unlabelled_files": [unlabelled_file], **extra})
            accuracy[name].append(value)
            seconds[name].append(spent)
            adapt_seconds[name].append((decision.get("adaptation") or {}).get("seconds") or 0.0)
            decisions[name] = decision
        adapted = decisions["auto"].get("adaptation") or {}
        print(f"  seed {seed}: cut {decisions['none']['cut_layer']}; target test " + ", ".join(
            f"{name} {100 * accuracy[name][-1]:.1f}% ({seconds[name][-1]:.0f} s)" for name in RUNS)
            + f"; auto adapted with {adapted.get('method')} (kept {adapted.get('kept')}); exported "
            + ", ".join(f"{name} {decisions[name]['exported']}" for name in ("none", "dann", "mcc", "auto")))
        held_out_plain = np.setdiff1d(np.flatnonzero(np.isin(targets, parity.TARGET_DIGITS)), labelled)
        checks = _drift(source_path, decisions["none"]["cut_layer"], pixels[labelled],
                        {"serving (blended)": blended[unlabelled], "held-out plain": pixels[held_out_plain]}, seed)
        for name, (result, spent) in checks.items():
            drift_rows.append((name, result.auc, result.p_value, result.drift, spent))
            print(f"    drift vs {name}: AUC {result.auc:.3f}, MMD² {result.mmd2:.4f}, p {result.p_value:.3f}, "
                  f"drift {result.drift} ({spent:.1f} s on {result.rows['reference']} + {result.rows['other']} rows)")

    print("\n== target (serving-domain) test accuracy, mean ± std over seeds")
    for name in RUNS:
        print(f"  {name:10s} {100 * np.mean(accuracy[name]):5.1f}% ± {100 * np.std(accuracy[name]):.1f}  per seed "
              f"[{' '.join(f'{100 * v:5.1f}' for v in accuracy[name])}]  run {np.mean(seconds[name]):.0f} s")
    for name in ("dann", "mcc", "auto"):
        gains = 100 * (np.array(accuracy[name]) - np.array(accuracy["none"]))
        print(f"  {name} - none = {gains.mean():+.1f} points ± {gains.std():.1f} (per seed "
              f"{' '.join(f'{g:+.1f}' for g in gains)}; target > 0)")
    tune_seconds = np.mean(seconds["fine_tune"])
    for name in ("dann", "mcc"):
        print(f"  cost: a run with {name} {np.mean(seconds[name]):.0f} s (adapting: {np.mean(adapt_seconds[name]):.1f} s) vs "
              f"a run that fine-tunes {tune_seconds:.0f} s: ratio {np.mean(seconds[name]) / tune_seconds:.2f} (target <= 2)")
    for name in ("serving (blended)", "held-out plain"):
        rows = [row for row in drift_rows if row[0] == name]
        print(f"  drift vs {name}: AUC {' '.join(f'{r[1]:.3f}' for r in rows)}; p {' '.join(f'{r[2]:.3f}' for r in rows)}; "
              f"flagged {sum(r[3] for r in rows)}/{len(rows)}")
    print(f"\nruntime {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
