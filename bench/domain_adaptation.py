"""Unlabelled images of a shifted serving domain: does a run with them beat the run without, and a
hand-written fine-tuning recipe that never sees a serving image?

Offline tasks from scikit-learn's bundled data; the base is `recipe_parity`'s small CNN
pretrained on plain digits 0-4, the user's own `.keras`; the labelled (source) images are plain
digits 5-9, `--shots` (default 20) labels per class; the serving (target) domain is every other
image of 5-9, changed by the task; half of those are the unlabelled images the run is given, the
other half the test set (target labels are used for scoring only):

* `blend`: each image blended onto a random 32x32 patch of scikit-learn's sample photos (the
  absolute difference, per channel, as MNIST-M is built);
* `rot30`: each image rotated by 30 degrees.

Per task and seed, on the same split:

* `without`: `trainer.run_fn.run_fn` (the in-process FineTuner) on its defaults (`model_uri` and
  the seed only), no unlabelled images;
* `auto`: the same with `unlabelled_files` (adaptation='auto', the default: on drift, the
  label-free choice among adapted candidates, served through the domain router);
* `recipe`: the hand-written source-only recipe that fine-tunes the base: the source CNN up to
  its `dense` layer, Dropout(0.2) and a Dense softmax; 30 epochs of the head (Adam 1e-3), then
  30 of every layer (Adam 1e-4), batch 16;
* `fine_tune`: run_fn with `strategy='fine_tune'` and no unlabelled images, for the cost ratio.

Printed: serving-domain test accuracy of each, the gains of `auto` over `without` and over
`recipe` with their spread, what `auto` chose and its label-free figures, the run times, and the
drift check against the serving images (drift expected) and held-out plain digits (none).
Done-when of issue 20: `auto` beats both references by >= 3 points on average on both tasks.

    python bench/domain_adaptation.py [--seeds 0 1 2] [--shots 20] [--tasks blend rot30] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import recipe_parity as parity  # noqa: E402  (same folder: the source CNN, records, quiet runs)

PATCH = 8 * parity.SCALE
RUNS = {"without": None, "auto": {}, "fine_tune": {"strategy": "fine_tune"}}
TASKS = ("blend", "rot30")
RECIPE_EPOCHS = (30, 30)  # head, then every layer
RECIPE_RATES = (1e-3, 1e-4)


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


def rotate(pixels, degrees: float = 30.0):
    """Each image rotated by `degrees` about its centre (bilinear, black corners)."""
    import numpy as np
    from scipy import ndimage

    return np.stack([ndimage.rotate(image, degrees, axes=(0, 1), reshape=False, order=1) for image in pixels])


def shifted_pixels(task: str, pixels, seed: int):
    """Every image changed as the serving domain of `task` looks."""
    return blend(pixels, 1000 + seed) if task == "blend" else rotate(pixels)


def fine_tune_recipe(source_path: str, x_train, y_train, x_test, y_test, seed: int) -> float:
    """The hand-written source-only recipe of the module docstring; its serving-domain test accuracy."""
    import keras

    keras.utils.set_random_seed(seed)
    source = keras.models.load_model(source_path)
    base = keras.Model(source.inputs, source.get_layer(parity.DEFAULT_CUT).output, name="base")
    inputs = keras.Input(x_train.shape[1:])
    x = keras.layers.Dropout(parity.RECIPE["dropout"])(base(inputs))
    model = keras.Model(inputs, keras.layers.Dense(len(parity.TARGET_DIGITS), activation="softmax", name="classes")(x))
    for trainable, epochs, rate in zip((False, True), RECIPE_EPOCHS, RECIPE_RATES):
        base.trainable = trainable
        model.compile(optimizer=keras.optimizers.Adam(rate), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x_train, y_train, epochs=epochs, batch_size=parity.RECIPE["batch_size"], verbose=0)
    return float(model.evaluate(x_test, y_test, verbose=0)[1])


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


def _split(targets, shots: int, seed: int):
    """(labelled plain images, unlabelled serving images, serving test images) indices for this seed."""
    import numpy as np

    rng = np.random.default_rng(seed)
    labelled = np.sort(np.concatenate([rng.choice(np.flatnonzero(targets == d), shots, replace=False)
                                       for d in parity.TARGET_DIGITS]))
    rest = rng.permutation(np.setdiff1d(np.flatnonzero(np.isin(targets, parity.TARGET_DIGITS)), labelled))
    return labelled, np.sort(rest[: len(rest) // 2]), np.sort(rest[len(rest) // 2:])


def _chosen(decision) -> str:
    """What `auto` did with the unlabelled images, in a few words."""
    adaptation = decision.get("adaptation") or {}
    rows = adaptation.get("candidates") or []
    snd = " ".join(f"{row['name'].replace('align+spread ', 'spread')}:{row['snd']:.3f}{'' if row['passes_floor'] else '(floor)'}"
                   for row in rows if row.get("snd") is not None)
    return f"{adaptation.get('method') or 'unadapted'} [SND {snd}]; exported {decision.get('exported')}"


def _run_task(task: str, args, pngs, pixels, targets, source_path: str, workdir: str):
    """Every run of `task` over the seeds: (accuracy per run, seconds per run, drift rows)."""
    import numpy as np

    accuracy = {name: [] for name in (*RUNS, "recipe")}
    seconds = {name: [] for name in RUNS}
    drift_rows = []
    for seed in args.seeds:
        labelled, unlabelled, test = _split(targets, args.shots, seed)
        serving = shifted_pixels(task, pixels, seed)
        seed_dir = os.path.join(workdir, task, f"seed_{seed}")
        os.makedirs(seed_dir, exist_ok=True)
        train_file = parity._records(os.path.join(seed_dir, "train.tfrecord.gz"), [pngs[i] for i in labelled],
                                     targets[labelled])
        unlabelled_file = parity._records(os.path.join(seed_dir, "unlabelled.tfrecord.gz"), _pngs(serving[unlabelled]),
                                          ["?"] * len(unlabelled))
        test_pngs = _pngs(serving[test])
        decisions = {}
        for name, extra in RUNS.items():
            more = (extra or {}) if name in ("without", "fine_tune") else {"unlabelled_files": [unlabelled_file], **extra}
            value, decision, spent = parity.run_plugin(source_path, [train_file], test_pngs, targets[test], seed,
                                                       os.path.join(seed_dir, name), more)
            accuracy[name].append(value)
            seconds[name].append(spent)
            decisions[name] = decision
        to_index = {d: i for i, d in enumerate(parity.TARGET_DIGITS)}
        with parity._quiet():
            accuracy["recipe"].append(fine_tune_recipe(
                source_path, pixels[labelled], np.array([to_index[d] for d in targets[labelled]]), serving[test],
                np.array([to_index[d] for d in targets[test]]), seed))
        print(f"  {task} seed {seed}: cut {decisions['auto']['cut_layer']}; serving test " + ", ".join(
            f"{name} {100 * accuracy[name][-1]:.1f}%" for name in accuracy) + f"; auto chose {_chosen(decisions['auto'])}; "
            + ", ".join(f"{name} {seconds[name][-1]:.0f} s" for name in RUNS), flush=True)
        held_out_plain = np.setdiff1d(np.flatnonzero(np.isin(targets, parity.TARGET_DIGITS)), labelled)
        checks = _drift(source_path, decisions["without"]["cut_layer"], pixels[labelled],
                        {"serving": serving[unlabelled], "held-out plain": pixels[held_out_plain]}, seed)
        for name, (result, _) in checks.items():
            drift_rows.append((name, result.auc, result.p_value, result.drift))
    return accuracy, seconds, drift_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--shots", type=int, default=20)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--workdir", default="")
    args = parser.parse_args()
    started = time.perf_counter()

    import numpy as np

    workdir = args.workdir or tempfile.mkdtemp(prefix="bench_adaptation_")
    pngs, pixels, targets, _, source_path = parity.digits_and_source(workdir)
    print(f"source CNN: plain digits 0-4; labelled: plain digits 5-9, {args.shots} labels/class; seeds {args.seeds}")
    results = {task: _run_task(task, args, pngs, pixels, targets, source_path, workdir) for task in args.tasks}
    print("\n== serving-domain test accuracy, mean ± std over seeds")
    for task, (accuracy, seconds, drift_rows) in results.items():
        for name, values in accuracy.items():
            print(f"  {task:6s} {name:10s} {100 * np.mean(values):5.1f}% ± {100 * np.std(values):.1f}  per seed "
                  f"[{' '.join(f'{100 * v:5.1f}' for v in values)}]")
        for reference in ("without", "recipe"):
            gains = 100 * (np.array(accuracy["auto"]) - np.array(accuracy[reference]))
            print(f"  {task:6s} auto - {reference} = {gains.mean():+.1f} points ± {gains.std():.1f} (per seed "
                  f"{' '.join(f'{g:+.1f}' for g in gains)}; target >= +3)")
        print(f"  {task:6s} cost: a run that adapts {np.mean(seconds['auto']):.0f} s, one that fine-tunes "
              f"without {np.mean(seconds['fine_tune']):.0f} s: ratio {np.mean(seconds['auto']) / np.mean(seconds['fine_tune']):.2f} "
              f"(target <= 3); without {np.mean(seconds['without']):.0f} s")
        for name in ("serving", "held-out plain"):
            rows = [row for row in drift_rows if row[0] == name]
            print(f"  {task:6s} drift vs {name}: AUC {' '.join(f'{r[1]:.3f}' for r in rows)}; flagged "
                  f"{sum(r[3] for r in rows)}/{len(rows)}")
    print(f"\nruntime {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
