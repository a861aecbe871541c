"""Label next: do the run's picks, once labelled, beat random picks of the same size?

Offline tasks from scikit-learn's bundled digits (`semi_supervised.py`'s `digits10` and
`inverted10`: all ten digits, plain or inverted); the base is `recipe_parity`'s small CNN
pretrained on plain digits 0-4, the user's own `.keras`. Per task, labels per class (`--shots`,
default 5 and 20) and seed: `--pool` (default 1,000) unlabelled images, every other image the
test set.

1. `trainer.run_fn.run_fn` (the in-process FineTuner) runs on its defaults with the
   unlabelled images (`unlabelled_files`) and `label_budget` = `--budget` (default 50): its
   `label_next.csv` is the list.
2. The listed images get their held true labels and join the labelled ones; the run is
   repeated on its defaults, with the rest of the pool still unlabelled, as a user's next run
   would be (`--no-pool-in-reruns`: without unlabelled images).
3. The same with `--draws` (default 3) random picks of the same size from the pool; their
   mean is the reference.

Printed: test accuracy after each, the gain of the run's picks over the random mean, per seed
and averaged, and the method the run chose. Done-when of issue 21: >= +2 points at 5 labels
per class, never below random at 20.

    python bench/label_next.py [--tasks digits10 inverted10] [--shots 5 20] [--seeds 0 1 2 3 4] [--draws 3]
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import recipe_parity as parity  # noqa: E402  (same folder: the source CNN, records, quiet runs)
import semi_supervised as semi  # noqa: E402  (the tasks' splits and images)


def _listed(run_dir: str):
    """The positions in the unlabelled file of the images `label_next.csv` lists (ids 'img<i>')."""
    with open(os.path.join(run_dir, "model_run", "label_next.csv")) as f:
        return [int(row["id"][len("img"):]) for row in csv.DictReader(f)]


def _run_with(rows, task_data, seed: int, run_dir: str, pool=None) -> float:
    """Test accuracy of the run on the labelled images plus the pool's `rows`, truly labelled,
    and (when `pool` is given) the rest of `pool` unlabelled."""
    import numpy as np

    images, targets, labelled, test, source_path = task_data
    train = np.concatenate([labelled, rows])
    train_file = parity._records(os.path.join(run_dir + ".tfrecord.gz"), [images[i] for i in train], targets[train])
    extra = {}
    if pool is not None:
        rest = np.setdiff1d(pool, rows)
        extra = {"unlabelled_files": [parity._records(run_dir + ".pool.tfrecord.gz", [images[i] for i in rest], ["?"] * len(rest))]}
    accuracy, _, _ = parity.run_plugin(source_path, [train_file], [images[i] for i in test], targets[test], seed, run_dir, extra)
    return accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["digits10", "inverted10"], choices=["digits10", "inverted10"])
    parser.add_argument("--shots", type=int, nargs="+", default=[5, 20])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--pool", type=int, default=1000)
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--no-pool-in-reruns", dest="pool_in_reruns", action="store_false",
                        help="rerun without the rest of the pool as unlabelled images")
    parser.add_argument("--workdir", default="")
    args = parser.parse_args()
    started = time.perf_counter()

    import numpy as np

    workdir = args.workdir or tempfile.mkdtemp(prefix="bench_label_next_")
    pngs, pixels, targets, _, source_path = parity.digits_and_source(workdir)
    summary = []
    for task in args.tasks:
        images = semi._task_pngs(task, pixels, pngs)
        for shots in args.shots:
            gains, methods = [], []
            for seed in args.seeds:
                labelled, pool, test = semi._split(task, targets, shots, args.pool, seed)
                run_dir = os.path.join(workdir, task, f"shots_{shots}", f"seed_{seed}")
                os.makedirs(run_dir, exist_ok=True)
                train_file = parity._records(os.path.join(run_dir, "train.tfrecord.gz"), [images[i] for i in labelled],
                                             targets[labelled])
                pool_file = parity._records(os.path.join(run_dir, "pool.tfrecord.gz"), [images[i] for i in pool],
                                            ["?"] * len(pool))
                before, decision, _ = parity.run_plugin(
                    source_path, [train_file], [images[i] for i in test], targets[test], seed, os.path.join(run_dir, "first"),
                    {"unlabelled_files": [pool_file], "label_budget": args.budget})
                picks = pool[_listed(os.path.join(run_dir, "first"))]
                methods.append(decision["label_next"]["method"])
                task_data = (images, targets, labelled, test, source_path)
                rest = pool if args.pool_in_reruns else None
                picked = _run_with(picks, task_data, seed, os.path.join(run_dir, "picked"), rest)
                rng = np.random.default_rng(1000 + seed)
                random = [_run_with(rng.choice(pool, len(picks), replace=False), task_data, seed,
                                    os.path.join(run_dir, f"random_{draw}"), rest) for draw in range(args.draws)]
                gains.append(100 * (picked - np.mean(random)))
                print(f"  {task} {shots}/class seed {seed}: before {100 * before:.1f}%; +{len(picks)} picked "
                      f"({methods[-1]}) {100 * picked:.1f}%, +{len(picks)} random {100 * np.mean(random):.1f}% "
                      f"[{' '.join(f'{100 * r:.1f}' for r in random)}]; gain {gains[-1]:+.1f}", flush=True)
            summary.append((task, shots, gains, methods))
    print(f"\n== picks minus the mean of {args.draws} random picks, test accuracy points, seeds {args.seeds}")
    for task, shots, gains, methods in summary:
        target = ">= +2" if shots <= 5 else ">= 0"
        print(f"  {task:10s} {shots:2d}/class  {np.mean(gains):+.1f} ± {np.std(gains):.1f} (per seed "
              f"{' '.join(f'{g:+.1f}' for g in gains)}; {sorted(set(methods))}; target {target})")
    print(f"\nruntime {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
