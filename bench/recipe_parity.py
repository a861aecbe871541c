"""Accuracy of the plugin's transfer learning vs the hand-written Keras recipe, on few labels.

Data: scikit-learn's bundled digits (no download), each 8x8 image upscaled to a 32x32 RGB PNG
(0..255) with `pipeline.demo_data.digit_png`.

* Source: a small CNN (Rescaling(1/255), Conv-Pool-Conv-Pool, Flatten named 'flatten', Dense,
  Dense(5 softmax)) trained on every image of digits 0-4, saved as `.keras`.
* Target: digits 5-9 with 5 labelled images per class (picked by the seed) for training. Of the
  other 5-9 images a fifth is the validation split (the plugin's eval split, which its
  EarlyStopping watches) and the rest is the test set every method is scored on, so no method
  selects its weights on the images it is scored on. The base is the source CNN cut at 'flatten'.

Compared, per seed and averaged over the seeds:

* FineTuner `feature_extraction`, `fine_tune` and `auto`: the plugin's in-process Trainer path
  (`trainer.run_fn.run_fn`, which builds the extractor with `base_model.build_feature_extractor`,
  computes the bottlenecks and calls the shared core `transfer.fit_and_export`, exactly what the
  FineTuner executor calls) on gzipped TFRecords of tf.Example (PNG bytes + label string). The
  exported SavedModel's `serving_raw` signature classifies the test images.
* recipe: the Keras guide's transfer-learning recipe written by hand: the frozen cut base,
  Dropout, a Dense softmax head; the same head, optimizer (Adam), learning rate, epochs, batch
  size and data as the plugin, and plain `fit` (no callbacks).
* scratch: the source CNN's architecture trained from scratch on the same 25 images.

The figure to compare is `gap = recipe_acc - feature_extraction_acc` in points (target: the
plugin's feature extraction within 1 point of the recipe, |gap| <= 1).

    python bench/recipe_parity.py [--seeds 0 1 2] [--epochs 30] [--workdir DIR]
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
SHOTS = 5  # labelled training images per target class
VALIDATION_SHARE = 5  # one in five held-out images validates, the rest is the test set
SCALE = 4  # 8x8 -> 32x32
SOURCE_EPOCHS = 5
CUT_LAYER = "flatten"
STRATEGIES = ("feature_extraction", "fine_tune", "auto")


def _quiet():
    """Keras' per-epoch lines (training.fit uses verbose=2) would drown the results."""
    return contextlib.redirect_stdout(io.StringIO())


