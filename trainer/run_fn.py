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

custom_config keys (all optional unless noted):

  base model (exactly one source; see base_model.BaseModelSource):
    keras_application  e.g. 'MobileNetV2'       weights  'imagenet' | None | weights file path
    weights_sha256     pin of the weights file  model_uri .keras / .h5 file or SavedModel dir
    cut_layer          layer to cut the base at image_size int or [height, width]
    pooling            'avg' | 'max' | None     preprocessing  one of preprocessing.PREPROCESSING_MODES
    allow_unsafe_model bool (Lambda layers)     (without keras_application / model_uri:
                                                 fn_args.base_model)
  data:
    image_feature      default 'image'          label_feature  default 'label'
    max_image_pixels   header check limit       num_classes    checked against the vocabulary
    label_vocabulary_file  path of a vocabulary file (one name per line)
    label_vocabulary_name  a Transform vocabulary name, read from
                           transform_output/transform_fn/assets/<name>
    (neither: the sorted label values of the training data)
  training:
    head          {head_units, dropout, l2, label_smoothing}            -> head.HeadConfig
    train         {epochs, learning_rate, fine_tune_epochs, fine_tune_learning_rate,
                   batch_size, patience, seed, class_weight}            -> training.TrainConfig
    augmentation  {rotation, shear, zoom, width_shift, height_shift,
                   horizontal_flip, vertical_flip}                      -> AugmentationConfig
    strategy      'auto' (default) | 'feature_extraction' | 'fine_tune'
    unfreeze      int (top N layers) | layer name | fraction in (0, 1]; for 'fine_tune'
    strategy_thresholds  {min_examples_per_class, logme_threshold, top_fraction, deep_fraction}
    backup_dir    where BackupAndRestore keeps state (default model_run_dir/backup)
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Mapping, Optional

import keras

from tfx_transfer.trainer import augmentation as augmentation_lib
from tfx_transfer.trainer import base_model
from tfx_transfer.trainer import data
from tfx_transfer.trainer import head as head_lib
from tfx_transfer.trainer import labels as labels_lib
from tfx_transfer.trainer import preprocessing as pp
from tfx_transfer.trainer import strategy as strategy_lib
from tfx_transfer.trainer import training
from tfx_transfer.trainer import transfer


_SOURCE_KEYS = (
    "keras_application", "weights", "weights_sha256", "model_uri", "cut_layer", "image_size",
    "pooling", "preprocessing", "allow_unsafe_model",
)
_SECTION_CLASSES = {
    "head": head_lib.HeadConfig,
    "train": training.TrainConfig,
    "augmentation": augmentation_lib.AugmentationConfig,
}
_OTHER_KEYS = (
    "image_feature", "label_feature", "max_image_pixels", "num_classes", "label_vocabulary_file",
    "label_vocabulary_name", "strategy", "unfreeze", "strategy_thresholds", "backup_dir",
)
VALID_KEYS = tuple(sorted(_SOURCE_KEYS + tuple(_SECTION_CLASSES) + _OTHER_KEYS))
_THRESHOLD_KEYS = ("min_examples_per_class", "logme_threshold", "top_fraction", "deep_fraction")


class RunConfigError(ValueError):
    """A custom_config that run_fn cannot use."""


RunConfig = transfer.RunConfig
KERAS_MODEL_FILE = transfer.KERAS_MODEL_FILE


def _section(cls, values: Optional[Mapping[str, Any]], key: str):
    """Builds a config dataclass from a custom_config section, naming unknown fields."""
    values = dict(values or {})
    fields = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise RunConfigError(f"Unknown custom_config[{key!r}] keys {unknown}; valid keys are {fields}.")
    if key == "head" and "head_units" in values:
        values["head_units"] = tuple(values["head_units"])
    return cls(**values)


def parse_custom_config(custom_config: Any, base_model_dir: Optional[str] = None) -> RunConfig:
    """Checks custom_config (a dict or its JSON) and returns the parsed RunConfig."""
    config = json.loads(custom_config) if isinstance(custom_config, str) else dict(custom_config or {})
    unknown = sorted(set(config) - set(VALID_KEYS))
    if unknown:
        raise RunConfigError(f"Unknown custom_config keys {unknown}; valid keys are {list(VALID_KEYS)}.")
    base_model.check_source_choice(config.get("keras_application"), config.get("model_uri"), bool(base_model_dir))
    source_values = {k: config[k] for k in _SOURCE_KEYS if k in config}
    if source_values.get("image_size") is not None:
        source_values["image_size"] = pp.normalize_image_size(source_values["image_size"])
    if source_values.get("allow_unsafe_model") is not None:
        source_values["allow_unsafe_model"] = bool(source_values["allow_unsafe_model"])
    source = base_model.BaseModelSource(
        model_dir=None if config.get("keras_application") or config.get("model_uri") else base_model_dir,
        **source_values,
    )
    thresholds = dict(config.get("strategy_thresholds") or {})
    bad = sorted(set(thresholds) - set(_THRESHOLD_KEYS))
    if bad:
        raise RunConfigError(f"Unknown strategy_thresholds keys {bad}; valid keys are {list(_THRESHOLD_KEYS)}.")
    strategy_lib.check_strategy(config.get("strategy", strategy_lib.STRATEGY_AUTO))
    others = {k: config[k] for k in _OTHER_KEYS if k in config and k != "strategy_thresholds"}
    return RunConfig(
        source=source,
        strategy_thresholds=thresholds,
        **{key: _section(cls, config.get(key), key) for key, cls in _SECTION_CLASSES.items()},
        **others,
    )


def run_fn(fn_args) -> None:
    """Trains a transfer-learning classifier and exports it (see the module docstring)."""
    config = parse_custom_config(fn_args.custom_config, getattr(fn_args, "base_model", None))
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


