"""The plugin on its defaults vs a hand-written Keras recipe, a CV probe and training from scratch.

Offline tasks from scikit-learn's bundled digits (8x8, upscaled to 32x32 RGB PNGs):

* source: a small CNN (Rescaling, Conv-Pool-Conv-Pool, Flatten 'flatten', Dense 'dense', Dense
  softmax) trained on every image of digits 0-4 and saved as `.keras`: the user's own base;
* `digits`: digits 5-9 with `--shots` (default 5) labels per class;
* `inverted`: digits 5-9 with their pixels inverted (a changed domain), 10 labels per class;
* `gate`: `inverted` with the cut forced at the source's `dense` layer (the layer feeding its
  classifier, the top of the base), whose features are the most specific to digits 0-4.

Per task and seed, the training images are drawn by the seed; every other image of 5-9 is the
test set, which nothing selects on (the plugin carves its validation rows from the training
images). Compared on the same test set:

* plugin: `trainer.run_fn.run_fn` (the in-process FineTuner: the same `transfer.fit_and_export`)
  with **defaults only** (`model_uri`, and the seed): every cut is extracted, the cut and the
  strategy are chosen on the training images, the no-transfer control gates the export;
* recipe: the Keras guide's recipe written by hand at a cut: the frozen base, Dropout(0.2), a
  Dense softmax, Adam 1e-3, 60 epochs, batch 16, plain `fit`; at the source's default cut
  (`dense`), at the cut the plugin chose (a combined cut: the same concatenated features), and
  at the single cut the plugin's candidates table ranks first;
* probe: a standardised logistic regression whose C is chosen by 5-fold cross-validation on the
  training images, at the plugin's cut and at every candidate, combined cut included (the best
  is an oracle: it peeks at the test set, so it is a ceiling, not a method);
* scratch: the source architecture trained from scratch on the same images (Adam 1e-3, 60
  epochs, batch 16).

    python bench/recipe_parity.py [--seeds 0 1 2 3 4] [--shots 5] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import tempfile
import time
import types

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SOURCE_DIGITS = (0, 1, 2, 3, 4)
TARGET_DIGITS = (5, 6, 7, 8, 9)
SCALE = 4  # 8x8 -> 32x32
SOURCE_EPOCHS = 5
DEFAULT_CUT = "dense"  # the layer feeding the source's classifier
RECIPE = {"epochs": 60, "batch_size": 16, "learning_rate": 1e-3, "dropout": 0.2}


def _quiet():
    return contextlib.redirect_stdout(io.StringIO())


def _cnn(num_classes: int, seed: int):
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8 * SCALE, 8 * SCALE, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    x = keras.layers.Conv2D(16, 3, activation="relu", name="conv_1")(x)
    x = keras.layers.MaxPooling2D(2, name="pool_1")(x)
    x = keras.layers.Conv2D(32, 3, activation="relu", name="conv_2")(x)
    x = keras.layers.MaxPooling2D(2, name="pool_2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(64, activation="relu", name=DEFAULT_CUT)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="logits")(x)
    return keras.Model(inputs, outputs, name="digits_cnn")


def _fit(model, x, y, seed: int) -> None:
    import keras

    keras.utils.set_random_seed(seed)
    model.compile(optimizer=keras.optimizers.Adam(RECIPE["learning_rate"]), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=RECIPE["epochs"], batch_size=RECIPE["batch_size"], verbose=0)


def _records(path: str, pngs, digits) -> str:
    import tensorflow as tf

    with tf.io.TFRecordWriter(path, "GZIP") as writer:
        for i, (png, digit) in enumerate(zip(pngs, digits)):
            example = tf.train.Example()
            example.features.feature["image"].bytes_list.value.append(png)
            example.features.feature["label"].bytes_list.value.append(str(digit).encode())
            example.features.feature["id"].bytes_list.value.append(f"img{i}".encode())
            writer.write(example.SerializeToString())
    return path


def _plugin(source_path: str, train_file: str, test_pngs, test_digits, seed: int, out_dir: str, cut=None):
    """The plugin on its defaults; returns (test accuracy, decision, seconds)."""
    return run_plugin(source_path, [train_file], test_pngs, test_digits, seed, out_dir, {"cut_layer": cut} if cut else {})


def run_plugin(source_path: str, train_files, test_pngs, test_digits, seed: int, out_dir: str, extra):
    """`run_fn` (the in-process FineTuner) with `model_uri`, the seed and the `extra` custom_config
    keys only; returns (test accuracy from its `serving_raw` signature, strategy.json, seconds)."""
    import numpy as np
    import tensorflow as tf

    from tfx_transfer.trainer import run_fn

    fn_args = types.SimpleNamespace(
        train_files=list(train_files), eval_files=[], serving_model_dir=os.path.join(out_dir, "serving"),
        model_run_dir=os.path.join(out_dir, "model_run"),
        custom_config={"model_uri": source_path, "train": {"seed": seed}, **extra},
    )
    start = time.perf_counter()
    with _quiet():
        run_fn.run_fn(fn_args)
    seconds = time.perf_counter() - start
    serving = tf.saved_model.load(fn_args.serving_model_dir).signatures["serving_raw"]
    names = serving(image_bytes=tf.constant(test_pngs))["class_names"].numpy()
    accuracy = float(np.mean([name.decode() == str(d) for name, d in zip(names, test_digits)]))
    with open(os.path.join(fn_args.model_run_dir, "strategy.json")) as f:
        return accuracy, json.load(f), seconds


def _cut_base(source_path: str, cut: str):
    """The frozen source cut at `cut`, spatial outputs average-pooled as the plugin pools them; a
    combined cut ('a+b') is its parts' pooled vectors side by side, as the plugin computes it."""
    import keras

    from tfx_transfer.trainer.base import cuts

    source = keras.saving.load_model(source_path, compile=False)
    outputs = []
    for part in cuts.cut_parts(cut, [layer.name for layer in source.layers]):
        output = source.get_layer(part).output
        if len(output.shape) == 4:
            output = keras.layers.GlobalAveragePooling2D()(output)
        outputs.append(output)
    base = keras.Model(source.inputs, outputs[0] if len(outputs) == 1 else keras.layers.Concatenate()(outputs))
    base.trainable = False
    return base


