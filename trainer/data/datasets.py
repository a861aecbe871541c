"""tf.data input pipelines of the FineTuner: bottlenecks in memory and raw image examples.

The checking pass of `records` decides which records are usable; these pipelines keep exactly
those, by zipping the records with the pass's keep flags. Raw images become model input only
through `preprocessing.preprocess_image_bytes`.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence, Tuple

import keras
import numpy as np
import tensorflow as tf

from tfx_transfer.trainer.common import checks
from tfx_transfer.trainer.data import preprocessing as pp
from tfx_transfer.trainer.data import records
from tfx_transfer.trainer.data.labels import LabelVocabulary
from tfx_transfer.trainer.data.records import DataError, FilePattern, ScanResult

DEFAULT_BOTTLENECK_SHUFFLE_BUFFER = 10_000
# Serialized raw examples are shuffled before decoding; images are large, so the buffer is small.
DEFAULT_RAW_SHUFFLE_BUFFER = 1_000


# ---------------------------------------------------------------------------------------------
# tf.data pipelines
# ---------------------------------------------------------------------------------------------


def _check_batch_size(batch_size: int) -> None:
    checks.check_int("batch_size", batch_size, 1, DataError)


def _kept_records(files: Sequence[str], keep: np.ndarray) -> tf.data.Dataset:
    """The serialized records whose keep flag is set, in file order."""
    serialized = records.record_dataset(files)
    if keep.all():
        return serialized
    flags = tf.data.Dataset.from_tensor_slices(keep)
    return tf.data.Dataset.zip((serialized, flags)).filter(lambda _, k: k).map(lambda r, _: r)


def _label_parser(
    kind: str, vocabulary: LabelVocabulary
) -> Tuple[tf.io.FixedLenFeature, Callable[[tf.Tensor], tf.Tensor]]:
    """The parse spec of the label and the function from parsed label to int64 class index."""
    if kind == records.LABEL_KIND_INT64:
        return tf.io.FixedLenFeature([], tf.int64), tf.identity
    table = vocabulary.lookup_table()
    return tf.io.FixedLenFeature([], tf.string), table.lookup


def _shuffled(
    dataset: tf.data.Dataset, shuffle: bool, seed: Optional[int], shuffle_buffer: int
) -> tf.data.Dataset:
    """A seeded shuffle when asked: a new order each epoch, the same orders for the same seed.

    TF combines `seed` with its global seed when the dataset is built, so for reproducible
    orders call `keras.utils.set_random_seed(seed)` before building the dataset.
    """
    if not shuffle:
        return dataset
    return dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)


def array_dataset(
    features: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    shuffle: bool,
    seed: Optional[int],
    shuffle_buffer: int = DEFAULT_BOTTLENECK_SHUFFLE_BUFFER,
) -> tf.data.Dataset:
    """(features float32 [B, D], label int64 [B]) batches of bottlenecks already in memory."""
    _check_batch_size(batch_size)
    dataset = tf.data.Dataset.from_tensor_slices(
        (features.astype(np.float32), labels.astype(np.int64))
    )
    dataset = _shuffled(dataset, shuffle, seed, shuffle_buffer).batch(batch_size)
    return dataset.prefetch(tf.data.AUTOTUNE)


def raw_image_dataset(
    file_pattern: FilePattern,
    image_feature: str,
    label_feature: str,
    vocabulary: LabelVocabulary,
    preprocessing_config: pp.PreprocessingConfig,
    batch_size: int,
    shuffle: bool,
    seed: Optional[int],
    augmentation: Optional[keras.Sequential] = None,
    max_image_pixels: int = pp.DEFAULT_MAX_IMAGE_PIXELS,
    shuffle_buffer: int = DEFAULT_RAW_SHUFFLE_BUFFER,
    scan: Optional[ScanResult] = None,
) -> tf.data.Dataset:
    """(images float32 [B, H, W, C], label int64 [B]) batches of the usable raw examples.

    Images go through `preprocess_image_bytes`; `augmentation` (pass it for training data only)
    runs on the preprocessed batches. Pass the `scan` of `records.scan_raw_records` when the caller has
    already run it (e.g. for class counts) to avoid a second pass. An image whose header looks
    fine but whose body does not decode is skipped with a logged warning (`ignore_errors`).
    """
    _check_batch_size(batch_size)
    files = records.list_files(file_pattern)
    if scan is None:
        scan = records.scan_raw_records(files, image_feature, label_feature, vocabulary, max_image_pixels)
    scan.log("raw image")
    label_spec, to_index = _label_parser(records.label_kind(files, label_feature), vocabulary)
    spec = {image_feature: tf.io.FixedLenFeature([], tf.string), label_feature: label_spec}

    def parse(serialized: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
        parsed = tf.io.parse_single_example(serialized, spec)
        image = pp.preprocess_image_bytes(parsed[image_feature], preprocessing_config)
        return image, to_index(parsed[label_feature])

    # Shuffle the small serialized records, not the decoded images.
    dataset = _shuffled(_kept_records(files, scan.keep), shuffle, seed, shuffle_buffer)
    dataset = dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.ignore_errors(log_warning=True).batch(batch_size)
    if augmentation is not None:
        dataset = dataset.map(
            lambda images, labels: (augmentation(images, training=True), labels),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    return dataset.prefetch(tf.data.AUTOTUNE)


def unlabelled_image_dataset(
    file_pattern: FilePattern, image_feature: str, preprocessing_config: pp.PreprocessingConfig, batch_size: int,
    max_image_pixels: int = pp.DEFAULT_MAX_IMAGE_PIXELS,
) -> Tuple[tf.data.Dataset, ScanResult]:
    """(images float32 [B, H, W, C] batches of the usable examples, labels ignored; the check's counts)."""
    _check_batch_size(batch_size)
    files = records.list_files(file_pattern)
    scan = records.scan_image_records(files, image_feature, max_image_pixels)
    scan.log("unlabelled image")
    spec = {image_feature: tf.io.FixedLenFeature([], tf.string)}
    dataset = _kept_records(files, scan.keep).map(
        lambda serialized: pp.preprocess_image_bytes(tf.io.parse_single_example(serialized, spec)[image_feature],
                                                     preprocessing_config),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True,
    )
    return dataset.ignore_errors(log_warning=True).batch(batch_size).prefetch(tf.data.AUTOTUNE), scan


def dataset_labels(dataset: tf.data.Dataset) -> np.ndarray:
    """Every label of a (features, label) dataset, in order."""
    batches = [labels.numpy() for _, labels in dataset]
    return np.concatenate(batches).astype(np.int64) if batches else np.zeros([0], np.int64)


def extract_features(extractor: keras.Model, dataset: tf.data.Dataset) -> Tuple[Dict[str, np.ndarray], np.ndarray]:
    """Runs a (frozen) multi-cut feature extractor over an (images, label) dataset: ({cut: X}, y).
    A dataset of images alone (unlabelled) gives y of -1s."""
    features: Dict[str, List[np.ndarray]] = {}
    labels: List[np.ndarray] = []
    for batch in dataset:
        images, batch_labels = batch if isinstance(batch, tuple) else (batch, None)
        for cut, values in extractor(images, training=False).items():
            features.setdefault(cut, []).append(np.asarray(values, dtype=np.float32))
        labels.append(batch_labels.numpy() if batch_labels is not None else np.full(len(images), -1))
    if not labels:
        raise DataError("The image dataset is empty: no usable records to extract features from.")
    return {cut: np.concatenate(values) for cut, values in features.items()}, np.concatenate(labels).astype(np.int64)
