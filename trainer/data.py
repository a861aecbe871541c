"""tf.data input pipelines of the FineTuner: bottleneck examples and raw image examples.

Both kinds are gzipped TFRecords of tf.train.Example. Records that cannot be used (no image, an
image whose header says it cannot be decoded, no label, a label outside the vocabulary, a
bottleneck of the wrong size) are never dropped silently: a first pass in Python (`scan_*`)
gives every record a reason or None, the reasons are counted and logged, and the tf.data
pipeline then keeps exactly the records that pass, by zipping the records with the pass's keep
flags. Raw images become model input only through `preprocessing.preprocess_image_bytes`.

Labels in the files are either bytes names (b'cat') or int64 class indices already written by a
Transform vocabulary; `label_kind` tells which from the first record that has a label.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import warnings
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import keras
import numpy as np
import tensorflow as tf

from tfx_transfer.trainer import preprocessing as pp
from tfx_transfer.trainer.labels import LabelValue, LabelVocabulary

FilePattern = Union[str, Sequence[str]]

LABEL_KIND_BYTES = "bytes"
LABEL_KIND_INT64 = "int64"
_FLOAT = "float"  # the third tf.train.Feature list kind, used by bottlenecks

# Reasons of this module, in addition to the image and label reasons of `preprocessing`.
REASON_UNPARSEABLE = "unparseable_example"
REASON_MULTIPLE_IMAGES = "multiple_images"
REASON_MULTIPLE_LABELS = "multiple_labels"
REASON_WRONG_LABEL_TYPE = "wrong_label_type"
REASON_UNKNOWN_LABEL = "unknown_label"
REASON_BAD_BOTTLENECK = "bad_bottleneck_size"

DEFAULT_BOTTLENECK_SHUFFLE_BUFFER = 10_000
# Serialized raw examples are shuffled before decoding; images are large, so the buffer is small.
DEFAULT_RAW_SHUFFLE_BUFFER = 1_000

_GZIP_MAGIC = b"\x1f\x8b"


class DataError(ValueError):
    """Input files or pipeline arguments that cannot be used."""


# ---------------------------------------------------------------------------------------------
# Files and records
# ---------------------------------------------------------------------------------------------


def list_files(file_pattern: FilePattern) -> List[str]:
    """The sorted files matching a glob pattern or a list of patterns (as TFX FnArgs give them)."""
    patterns = [file_pattern] if isinstance(file_pattern, str) else list(file_pattern)
    files = sorted({path for pattern in patterns for path in tf.io.gfile.glob(pattern)})
    if not files:
        raise DataError(f"No files match {file_pattern!r}; give a glob such as 'dir/Split-train/*.gz'.")
    return files


def _compression(path: str) -> str:
    with tf.io.gfile.GFile(path, "rb") as f:
        return "GZIP" if f.read(2) == _GZIP_MAGIC else ""


def record_dataset(files: Sequence[str]) -> tf.data.Dataset:
    """Serialized records of `files` in order; gzip is detected from the first file's bytes."""
    kinds = {path: _compression(path) for path in files}
    if len(set(kinds.values())) > 1:
        raise DataError(
            f"Files mix gzipped and uncompressed TFRecords: {kinds}; valid inputs use one of them."
        )
    return tf.data.TFRecordDataset(list(files), compression_type=kinds[files[0]])