def _recipe(source_path: str, cut: str, x_train, y_train, x_test, y_test, seed: int) -> float:
    import keras

    keras.utils.set_random_seed(seed)
    base = _cut_base(source_path, cut)
    inputs = keras.Input(x_train.shape[1:])
    x = keras.layers.Dropout(RECIPE["dropout"])(base(inputs, training=False))
    model = keras.Model(inputs, keras.layers.Dense(len(TARGET_DIGITS), activation="softmax")(x))
    _fit(model, x_train, y_train, seed)
    return float(model.evaluate(x_test, y_test, verbose=0)[1])


def _probe(source_path: str, cut: str, x_train, y_train, x_test, y_test, seed: int) -> float:
    import numpy as np
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    base = _cut_base(source_path, cut)
    features = [np.asarray(base.predict(x, verbose=0)) for x in (x_train, x_test)]
    probe = make_pipeline(StandardScaler(), LogisticRegressionCV(Cs=10, cv=5, max_iter=2000, random_state=seed))
    probe.fit(features[0], y_train)
    return float(probe.score(features[1], y_test))


def _scratch(x_train, y_train, x_test, y_test, seed: int) -> float:
    model = _cnn(len(TARGET_DIGITS), seed)
    _fit(model, x_train, y_train, seed)
    return float(model.evaluate(x_test, y_test, verbose=0)[1])


def _control_test_accuracy(source_path: str, cut: str, x_train, y_train, x_test, y_test, seed: int) -> float:
    """The plugin's own no-transfer control on its defaults, retrained the way the run trained it
    (the better of the probe controls on the same plan), on the test set."""
    import numpy as np

    from tfx_transfer.trainer.base import base_model, cuts
    from tfx_transfer.trainer.base.base_source import BaseModelSource
    from tfx_transfer.trainer.selection import control, validation
    from tfx_transfer.trainer.training.head import HeadConfig

    extractor, _ = base_model.build_feature_extractor(BaseModelSource(model_uri=source_path, cut_layer=cut))
    architecture = cuts.cut_extractor(extractor, cut)
    plan = validation.make_plan(y_train, seed)
    kinds = control.choose_kinds(control.ControlConfig(), architecture.count_params())
    fronts = control.fronts(kinds, x_train.shape[1:], architecture, seed)
    values = np.asarray(control.one_pass(fronts, x_train.shape[1:]).predict(x_train, verbose=0))
    result = control.probe_controls(values, fronts, y_train, len(TARGET_DIGITS), plan, HeadConfig(), seed, time.perf_counter())
    return float(np.mean(result.model.predict(x_test, verbose=0).argmax(1) == y_test))


