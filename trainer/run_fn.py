"""`run_fn` for the standard TFX Trainer: transfer learning on raw image examples in one step.

Use it as `Trainer(module_file=None, run_fn='tfx_transfer.trainer.run_fn.run_fn', ...)` (or a
module file that imports it). It does in-process what BottleneckExtractor + FineTuner do as a
pipeline: build the feature extractor, compute the bottlenecks of the training and eval
examples once, train the head on them, optionally fine-tune the top of the base on the raw
images with augmentation, then export the serving SavedModel (`serving_default` and
`serving_raw`) to `fn_args.serving_model_dir` and the whole Keras model to
`serving_model_dir/model.keras`, which a downstream BottleneckExtractor can load and cut at any
base layer (the full model is flat: base layers, then a nested 'head'). Nothing from TFX is
imported: `fn_args` is used by attribute name only.

fn_args: `train_files`, `eval_files` (tf.Example with encoded image bytes and a label: bytes
names, or int64 indices written by a Transform vocabulary), `serving_model_dir`,
`model_run_dir` (history, curves, TensorBoard, strategy.json, backups), `custom_config`,
optionally `base_model` (an upstream Model artifact's directory) and `transform_output`.
`train_steps` / `eval_steps` are ignored: epochs and early stopping decide the length.

`custom_config` is the dict form of `run_config.RunConfig` (the keys are listed there), the same
object FineTuner is configured with. Exactly one base source: `keras_application`,
`model_uri`, or (with neither) `fn_args.base_model`.
"""

from __future__ import annotations

import dataclasses
import os

import keras

from tfx_transfer.trainer import base_model, data, labels as labels_lib, training, transfer
from tfx_transfer.trainer.run_config import RunConfig


def run_fn(fn_args) -> None:
    """Trains a transfer-learning classifier and exports it (see the module docstring)."""
    config = RunConfig.from_dict(fn_args.custom_config, getattr(fn_args, "base_model", None))
    run_dir = getattr(fn_args, "model_run_dir", None) or os.path.join(
        os.path.dirname(fn_args.serving_model_dir.rstrip("/")), "model_run"
    )
    with transfer.precision_policy():
        keras.utils.set_random_seed(config.train.seed)  # before any dataset or model is built
        with training.distribution_strategy().scope():
            extractor, pp_config = base_model.build_feature_extractor(config.source)
        vocabulary = transfer.label_vocabulary(
            config, fn_args.train_files, getattr(fn_args, "transform_output", None)
        )
        labels_lib.check_trainable_vocabulary(vocabulary)
        raw = transfer.RawExamples(fn_args.train_files, getattr(fn_args, "eval_files", None))
        scan, train_images, eval_images = transfer.image_datasets(raw, config, vocabulary, pp_config)
        x_train, y_train = data.extract_features(extractor, train_images)
        eval_arrays = data.extract_features(extractor, eval_images) if eval_images is not None else None
        transfer.fit_and_export(
            extractor, pp_config, vocabulary, transfer.Bottlenecks(x_train, y_train, eval_arrays),
            dataclasses.replace(raw, scan=scan), config, run_dir, fn_args.serving_model_dir,
        )