def _cnn(num_classes: int, seed: int):
    """The source architecture; the scratch baseline is the same network, freshly initialised."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8 * SCALE, 8 * SCALE, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    x = keras.layers.Conv2D(16, 3, activation="relu", name="conv_1")(x)
    x = keras.layers.MaxPooling2D(2, name="pool_1")(x)
    x = keras.layers.Conv2D(32, 3, activation="relu", name="conv_2")(x)
    x = keras.layers.MaxPooling2D(2, name="pool_2")(x)
    x = keras.layers.Flatten(name=CUT_LAYER)(x)
    x = keras.layers.Dense(64, activation="relu", name="dense")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="logits")(x)
    return keras.Model(inputs, outputs, name="digits_cnn")


def _compile(model, learning_rate: float) -> None:
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


def _write_records(path: str, pngs, digits) -> str:
    import tensorflow as tf

    with tf.io.TFRecordWriter(path, "GZIP") as writer:
        for png, digit in zip(pngs, digits):
            example = tf.train.Example()
            example.features.feature["image"].bytes_list.value.append(png)
            example.features.feature["label"].bytes_list.value.append(str(digit).encode())
            writer.write(example.SerializeToString())
    return path


def _plugin_accuracy(strategy: str, source_path: str, train_file: str, eval_file: str, eval_pngs,
                     eval_digits, train_cfg: dict, head_cfg: dict, out_dir: str):
    """One run of the plugin's Trainer path; returns (accuracy, strategy chosen, epochs trained)."""
    import numpy as np
    import tensorflow as tf

    from tfx_transfer.trainer import run_fn

    fn_args = types.SimpleNamespace(
        train_files=[train_file],
        eval_files=[eval_file],
        serving_model_dir=os.path.join(out_dir, "serving_model"),
        model_run_dir=os.path.join(out_dir, "model_run"),
        custom_config={
            "model_uri": source_path,
            "cut_layer": CUT_LAYER,
            "strategy": strategy,
            "head": head_cfg,
            "train": train_cfg,
        },
    )
    with _quiet():
        run_fn.run_fn(fn_args)
    serving = tf.saved_model.load(fn_args.serving_model_dir).signatures["serving_raw"]
    names = serving(image_bytes=tf.constant(eval_pngs))["class_names"].numpy()
    accuracy = float(np.mean([name.decode() == str(d) for name, d in zip(names, eval_digits)]))
    with open(os.path.join(fn_args.model_run_dir, "strategy.json")) as f:
        chosen = json.load(f)["strategy"]
    with open(os.path.join(fn_args.model_run_dir, "history.json")) as f:
        history = json.load(f)
    # Epochs run, the epoch whose weights EarlyStopping restored (lowest val_loss) and the last
    # learning rate (ReduceLROnPlateau), per phase.
    epochs = {
        phase: f"{len(r['epoch'])} run, best {int(np.argmin(r['val_loss'])) + 1}, last lr {r['learning_rate'][-1]:.0e}"
        for phase, r in history.items()
    }
    return accuracy, chosen, epochs


def _recipe_accuracy(source_path: str, x_train, y_train, x_eval, y_eval, seed: int,
                     epochs: int, batch_size: int, learning_rate: float, dropout: float) -> float:
    """The Keras guide's recipe: frozen base (cut at 'flatten'), Dropout, Dense head, plain fit."""
    import keras

    keras.utils.set_random_seed(seed)
    source = keras.saving.load_model(source_path, compile=False)
    base = keras.Model(source.inputs, source.get_layer(CUT_LAYER).output)
    base.trainable = False
    inputs = keras.Input(x_train.shape[1:])
    x = base(inputs, training=False)
    x = keras.layers.Dropout(dropout)(x)
    outputs = keras.layers.Dense(len(TARGET_DIGITS), activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    _compile(model, learning_rate)
    model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, verbose=0)
    return float(model.evaluate(x_eval, y_eval, verbose=0)[1])