def _task_images(task: str, pixels, pngs):
    import numpy as np
    import tensorflow as tf

    if task == "digits":
        return pixels, pngs
    inverted = (255.0 - pixels).astype("float32")
    return inverted, [tf.io.encode_png(image.astype(np.uint8)).numpy() for image in inverted]


def _run_task(task, shots, cut, seeds, source_path, candidate_cuts, pixels, pngs, targets, workdir):
    import numpy as np

    images, task_pngs = _task_images(task, pixels, pngs)
    target_rows = np.flatnonzero(np.isin(targets, TARGET_DIGITS))
    rows = {name: [] for name in ("plugin", "recipe_default_cut", "recipe_plugin_cut", "recipe_best_single_cut",
                                  "probe_plugin_cut", "probe_best_cut", "scratch", "control_validation",
                                  "transfer_validation")}
    notes = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        train_rows = np.sort(np.concatenate([rng.choice(np.flatnonzero(targets == d), shots, replace=False)
                                             for d in TARGET_DIGITS]))
        test_rows = np.setdiff1d(target_rows, train_rows)
        seed_dir = os.path.join(workdir, f"{task}_{seed}")
        os.makedirs(seed_dir, exist_ok=True)
        train_file = _records(os.path.join(seed_dir, "train.tfrecord.gz"), [task_pngs[i] for i in train_rows], targets[train_rows])
        accuracy, decision, seconds = _plugin(
            source_path, train_file, [task_pngs[i] for i in test_rows], targets[test_rows], seed, seed_dir, cut)
        x_train, y_train = images[train_rows], targets[train_rows] - TARGET_DIGITS[0]
        x_test, y_test = images[test_rows], targets[test_rows] - TARGET_DIGITS[0]
        chosen = decision["cut_layer"]
        singles = [c for c in decision["candidates"] if not c.get("combined")]
        best_single = max(singles, key=lambda c: (c["probe_accuracy"] or 0, c["knn_accuracy"] or 0))["cut"]
        rows["plugin"].append(accuracy)
        rows["recipe_default_cut"].append(_recipe(source_path, DEFAULT_CUT, x_train, y_train, x_test, y_test, seed))
        rows["recipe_plugin_cut"].append(_recipe(source_path, chosen, x_train, y_train, x_test, y_test, seed))
        rows["recipe_best_single_cut"].append(
            _recipe(source_path, best_single, x_train, y_train, x_test, y_test, seed))
        probes = {c["cut"]: _probe(source_path, c["cut"], x_train, y_train, x_test, y_test, seed)
                  for c in decision["candidates"]}
        probes.update({c: _probe(source_path, c, x_train, y_train, x_test, y_test, seed)
                       for c in candidate_cuts if c not in probes})
        rows["probe_plugin_cut"].append(probes[chosen])
        rows["probe_best_cut"].append(max(probes.values()))
        rows["scratch"].append(_scratch(x_train, y_train, x_test, y_test, seed))
        if cut is not None:
            rows.setdefault("control_test", []).append(
                _control_test_accuracy(source_path, chosen, x_train, y_train, x_test, y_test, seed))
        control = decision.get("control") or {}
        rows["control_validation"].append(control.get("validation_accuracy") or float("nan"))
        rows["transfer_validation"].append(decision.get("transfer_accuracy") or float("nan"))
        best_probe = max(probes, key=probes.get)
        notes.append(
            f"seed {seed}: cut {chosen} (best single cut on the training data {best_single}; best probe cut on "
            f"test {best_probe}), exported {decision['exported']}, "
            f"strategy {decision['strategy']}; run {seconds:.1f} s: control ({control.get('kind')}) "
            f"{control.get('seconds', 0):.1f} s, the rest {seconds - control.get('seconds', 0):.1f} s; validation: transfer {decision.get('transfer_accuracy') or float('nan'):.3f} "
            f"vs control {control.get('validation_accuracy') or float('nan'):.3f}"
        )
        if task == "gate":
            notes.append(f"  why: {decision['reasons'][-1]}")
    return rows, notes


