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
`train_steps` / `eval_steps` are ignored. Everything that selects (the cut, the head's
regularisation, fine-tuning, the control) sees only `train_files`, as in FineTuner.

`custom_config` is the dict form of `run_config.RunConfig` (the keys are listed there), the same
object FineTuner is configured with, plus one key of run_fn's own: `unlabelled_files` (a file
pattern or list of them: tf.Example files of unlabelled images from the serving domain, which
the head adapts to under `adaptation`; their labels, if any, are ignored). Exactly one base source: `keras_application`,
`model_uri`, or (with neither) `fn_args.base_model`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Dict, Optional, Tuple

import keras
import numpy as np

from tfx_transfer.trainer import transfer
from tfx_transfer.trainer.base import base_model
from tfx_transfer.trainer.data import datasets, labels as labels_lib, raw_images, records
from tfx_transfer.trainer.run_config import RunConfig
from tfx_transfer.trainer.training import loop


def _training_data(extractor, pp_config, vocabulary, config: RunConfig, train_files) -> transfer.TrainingData:
    """Every cut's bottlenecks of the training examples, computed in-process, with their ids."""
    scan = records.scan_raw_records(train_files, config.image_feature, config.label_feature, vocabulary, config.max_image_pixels)
    images = datasets.raw_image_dataset(
        train_files, config.image_feature, config.label_feature, vocabulary, pp_config, config.train.batch_size,
        shuffle=False, seed=None, max_image_pixels=config.max_image_pixels, scan=scan,
    )
    features, labels = datasets.extract_features(extractor, images)
    # Rows line up with the scan's ids unless an image body failed to decode (then no id matches).
    ids = scan.ids if len(scan.ids) == len(labels) else np.array([f"row-{i}" for i in range(len(labels))], dtype=object)
    return transfer.TrainingData(features, labels, ids)


UNLABELLED_FILES_KEY = "unlabelled_files"


def _unlabelled_features(extractor, pp_config, config: RunConfig, files) -> Dict[str, Any]:
    """Every cut's bottlenecks of the unlabelled images and their ids (TrainingData's fields;
    none without any files)."""
    if not files:
        return {}
    images, scan = datasets.unlabelled_image_dataset(files, config.image_feature, pp_config, config.train.batch_size,
                                                 config.max_image_pixels)
    if scan.kept == 0:
        raise records.DataError(f"{UNLABELLED_FILES_KEY}={files!r} holds no usable image ({scan.total} record(s) read).")
    return {"unlabelled": datasets.extract_features(extractor, images)[0], "unlabelled_ids": scan.ids}


def _own_keys(custom_config: Any) -> Tuple[Dict[str, Any], Any]:
    """(the RunConfig keys, the `unlabelled_files` value) of `custom_config` (a dict or its JSON)."""
    values = json.loads(custom_config) if isinstance(custom_config, str) else dict(custom_config or {})
    return values, values.pop(UNLABELLED_FILES_KEY, None)


def run_fn(fn_args) -> None:
    """Trains a transfer-learning classifier and exports it (see the module docstring).

    Only `train_files` are trained and selected on; `eval_files` are the Evaluator's.
    """
    values, unlabelled_files = _own_keys(fn_args.custom_config)
    config = RunConfig.from_dict(values, getattr(fn_args, "base_model", None))
    run_dir = getattr(fn_args, "model_run_dir", None) or os.path.join(
        os.path.dirname(fn_args.serving_model_dir.rstrip("/")), "model_run"
    )
    with transfer.precision_policy():
        keras.utils.set_random_seed(config.train.seed)  # before any dataset or model is built
        with loop.distribution_strategy().scope():
            extractor, pp_config = base_model.build_feature_extractor(config.source)
        vocabulary = transfer.label_vocabulary(
            config, fn_args.train_files, getattr(fn_args, "transform_output", None)
        )
        labels_lib.check_trainable_vocabulary(vocabulary)
        training_data = dataclasses.replace(
            _training_data(extractor, pp_config, vocabulary, config, fn_args.train_files),
            **_unlabelled_features(extractor, pp_config, config, unlabelled_files),
        )
        transfer.fit_and_export(
            extractor, pp_config, vocabulary, training_data,
            raw_images.RawExamples(fn_args.train_files, unlabelled_files=unlabelled_files or None), config, run_dir,
            fn_args.serving_model_dir,
        )