def parse_example(serialized: bytes) -> Optional[tf.train.Example]:
    """The parsed tf.Example, or None for bytes that are not one.

    Some malformed bytes make protobuf only warn and return a partial message; those count as
    unparseable too.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return tf.train.Example.FromString(serialized)
        except Exception:  # pylint: disable=broad-except  # DecodeError, RuntimeWarning, ...
            return None


def _iter_examples(files: Sequence[str]) -> Iterator[Optional[tf.train.Example]]:
    """Every record as an Example, or None where the bytes are not an Example."""
    for serialized in record_dataset(files).as_numpy_iterator():
        yield parse_example(serialized)


def _values(example: tf.train.Example, name: str, kind: str) -> Sequence:
    if name not in example.features.feature:
        return ()
    feature = example.features.feature[name]
    return {
        LABEL_KIND_BYTES: feature.bytes_list.value,
        LABEL_KIND_INT64: feature.int64_list.value,
        _FLOAT: feature.float_list.value,
    }[kind]


def label_kind(file_pattern: FilePattern, label_feature: str) -> str:
    """'bytes' or 'int64': the type of `label_feature` in the first record that has it."""
    for example in _iter_examples(list_files(file_pattern)):
        if example is None:
            continue
        for kind in (LABEL_KIND_BYTES, LABEL_KIND_INT64):
            if _values(example, label_feature, kind):
                return kind
        if _values(example, label_feature, _FLOAT):
            raise DataError(
                f"Label feature {label_feature!r} holds floats; valid label types are bytes names "
                "or int64 class indices."
            )
    raise DataError(
        f"No record in {file_pattern!r} has the label feature {label_feature!r}; check "
        "label_feature (valid: the name of a bytes or int64 feature of the examples)."
    )


def label_values(file_pattern: FilePattern, label_feature: str) -> List[LabelValue]:
    """Every label value in the files (bytes or int), to build a vocabulary from the data."""
    kind = label_kind(file_pattern, label_feature)
    found: List[LabelValue] = []
    for example in _iter_examples(list_files(file_pattern)):
        values = _values(example, label_feature, kind) if example is not None else ()
        if len(values) == 1:
            found.append(values[0])
    return found


# ---------------------------------------------------------------------------------------------
# The checking pass
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class ScanResult:
    """The outcome of the checking pass over a set of files.

    keep: one flag per record, in file order. labels: the class index of every kept record.
    reasons: how many records were set aside, by reason.
    """

    keep: np.ndarray
    labels: np.ndarray
    reasons: Dict[str, int]

    @property
    def total(self) -> int:
        return int(self.keep.size)

    @property
    def kept(self) -> int:
        return int(self.keep.sum())

    def log(self, what: str) -> None:
        """Warns with the counts by reason when any record was set aside."""
        if self.reasons:
            logging.warning(
                "Skipped %d of %d %s records, by reason: %s",
                self.total - self.kept, self.total, what, dict(sorted(self.reasons.items())),
            )
        else:
            logging.info("All %d %s records are usable.", self.total, what)


# A record check returns the reason a parsed Example cannot be used, or None.
RecordCheck = Callable[[tf.train.Example], Optional[str]]


def _label_index(
    example: tf.train.Example, label_feature: str, kind: str, vocabulary: LabelVocabulary
) -> Tuple[int, Optional[str]]:
    """(class index, None) for a usable label, else (-1, reason). Int labels are indices."""
    values = _values(example, label_feature, kind)
    if not values:
        other = LABEL_KIND_INT64 if kind == LABEL_KIND_BYTES else LABEL_KIND_BYTES
        present = _values(example, label_feature, other) or _values(example, label_feature, _FLOAT)
        return -1, (REASON_WRONG_LABEL_TYPE if present else pp.REASON_MISSING_LABEL)
    if len(values) > 1:
        return -1, REASON_MULTIPLE_LABELS
    if kind == LABEL_KIND_BYTES:
        index = vocabulary.find(values[0])
    else:
        index = values[0] if 0 <= values[0] < vocabulary.num_classes else -1
    return (index, None) if index >= 0 else (-1, REASON_UNKNOWN_LABEL)


def _checked_examples(
    files: Sequence[str], label_feature: str, vocabulary: LabelVocabulary, check: RecordCheck
) -> Iterator[Tuple[Optional[tf.train.Example], int, Optional[str]]]:
    """(example, class index, reason) per record in file order; reason None means usable."""
    kind = label_kind(files, label_feature)
    for example in _iter_examples(files):
        if example is None:
            yield None, -1, REASON_UNPARSEABLE
            continue
        reason = check(example)
        if reason:
            yield example, -1, reason
            continue
        index, reason = _label_index(example, label_feature, kind, vocabulary)
        yield example, index, reason


def _summarize(checked: Iterator[Tuple[object, int, Optional[str]]], on_kept=None) -> ScanResult:
    """Counts the reasons of a checking pass; `on_kept(example)` sees every usable Example."""
    keep: List[bool] = []
    labels: List[int] = []
    reasons: Dict[str, int] = collections.Counter()
    for example, index, reason in checked:
        keep.append(reason is None)
        if reason is None:
            labels.append(index)
            if on_kept is not None:
                on_kept(example)
        else:
            reasons[reason] += 1
    return ScanResult(np.array(keep, dtype=bool), np.array(labels, dtype=np.int64), dict(reasons))


def _image_check(image_feature: str, max_image_pixels: int) -> RecordCheck:
    def check(example: tf.train.Example) -> Optional[str]:
        images = _values(example, image_feature, LABEL_KIND_BYTES)
        if len(images) > 1:
            return REASON_MULTIPLE_IMAGES
        return pp.inspect_image_bytes(images[0] if images else None, max_image_pixels)

    return check


def _bottleneck_check(feature_dim: int) -> RecordCheck:
    def check(example: tf.train.Example) -> Optional[str]:
        if len(_values(example, pp.BOTTLENECK_FEATURE, _FLOAT)) != feature_dim:
            return REASON_BAD_BOTTLENECK
        return None

    return check


def scan_raw_records(
    file_pattern: FilePattern,
    image_feature: str,
    label_feature: str,
    vocabulary: LabelVocabulary,
    max_image_pixels: int = pp.DEFAULT_MAX_IMAGE_PIXELS,
) -> ScanResult:
    """Checks every raw example's image header (`inspect_image_bytes`) and label."""
    files = list_files(file_pattern)
    return _summarize(
        _checked_examples(files, label_feature, vocabulary, _image_check(image_feature, max_image_pixels))
    )