def _scratch_accuracy(x_train, y_train, x_eval, y_eval, seed: int, epochs: int, batch_size: int,
                      learning_rate: float) -> float:
    model = _cnn(len(TARGET_DIGITS), seed)
    _compile(model, learning_rate)
    model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, verbose=0)
    return float(model.evaluate(x_eval, y_eval, verbose=0)[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--workdir", default="")
    args = parser.parse_args()
    started = time.perf_counter()

    import numpy as np
    import tensorflow as tf
    from sklearn.datasets import load_digits

    from tfx_transfer.pipeline.demo_data import digit_png

    workdir = args.workdir or tempfile.mkdtemp(prefix="bench_parity_")
    os.makedirs(workdir, exist_ok=True)
    digits = load_digits()
    pngs = [digit_png(image, SCALE) for image in digits.images]
    pixels = np.stack([tf.io.decode_png(png, channels=3).numpy() for png in pngs]).astype("float32")
    targets = digits.target

    # Source model: all images of digits 0-4.
    source_rows = np.flatnonzero(np.isin(targets, SOURCE_DIGITS))
    source = _cnn(len(SOURCE_DIGITS), seed=0)
    _compile(source, 1e-3)
    source.fit(pixels[source_rows], targets[source_rows], epochs=SOURCE_EPOCHS, batch_size=32, verbose=0)
    source_acc = source.evaluate(pixels[source_rows], targets[source_rows], verbose=0)[1]
    source_path = os.path.join(workdir, "source_cnn.keras")
    source.save(source_path)

    # The plugin and the recipe share these settings; the plugin keeps its other defaults
    # (EarlyStopping/ReduceLROnPlateau on the validation split, fine-tuning at 1e-5).
    head_cfg = {"head_units": [], "dropout": 0.2}
    target_rows = np.flatnonzero(np.isin(targets, TARGET_DIGITS))
    results = {name: [] for name in (*STRATEGIES, "recipe", "scratch")}
    notes = []
    for seed in args.seeds:
        rng = np.random.default_rng(seed)
        train_rows = np.sort(np.concatenate([
            rng.choice(np.flatnonzero(targets == d), SHOTS, replace=False) for d in TARGET_DIGITS
        ]))
        held_out = np.setdiff1d(target_rows, train_rows)
        validation_rows = np.sort(rng.choice(held_out, len(held_out) // VALIDATION_SHARE, replace=False))
        eval_rows = np.setdiff1d(held_out, validation_rows)  # The test set, scored for every method.
        seed_dir = os.path.join(workdir, f"seed_{seed}")
        os.makedirs(seed_dir, exist_ok=True)
        train_file = _write_records(
            os.path.join(seed_dir, "train.tfrecord.gz"), [pngs[i] for i in train_rows], targets[train_rows])
        validation_file = _write_records(
            os.path.join(seed_dir, "validation.tfrecord.gz"), [pngs[i] for i in validation_rows],
            targets[validation_rows])
        train_cfg = {"epochs": args.epochs, "learning_rate": args.learning_rate,
                     "batch_size": args.batch_size, "seed": seed}
        for strategy in STRATEGIES:
            accuracy, chosen, epochs = _plugin_accuracy(
                strategy, source_path, train_file, validation_file, [pngs[i] for i in eval_rows],
                targets[eval_rows], train_cfg, head_cfg, os.path.join(seed_dir, strategy),
            )
            results[strategy].append(accuracy)
            notes.append(f"seed {seed} {strategy}: chose {chosen}; epochs {epochs}")
        x_train, y_train = pixels[train_rows], targets[train_rows] - TARGET_DIGITS[0]
        x_eval, y_eval = pixels[eval_rows], targets[eval_rows] - TARGET_DIGITS[0]
        results["recipe"].append(_recipe_accuracy(
            source_path, x_train, y_train, x_eval, y_eval, seed, args.epochs, args.batch_size,
            args.learning_rate, head_cfg["dropout"],
        ))
        results["scratch"].append(_scratch_accuracy(
            x_train, y_train, x_eval, y_eval, seed, args.epochs, args.batch_size, args.learning_rate,
        ))

    print(f"digits 32x32 RGB: source CNN on {len(source_rows)} images of 0-4 (train acc {source_acc:.3f}); "
          f"target 5-9 with {SHOTS} labels/class, validation {len(validation_rows)}, test {len(eval_rows)} images; "
          f"cut '{CUT_LAYER}'")
    print(f"shared: Adam lr={args.learning_rate} epochs={args.epochs} batch={args.batch_size} "
          f"head=Dropout({head_cfg['dropout']})+Dense(5); seeds={args.seeds}")
    for note in notes:
        print(f"  {note}")
    for name, values in results.items():
        label = f"FineTuner {name}" if name in STRATEGIES else name
        per_seed = " ".join(f"{100 * v:5.1f}" for v in values)
        print(f"{label:30s} mean {100 * np.mean(values):5.1f}%  per seed [{per_seed}]")
    gap = 100 * (np.mean(results["recipe"]) - np.mean(results["feature_extraction"]))
    print(f"runtime {time.perf_counter() - started:.0f} s")
    print(f"gap = recipe_acc - feature_extraction_acc = {gap:+.1f} points (target: |gap| <= 1)")


if __name__ == "__main__":
    main()
