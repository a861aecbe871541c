"""`run_fn` of the demo's source model: a small CNN trained on digits 0-4 by the standard Trainer.

The demo pretrains this network in the same pipeline, so the base reaches BottleneckExtractor as
an upstream `Model` artifact, the way a team reuses a model from an earlier pipeline. It saves
`model.keras` (with its own Rescaling layer, so preprocessing 'none' fits) into the Trainer's
serving model dir, where the base-model resolver finds it.
"""

from __future__ import annotations

import os

import keras
import tensorflow as tf

from tfx_transfer.trainer.data import bottleneck_stream, datasets, labels, storage
from tfx_transfer.trainer.data import preprocessing as pp
from tfx_transfer.trainer.training import export

RUN_FN = "tfx_transfer.pipeline.demo.source_model.run_fn"
IMAGE_SIZE = 32
CUT_LAYER = "flatten"


def build_source_cnn(num_classes: int, seed: int = 0) -> keras.Model:
    """Conv-pool-conv-pool-flatten-dense: small enough to train in seconds on a CPU."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    x = keras.layers.Conv2D(16, 3, activation="relu", name="conv1")(x)
    x = keras.layers.MaxPooling2D(name="pool1")(x)
    x = keras.layers.Conv2D(32, 3, activation="relu", name="conv2")(x)
    x = keras.layers.MaxPooling2D(name="pool2")(x)
    x = keras.layers.Flatten(name=CUT_LAYER)(x)
    x = keras.layers.Dense(64, activation="relu", name="dense")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="classes")(x)
    return keras.Model(inputs, outputs, name="digits_source_cnn")


def run_fn(fn_args) -> None:
    """Trains the source CNN on the Trainer's train files and saves it as `model.keras`."""
    epochs = int((fn_args.custom_config or {}).get("epochs", 8))
    vocabulary = labels.LabelVocabulary.from_labels(bottleneck_stream.label_values(fn_args.train_files, "label"))
    config = pp.PreprocessingConfig(image_size=(IMAGE_SIZE, IMAGE_SIZE), mode="none")

    def dataset(files, shuffle: bool) -> tf.data.Dataset:
        return datasets.raw_image_dataset(files, "image", "label", vocabulary, config, 32, shuffle=shuffle, seed=0)

    model = build_source_cnn(vocabulary.num_classes)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(dataset(fn_args.train_files, True), validation_data=dataset(fn_args.eval_files, False), epochs=epochs, verbose=2)
    storage.save_keras_model(model, os.path.join(fn_args.serving_model_dir, export.KERAS_MODEL_FILE))
