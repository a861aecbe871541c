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
import logging
import os
from typing import Any, Mapping, Optional, Tuple

import keras
import tensorflow as tf

from tfx_transfer.trainer import augmentation as augmentation_lib
from tfx_transfer.trainer import base_model
from tfx_transfer.trainer import data
from tfx_transfer.trainer import export
from tfx_transfer.trainer import head as head_lib
from tfx_transfer.trainer import labels as labels_lib
from tfx_transfer.trainer import logme
from tfx_transfer.trainer import preprocessing as pp
from tfx_transfer.trainer import strategy as strategy_lib
from tfx_transfer.trainer import training

KERAS_MODEL_FILE = "model.keras"
TRANSFORM_ASSETS_DIR = os.path.join("transform_fn", "assets")

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


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """custom_config, parsed and checked (see the module docstring for the keys)."""

    source: base_model.BaseModelSource
    head: head_lib.HeadConfig
    train: training.TrainConfig
    augmentation: augmentation_lib.AugmentationConfig
    strategy: str = strategy_lib.STRATEGY_AUTO
    unfreeze: Optional[Any] = None
    strategy_thresholds: Mapping[str, float] = dataclasses.field(default_factory=dict)
    image_feature: str = "image"
    label_feature: str = "label"
    max_image_pixels: int = pp.DEFAULT_MAX_IMAGE_PIXELS
    num_classes: Optional[int] = None
    label_vocabulary_file: Optional[str] = None
    label_vocabulary_name: Optional[str] = None
    backup_dir: Optional[str] = None


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


def _vocabulary(config: RunConfig, train_files, transform_output: Optional[str]) -> labels_lib.LabelVocabulary:
    """The label vocabulary: a given file, a Transform vocabulary, or the training labels."""
    if config.label_vocabulary_file:
        return labels_lib.LabelVocabulary.from_vocabulary_file(config.label_vocabulary_file)
    if config.label_vocabulary_name:
        if not transform_output:
            raise RunConfigError(
                f"label_vocabulary_name={config.label_vocabulary_name!r} needs the Trainer's "
                "transform_graph input; or give label_vocabulary_file."
            )
        path = os.path.join(transform_output, TRANSFORM_ASSETS_DIR, config.label_vocabulary_name)
        return labels_lib.LabelVocabulary.from_vocabulary_file(path)
    values = data.label_values(train_files, config.label_feature)
    if data.label_kind(train_files, config.label_feature) == data.LABEL_KIND_INT64:
        # Int labels are class indices: name every index up to the largest one seen.
        return labels_lib.LabelVocabulary.from_labels(range(max(values) + 1))
    return labels_lib.LabelVocabulary.from_labels(values)


def _write_text(path: str, text: str) -> None:
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(text)


def _image_datasets(
    fn_args, config: RunConfig, vocabulary: labels_lib.LabelVocabulary, pp_config: pp.PreprocessingConfig
) -> Tuple[data.ScanResult, tf.data.Dataset, Optional[tf.data.Dataset]]:
    """The training scan and the unshuffled, unaugmented training and eval image datasets."""
    common = dict(
        image_feature=config.image_feature, label_feature=config.label_feature, vocabulary=vocabulary,
    )
    batching = dict(
        preprocessing_config=pp_config, batch_size=config.train.batch_size, shuffle=False,
        seed=config.train.seed, max_image_pixels=config.max_image_pixels,
    )
    train_scan = data.scan_raw_records(fn_args.train_files, max_image_pixels=config.max_image_pixels, **common)
    train_images = data.raw_image_dataset(fn_args.train_files, scan=train_scan, **common, **batching)
    eval_files = getattr(fn_args, "eval_files", None)
    eval_images = data.raw_image_dataset(eval_files, **common, **batching) if eval_files else None
    return train_scan, train_images, eval_images


def run_fn(fn_args) -> None:
    """Trains a transfer-learning classifier and exports it (see the module docstring)."""
    config = parse_custom_config(fn_args.custom_config, getattr(fn_args, "base_model", None))
    run_dir = getattr(fn_args, "model_run_dir", None) or os.path.join(
        os.path.dirname(fn_args.serving_model_dir.rstrip("/")), "model_run"
    )
    previous_policy = keras.mixed_precision.global_policy().name
    try:
        training.configure_mixed_precision()
        _train_and_export(fn_args, config, run_dir)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


def _train_and_export(fn_args, config: RunConfig, run_dir: str) -> None:
    keras.utils.set_random_seed(config.train.seed)  # before any dataset or model is built
    distribution = training.distribution_strategy()
    with distribution.scope():
        extractor, pp_config = base_model.build_feature_extractor(config.source)
    vocabulary = _vocabulary(config, fn_args.train_files, getattr(fn_args, "transform_output", None))
    labels_lib.check_trainable_vocabulary(vocabulary)
    num_classes = labels_lib.check_num_classes(config.num_classes, vocabulary)

    train_scan, train_images, eval_images = _image_datasets(fn_args, config, vocabulary, pp_config)
    x_train, y_train = data.extract_features(extractor, train_images)
    eval_arrays = data.extract_features(extractor, eval_images) if eval_images is not None else None

    decision = strategy_lib.requested_strategy(
        config.strategy,
        config.unfreeze,
        strategy_lib.examples_per_class(y_train, num_classes),
        logme.logme_score(x_train, y_train, num_classes),
        len(head_lib.base_layers(extractor)),
        base_model.is_fine_tunable(extractor),
        **config.strategy_thresholds,
    )
    logging.info("Training strategy: %s", decision.to_json())
    _write_text(os.path.join(run_dir, strategy_lib.STRATEGY_FILE), decision.to_json())

    train = config.train
    weights = head_lib.class_weights(y_train, num_classes) if train.class_weight else None
    backup_dir = config.backup_dir or os.path.join(run_dir, training.BACKUP_DIR)
    fit_args = dict(
        config=train, run_dir=run_dir, label_smoothing=config.head.label_smoothing,
        class_weight=weights, backup_dir=backup_dir,
    )
    with distribution.scope():
        head = head_lib.build_head(int(x_train.shape[1]), num_classes, config.head, train.seed)
        histories = {
            training.PHASE_HEAD: training.train_head(
                head,
                data.array_dataset(x_train, y_train, train.batch_size, shuffle=True, seed=train.seed),
                data.array_dataset(*eval_arrays, train.batch_size, shuffle=False, seed=None) if eval_arrays else None,
                **fit_args,
            )
        }
        full_model = head_lib.build_full_model(extractor, head)
    if decision.fine_tune and train.fine_tune_epochs > 0:
        augmentation = augmentation_lib.build_augmentation(config.augmentation, train.seed)
        augmented = data.raw_image_dataset(
            fn_args.train_files, config.image_feature, config.label_feature, vocabulary, pp_config,
            train.batch_size, shuffle=True, seed=train.seed, augmentation=augmentation,
            max_image_pixels=config.max_image_pixels, scan=train_scan,
        )
        with distribution.scope():
            histories[training.PHASE_FINE_TUNE] = training.fine_tune(
                full_model, augmented, eval_images, unfreeze_spec=decision.unfreeze, **fit_args
            )
    elif decision.fine_tune:
        logging.warning("Strategy chose fine-tuning but fine_tune_epochs=0; only the head was trained.")
    training.write_history(histories, run_dir)

    export.export_serving_model(
        full_model, pp_config, vocabulary.names, fn_args.serving_model_dir, config.image_feature
    )
    export.save_keras_model(full_model, os.path.join(fn_args.serving_model_dir, KERAS_MODEL_FILE))