def digits_and_source(workdir: str):
    """(PNGs, pixels, digit labels) of scikit-learn's digits, and the source CNN trained on digits
    0-4 (the model and its `.keras` path under `workdir`): every task's starting point."""
    import numpy as np
    import tensorflow as tf
    from sklearn.datasets import load_digits

    from tfx_transfer.pipeline.demo.data import digit_png

    os.makedirs(workdir, exist_ok=True)
    digits = load_digits()
    pngs = [digit_png(image, SCALE) for image in digits.images]
    pixels = np.stack([tf.io.decode_png(png, channels=3).numpy() for png in pngs]).astype("float32")
    targets = digits.target
    source_rows = np.flatnonzero(np.isin(targets, SOURCE_DIGITS))
    source = _cnn(len(SOURCE_DIGITS), seed=0)
    source.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    source.fit(pixels[source_rows], targets[source_rows], epochs=SOURCE_EPOCHS, batch_size=32, verbose=0)
    source_path = os.path.join(workdir, "source_cnn.keras")
    source.save(source_path)
    return pngs, pixels, targets, source, source_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--shots", type=int, default=5, help="labels per class of the `digits` task")
    parser.add_argument("--tasks", nargs="+", default=["digits", "inverted", "gate"])
    parser.add_argument("--workdir", default="")
    args = parser.parse_args()
    started = time.perf_counter()

    import numpy as np

    from tfx_transfer.trainer.base import cuts

    workdir = args.workdir or tempfile.mkdtemp(prefix="bench_parity_")
    pngs, pixels, targets, source, source_path = digits_and_source(workdir)
    source_rows = np.flatnonzero(np.isin(targets, SOURCE_DIGITS))
    candidate_cuts = cuts.candidate_cuts(source)
    print(f"source CNN: digits 0-4, {len(source_rows)} images; default cut {cuts.default_cut(source)!r}; "
          f"'auto' candidates {list(candidate_cuts)}; seeds {args.seeds}")

    tasks = {"digits": ("digits", args.shots, None), "inverted": ("inverted", 10, None), "gate": ("inverted", 10, DEFAULT_CUT)}
    for name in args.tasks:
        task, shots, cut = tasks[name]
        rows, notes = _run_task(task if name != "gate" else "inverted", shots, cut, args.seeds, source_path,
                                candidate_cuts, pixels, pngs, targets, workdir)
        label = f"{name}: {task} 5-9, {shots} labels/class" + (f", cut forced at {cut!r}" if cut else ", defaults")
        print(f"\n== {label}")
        for note in notes:
            print(f"  {note}")
        for key, values in rows.items():
            print(f"  {key:22s} mean {100 * np.nanmean(values):5.1f}%  per seed [{' '.join(f'{100 * v:5.1f}' for v in values)}]")
        mean = {key: 100 * np.nanmean(values) for key, values in rows.items()}
        if cut is None:
            print(f"  plugin - recipe at the plugin's cut = {mean['plugin'] - mean['recipe_plugin_cut']:+.1f} points (target > 0)")
            print(f"  plugin - recipe at the best single cut = {mean['plugin'] - mean['recipe_best_single_cut']:+.1f} points "
                  "(the single cut the plugin's table ranks first; target > 0)")
            print(f"  plugin - probe at the plugin's cut  = {mean['plugin'] - mean['probe_plugin_cut']:+.1f} points (target >= -1)")
            print(f"  plugin - recipe at the default cut  = {mean['plugin'] - mean['recipe_default_cut']:+.1f} points (target > 0)")
            print(f"  plugin - scratch                    = {mean['plugin'] - mean['scratch']:+.1f} points (target > 0)")
            print(f"  plugin - best cut's probe (oracle)  = {mean['plugin'] - mean['probe_best_cut']:+.1f} points (target >= -1)")
        else:
            print(f"  pushed model - the run's control on test = {mean['plugin'] - mean['control_test']:+.1f} points "
                  "(the gate: the pushed model is not worse than the control, target >= 0)")
    print(f"\nruntime {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
