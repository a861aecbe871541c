"""One transfer-learning run on precomputed bottlenecks: strategy, head, fine-tuning, export.

Shared by the FineTuner executor (bottlenecks read from the BottleneckExtractor's artifact) and
the standard Trainer's `run_fn` (bottlenecks computed in-process), so both make the same
decision, train the same way and export the same serving contract.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from typing import Iterator, Optional, Tuple

import keras
import numpy as np
import tensorflow as tf

from tfx_transfer.trainer import augmentation as augmentation_lib
from tfx_transfer.trainer import base_model
from tfx_transfer.trainer import data, records
from tfx_transfer.trainer import export
from tfx_transfer.trainer import head as head_lib
from tfx_transfer.trainer import labels as labels_lib
from tfx_transfer.trainer import logme
from tfx_transfer.trainer import preprocessing as pp
from tfx_transfer.trainer import strategy as strategy_lib
from tfx_transfer.trainer import storage, training
from tfx_transfer.trainer.run_config import RunConfig

TRANSFORM_ASSETS_DIR = os.path.join("transform_fn", "assets")


@dataclasses.dataclass(frozen=True)
class Bottlenecks:
    """Training (and optionally eval) bottleneck features with their class indices."""

    x_train: np.ndarray
    y_train: np.ndarray
    eval: Optional[Tuple[np.ndarray, np.ndarray]] = None

    @property
    def feature_dim(self) -> int:
        return int(self.x_train.shape[1])


@dataclasses.dataclass(frozen=True)
class RawExamples:
    """Raw image example files, needed only to fine-tune; `scan` is reused when already done."""

    train_files: records.FilePattern
    eval_files: Optional[records.FilePattern] = None
    scan: Optional[records.ScanResult] = None


def label_vocabulary(
    config: RunConfig, train_files: records.FilePattern, transform_output: Optional[str]
) -> labels_lib.LabelVocabulary:
    """The label vocabulary: a given file, a Transform vocabulary, or the training labels."""
    if config.label_vocabulary_file:
        return labels_lib.LabelVocabulary.from_vocabulary_file(config.label_vocabulary_file)
    if config.label_vocabulary_name:
        if not transform_output:
            raise labels_lib.LabelError(
                f"label_vocabulary_name={config.label_vocabulary_name!r} needs the Trainer's "
                "transform_graph input; or give label_vocabulary_file."
            )
        path = os.path.join(transform_output, TRANSFORM_ASSETS_DIR, config.label_vocabulary_name)
        return labels_lib.LabelVocabulary.from_vocabulary_file(path)
    values = records.label_values(train_files, config.label_feature)
    if records.label_kind(train_files, config.label_feature) == records.LABEL_KIND_INT64:
        # Int labels are class indices: name every index up to the largest one seen.
        return labels_lib.LabelVocabulary.from_labels(range(max(values) + 1))
    return labels_lib.LabelVocabulary.from_labels(values)


@contextlib.contextmanager
def precision_policy() -> Iterator[str]:
    """mixed_float16 while a GPU is present, restoring the caller's policy afterwards."""
    previous = keras.mixed_precision.global_policy().name
    try:
        yield training.configure_mixed_precision()
    finally:
        keras.mixed_precision.set_global_policy(previous)


def image_datasets(
    raw: RawExamples, config: RunConfig, vocabulary: labels_lib.LabelVocabulary, pp_config: pp.PreprocessingConfig
) -> Tuple[records.ScanResult, tf.data.Dataset, Optional[tf.data.Dataset]]:
    """The training scan and the unshuffled, unaugmented training and eval image datasets."""
    common = dict(image_feature=config.image_feature, label_feature=config.label_feature, vocabulary=vocabulary)
    batching = dict(
        preprocessing_config=pp_config, batch_size=config.train.batch_size, shuffle=False,
        seed=config.train.seed, max_image_pixels=config.max_image_pixels,
    )
    scan = raw.scan or records.scan_raw_records(raw.train_files, max_image_pixels=config.max_image_pixels, **common)
    train_images = data.raw_image_dataset(raw.train_files, scan=scan, **common, **batching)
    eval_images = data.raw_image_dataset(raw.eval_files, **common, **batching) if raw.eval_files else None
    return scan, train_images, eval_images