def bottleneck_dim(file_pattern: FilePattern) -> int:
    """The length of the `bottleneck` feature of the first record that has one."""
    for example in _iter_examples(list_files(file_pattern)):
        values = _values(example, pp.BOTTLENECK_FEATURE, _FLOAT) if example is not None else ()
        if values:
            return len(values)
    raise DataError(
        f"No record in {file_pattern!r} has a {pp.BOTTLENECK_FEATURE!r} float feature; are these "
        "the BottleneckExtractor's bottlenecks?"
    )


def scan_bottleneck_records(
    file_pattern: FilePattern, label_feature: str, vocabulary: LabelVocabulary, feature_dim: int
) -> ScanResult:
    """Checks every bottleneck example's vector size and label."""
    files = list_files(file_pattern)
    return _summarize(_checked_examples(files, label_feature, vocabulary, _bottleneck_check(feature_dim)))


def load_bottlenecks(
    file_pattern: FilePattern,
    label_feature: str,
    vocabulary: LabelVocabulary,
    feature_dim: Optional[int] = None,
) -> Tuple[np.ndarray, np.ndarray]:
    """All usable bottlenecks as numpy (X float32 [N, D], y int64 [N]), for LogME and class counts.

    `feature_dim` defaults to the size of the first bottleneck.
    """
    files = list_files(file_pattern)
    feature_dim = feature_dim or bottleneck_dim(files)
    rows: List[Sequence[float]] = []
    result = _summarize(
        _checked_examples(files, label_feature, vocabulary, _bottleneck_check(feature_dim)),
        on_kept=lambda example: rows.append(_values(example, pp.BOTTLENECK_FEATURE, _FLOAT)),
    )
    result.log("bottleneck")
    features = np.array(rows, dtype=np.float32).reshape(len(rows), feature_dim)
    return features, result.labels


# ---------------------------------------------------------------------------------------------
# tf.data pipelines
# ---------------------------------------------------------------------------------------------


