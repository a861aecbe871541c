"""Label next, which method at which label count: TypiClust against the least sure image of
each cluster, on cached bottlenecks.

`bench/label_next.py` reruns the whole FineTuner, a minute a run; this one compares the two
ranking methods of `trainer/labelling/label_next.py` on cached features, fast enough to sweep
label counts and cuts, and places `TYPICAL_BELOW_PER_CLASS`. Tasks as `label_next.py`'s
(`semi_supervised.py`'s `digits10` and `inverted10`); the base is `recipe_parity`'s source CNN,
cut at `--cuts` (default the combined cut the run chooses on these tasks, and `pool_1`, a weak
cut). Per task, cut, labels per class (`--shots`) and seed:

1. the run's probe (its standardisation, C chosen on its validation plan) on the labelled
   rows; the methods rank `--pool` unlabelled images with it, in its standardised space;
2. each method's top `--budget`, and `--draws` random picks of that size, get their held true
   labels; the probe is refitted as the run refits it with unlabelled images: C chosen again,
   labels spread to the rest of the pool (`semi_supervised`: standardised space, k = 10) and the
   agreeing rows added;
3. test accuracy on every other image.

Printed: points over the random mean, per seed and averaged, for both methods, before and
after the spreading refit.

    python bench/label_next_methods.py [--tasks digits10 inverted10] [--shots 1 2 5 20] [--cuts ...] [--seeds 0 1 2 3 4]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import recipe_parity as parity  # noqa: E402  (same folder: the source CNN and its cuts)
import semi_supervised as semi  # noqa: E402  (the tasks' splits)

COMBINED = "dense+flatten+pool_2+conv_2+pool_1+conv_1"
SPREAD_SETTING = ("standardized", 10)


def _probe(features, labels, num_classes: int, seed: int):
    """The run's probe on `features`: C chosen on its validation plan (1.0 when a class has one
    label and no plan can be made)."""
    from tfx_transfer.trainer.selection import probe, validation

    plan = validation.make_plan(labels, seed)
    C = probe.cross_validate(features, labels, num_classes, plan, seed)[0] if plan.usable else 1.0
    return probe.fit_probe(features, labels, C, seed, num_classes), C


def _accuracies(features, targets, rows, rest, test, seed: int):
    """Test accuracy (points) of the probe on `rows`, and of its refit with labels spread to `rest`
    (`semi_supervised.fit_spread_probe`, as the run refits it)."""
    import numpy as np

    from tfx_transfer.trainer.domain import semi_supervised as spreading

    num_classes = int(targets.max()) + 1
    fit, C = _probe(features[rows], targets[rows], num_classes, seed)
    refit = spreading.fit_spread_probe(features, targets, rows, features[rest], SPREAD_SETTING, C, seed, num_classes,
                                       labelled_only=fit)
    return [100 * float(np.mean(f.probabilities(features[test]).argmax(axis=1) == targets[test])) for f in (fit, refit)]


def _picks(features, targets, labelled, pool, budget: int, seed: int):
    """Each method's picks (positions in `pool`), ranked by the run's probe on the labelled rows."""
    import numpy as np

    from tfx_transfer.trainer.labelling import label_next
    from tfx_transfer.trainer.selection import probe

    fit, _ = _probe(features[labelled], targets[labelled], int(targets.max()) + 1, seed)
    mean, variance = probe.standardization(np.concatenate([features[labelled], features[pool]]))
    space = (features - mean) / np.sqrt(variance)
    return {
        label_next.METHOD_TYPICAL: label_next.typical_picks(space[labelled], space[pool], budget, seed)[0],
        label_next.METHOD_MARGIN: label_next.margin_picks(space[pool], fit.probabilities(features[pool]), budget, seed)[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["digits10", "inverted10"], choices=["digits10", "inverted10"])
    parser.add_argument("--shots", type=int, nargs="+", default=[1, 2, 5, 20])
    parser.add_argument("--cuts", nargs="+", default=[COMBINED, "pool_1"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--pool", type=int, default=1000)
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--draws", type=int, default=6)
    parser.add_argument("--workdir", default="")
    args = parser.parse_args()
    started = time.perf_counter()

    import numpy as np

    workdir = args.workdir or tempfile.mkdtemp(prefix="bench_label_next_methods_")
    _, pixels, targets, _, source_path = parity.digits_and_source(workdir)
    summary = []
    for task in args.tasks:
        images = pixels if task == "digits10" else 255.0 - pixels
        for cut in args.cuts:
            features = parity._cut_base(source_path, cut).predict(images, verbose=0).astype(np.float64)
            for shots in args.shots:
                gains = {}
                for seed in args.seeds:
                    labelled, pool, test = semi._split(task, targets, shots, args.pool, seed)
                    picks = _picks(features, targets, labelled, pool, args.budget, seed)
                    rng = np.random.default_rng(1000 + seed)
                    picks.update({f"random_{d}": rng.choice(len(pool), args.budget, replace=False) for d in range(args.draws)})
                    scores = {name: np.array(_accuracies(features, targets, np.concatenate([labelled, pool[p]]),
                                                         np.delete(pool, p), test, seed)) for name, p in picks.items()}
                    random = np.mean([s for name, s in scores.items() if name.startswith("random_")], axis=0)
                    line = []
                    for name in [n for n in scores if not n.startswith("random_")]:
                        gains.setdefault(name, []).append(scores[name] - random)
                        line.append(f"{name} {gains[name][-1][0]:+.1f} / {gains[name][-1][1]:+.1f}")
                    print(f"  {task} {cut} {shots}/class seed {seed}: random {random[0]:.1f} / {random[1]:.1f}; "
                          + "; ".join(line), flush=True)
                summary.append((task, cut, shots, gains))
    print(f"\n== points over the mean of {args.draws} random picks of {args.budget}, probe / probe refitted with "
          f"spread labels, seeds {args.seeds}")
    for task, cut, shots, gains in summary:
        said = "   ".join(f"{name} {np.mean([g[0] for g in v]):+.1f} / {np.mean([g[1] for g in v]):+.1f}"
                           for name, v in gains.items())
        print(f"  {task:10s} {cut[:12]:12s} {shots:2d}/class  {said}")
    print(f"\nruntime {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