def decide(
    config: RunConfig, bottlenecks: Bottlenecks, num_classes: int, extractor: keras.Model, can_fine_tune: bool
) -> strategy_lib.StrategyDecision:
    """The strategy: as requested, or for 'auto' from examples per class and LogME."""
    decision = strategy_lib.requested_strategy(
        config.strategy,
        config.unfreeze,
        strategy_lib.examples_per_class(bottlenecks.y_train, num_classes),
        logme.logme_score(bottlenecks.x_train, bottlenecks.y_train, num_classes),
        len(head_lib.base_layers(extractor)),
        can_fine_tune,
        config.strategy_thresholds,
    )
    logging.info("Training strategy: %s", decision.to_json())
    return decision


def fit_and_export(
    extractor: keras.Model,
    pp_config: pp.PreprocessingConfig,
    vocabulary: labels_lib.LabelVocabulary,
    bottlenecks: Bottlenecks,
    raw: Optional[RawExamples],
    config: RunConfig,
    run_dir: str,
    serving_model_dir: str,
) -> strategy_lib.StrategyDecision:
    """Decides the strategy, trains the head (and fine-tunes), writes model_run and the export.

    Writes `strategy.json`, `history.json`, `training_curves.png` and TensorBoard logs under
    `run_dir`; the serving SavedModel and `model.keras` under `serving_model_dir`. Without raw
    examples the run cannot fine-tune, and 'auto' says so in its reasons.
    """
    num_classes = labels_lib.check_num_classes(config.num_classes, vocabulary)
    can_fine_tune = base_model.is_fine_tunable(extractor) and raw is not None
    decision = decide(config, bottlenecks, num_classes, extractor, can_fine_tune)
    storage.write_text(os.path.join(run_dir, strategy_lib.STRATEGY_FILE), decision.to_json())

    train = config.train
    weights = head_lib.class_weights(bottlenecks.y_train, num_classes) if train.class_weight else None
    backup_dir = config.backup_dir or os.path.join(run_dir, training.BACKUP_DIR)
    fit_args = dict(
        config=train, run_dir=run_dir, label_smoothing=config.head.label_smoothing,
        class_weight=weights, backup_dir=backup_dir,
    )
    distribution = training.distribution_strategy()
    eval_ds = (
        data.array_dataset(*bottlenecks.eval, train.batch_size, shuffle=False, seed=None)
        if bottlenecks.eval is not None else None
    )
    with distribution.scope():
        head = head_lib.build_head(bottlenecks.feature_dim, num_classes, config.head, train.seed)
        histories = {
            training.PHASE_HEAD: training.train_head(
                head,
                data.array_dataset(bottlenecks.x_train, bottlenecks.y_train, train.batch_size, shuffle=True, seed=train.seed),
                eval_ds,
                **fit_args,
            )
        }
        full_model = head_lib.build_full_model(extractor, head)
    if decision.fine_tune and train.fine_tune_epochs > 0:
        scan, _, eval_images = image_datasets(raw, config, vocabulary, pp_config)
        augmented = data.raw_image_dataset(
            raw.train_files, config.image_feature, config.label_feature, vocabulary, pp_config,
            train.batch_size, shuffle=True, seed=train.seed,
            augmentation=augmentation_lib.build_augmentation(config.augmentation, train.seed),
            max_image_pixels=config.max_image_pixels, scan=scan,
        )
        with distribution.scope():
            histories[training.PHASE_FINE_TUNE] = training.fine_tune(
                full_model, augmented, eval_images, unfreeze_spec=decision.unfreeze, **fit_args
            )
    elif decision.fine_tune:
        logging.warning("Strategy chose fine-tuning but fine_tune_epochs=0; only the head was trained.")
    training.write_history(histories, run_dir)

    export.export_serving_model(full_model, pp_config, vocabulary.names, serving_model_dir, config.image_feature)
    export.save_keras_model(full_model, os.path.join(serving_model_dir, export.KERAS_MODEL_FILE))
    return decision