def _check_batch_size(batch_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise DataError(f"batch_size must be a positive int, got {batch_size!r}.")


def _kept_records(files: Sequence[str], keep: np.ndarray) -> tf.data.Dataset:
    """The serialized records whose keep flag is set, in file order."""
    records = record_dataset(files)
    if keep.all():
        return records
    flags = tf.data.Dataset.from_tensor_slices(keep)
    return tf.data.Dataset.zip((records, flags)).filter(lambda _, k: k).map(lambda r, _: r)


def _label_parser(
    kind: str, vocabulary: LabelVocabulary
) -> Tuple[tf.io.FixedLenFeature, Callable[[tf.Tensor], tf.Tensor]]:
    """The parse spec of the label and the function from parsed label to int64 class index."""
    if kind == LABEL_KIND_INT64:
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


def bottleneck_dataset(
    file_pattern: FilePattern,
    label_feature: str,
    vocabulary: LabelVocabulary,
    feature_dim: int,
    batch_size: int,
    shuffle: bool,
    seed: Optional[int],
    cache: Union[bool, str] = True,
    shuffle_buffer: int = DEFAULT_BOTTLENECK_SHUFFLE_BUFFER,
) -> tf.data.Dataset:
    """(features float32 [B, D], label int64 [B]) batches of the usable bottleneck examples.

    `cache=True` caches the parsed records in memory, a str caches them to that file prefix.
    """
    _check_batch_size(batch_size)
    files = list_files(file_pattern)
    scan = scan_bottleneck_records(files, label_feature, vocabulary, feature_dim)
    scan.log("bottleneck")
    label_spec, to_index = _label_parser(label_kind(files, label_feature), vocabulary)
    spec = {pp.BOTTLENECK_FEATURE: tf.io.FixedLenFeature([feature_dim], tf.float32), label_feature: label_spec}

    def parse(serialized: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
        parsed = tf.io.parse_single_example(serialized, spec)
        return parsed[pp.BOTTLENECK_FEATURE], to_index(parsed[label_feature])

    dataset = _kept_records(files, scan.keep).map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        dataset = dataset.cache("" if cache is True else cache)
    dataset = _shuffled(dataset, shuffle, seed, shuffle_buffer).batch(batch_size)
    return dataset.prefetch(tf.data.AUTOTUNE)


def array_dataset(
    features: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    shuffle: bool,
    seed: Optional[int],
    shuffle_buffer: int = DEFAULT_BOTTLENECK_SHUFFLE_BUFFER,
) -> tf.data.Dataset:
    """The same batches as `bottleneck_dataset`, from bottlenecks already in memory."""
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
    runs on the preprocessed batches. Pass the `scan` of `scan_raw_records` when the caller has
    already run it (e.g. for class counts) to avoid a second pass. An image whose header looks
    fine but whose body does not decode is skipped with a logged warning (`ignore_errors`).
    """
    _check_batch_size(batch_size)
    files = list_files(file_pattern)
    if scan is None:
        scan = scan_raw_records(files, image_feature, label_feature, vocabulary, max_image_pixels)
    scan.log("raw image")
    label_spec, to_index = _label_parser(label_kind(files, label_feature), vocabulary)
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


def dataset_labels(dataset: tf.data.Dataset) -> np.ndarray:
    """Every label of a (features, label) dataset, in order."""
    batches = [labels.numpy() for _, labels in dataset]
    return np.concatenate(batches).astype(np.int64) if batches else np.zeros([0], np.int64)


def extract_features(extractor: keras.Model, dataset: tf.data.Dataset) -> Tuple[np.ndarray, np.ndarray]:
    """Runs a (frozen) feature extractor over an (images, label) dataset: numpy (X, y)."""
    features: List[np.ndarray] = []
    labels: List[np.ndarray] = []
    for images, batch_labels in dataset:
        features.append(np.asarray(extractor(images, training=False), dtype=np.float32))
        labels.append(batch_labels.numpy())
    if not features:
        raise DataError("The image dataset is empty: no usable records to extract features from.")
    return np.concatenate(features), np.concatenate(labels).astype(np.int64)
