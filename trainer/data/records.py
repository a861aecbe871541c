"""Gzipped TFRecords of tf.train.Example, and the checking pass that gives every record a reason.

Records that cannot be used (no image, an image whose header says it cannot be decoded, no
label, a label outside the vocabulary, a bottleneck of the wrong size) are never dropped
silently: a first pass in Python (`scan_raw_records`, `load_bottlenecks`) gives every record a
reason or None, and the reasons are counted and logged. The tf.data pipelines of `datasets` then
keep exactly the records that pass.

Labels in the files are either bytes names (b'cat') or int64 class indices already written by a
Transform vocabulary; `label_kind` tells which from the first record that has a label.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import warnings
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf

from tfx_transfer.trainer.data import preprocessing as pp
from tfx_transfer.trainer.data.labels import LabelVocabulary

FilePattern = Union[str, Sequence[str]]

# The example's identity (the file path below input_base for image folders).
ID_FEATURE = "id"

LABEL_KIND_BYTES = "bytes"
LABEL_KIND_INT64 = "int64"
FLOAT = "float"  # the third tf.train.Feature list kind, used by bottlenecks

# Reasons of this module, in addition to the image and label reasons of `preprocessing`.
REASON_UNPARSEABLE = "unparseable_example"
REASON_MULTIPLE_IMAGES = "multiple_images"
REASON_MULTIPLE_LABELS = "multiple_labels"
REASON_WRONG_LABEL_TYPE = "wrong_label_type"
REASON_UNKNOWN_LABEL = "unknown_label"
REASON_BAD_BOTTLENECK = "bad_bottleneck_size"

_GZIP_MAGIC = b"\x1f\x8b"


class DataError(ValueError):
    """Input files or pipeline arguments that cannot be used."""


# ---------------------------------------------------------------------------------------------
# Files and records
# ---------------------------------------------------------------------------------------------


def matching_files(file_pattern: FilePattern) -> List[str]:
    """The sorted files matching a glob pattern or a list of patterns (none is an empty list)."""
    patterns = [file_pattern] if isinstance(file_pattern, str) else list(file_pattern)
    return sorted({path for pattern in patterns for path in tf.io.gfile.glob(pattern)})


def list_files(file_pattern: FilePattern) -> List[str]:
    """The sorted files matching a glob pattern or a list of patterns (as TFX FnArgs give them)."""
    files = matching_files(file_pattern)
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


def feature_values(example: tf.train.Example, name: str, kind: str) -> Sequence:
    if name not in example.features.feature:
        return ()
    feature = example.features.feature[name]
    return {
        LABEL_KIND_BYTES: feature.bytes_list.value,
        LABEL_KIND_INT64: feature.int64_list.value,
        FLOAT: feature.float_list.value,
    }[kind]


def label_kind(file_pattern: FilePattern, label_feature: str) -> str:
    """'bytes' or 'int64': the type of `label_feature` in the first record that has it."""
    for example in _iter_examples(list_files(file_pattern)):
        if example is None:
            continue
        for kind in (LABEL_KIND_BYTES, LABEL_KIND_INT64):
            if feature_values(example, label_feature, kind):
                return kind
        if feature_values(example, label_feature, FLOAT):
            raise DataError(
                f"Label feature {label_feature!r} holds floats; valid label types are bytes names "
                "or int64 class indices."
            )
    raise DataError(
        f"No record in {file_pattern!r} has the label feature {label_feature!r}; check "
        "label_feature (valid: the name of a bytes or int64 feature of the examples)."
    )


# ---------------------------------------------------------------------------------------------
# The checking pass
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class ScanResult:
    """The outcome of the checking pass over a set of files.

    keep: one flag per record, in file order. labels: the class index of every kept record, and
    ids its `id` feature ('' where it has none): rows of different files of the same examples
    (bottlenecks and raw images) are matched by id. reasons: how many records were set aside,
    by reason.
    """

    keep: np.ndarray
    labels: np.ndarray
    reasons: Dict[str, int]
    ids: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros([0], dtype=object))

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


def restrict(scan: ScanResult, ids: set) -> ScanResult:
    """The scan keeping only the usable records whose id is in `ids` (e.g. a validation fold)."""
    kept_rows = np.flatnonzero(scan.keep)
    wanted = np.array([example_id in ids for example_id in scan.ids], dtype=bool)
    keep = np.zeros_like(scan.keep)
    keep[kept_rows[wanted]] = True
    return ScanResult(keep, scan.labels[wanted], dict(scan.reasons), scan.ids[wanted])


# A record check returns the reason a parsed Example cannot be used, or None.
RecordCheck = Callable[[tf.train.Example], Optional[str]]


def label_index(
    example: tf.train.Example, label_feature: str, kind: str, vocabulary: LabelVocabulary
) -> Tuple[int, Optional[str]]:
    """(class index, None) for a usable label, else (-1, reason). Int labels are indices."""
    values = feature_values(example, label_feature, kind)
    if not values:
        other = LABEL_KIND_INT64 if kind == LABEL_KIND_BYTES else LABEL_KIND_BYTES
        present = feature_values(example, label_feature, other) or feature_values(example, label_feature, FLOAT)
        return -1, (REASON_WRONG_LABEL_TYPE if present else pp.REASON_MISSING_LABEL)
    if len(values) > 1:
        return -1, REASON_MULTIPLE_LABELS
    if kind == LABEL_KIND_BYTES:
        index = vocabulary.find(values[0])
    else:
        index = values[0] if 0 <= values[0] < vocabulary.num_classes else -1
    return (index, None) if index >= 0 else (-1, REASON_UNKNOWN_LABEL)


def check_example(
    example: Optional[tf.train.Example], check: RecordCheck, label_feature: Optional[str], kind: str,
    vocabulary: Optional[LabelVocabulary],
) -> Tuple[int, Optional[str]]:
    """(class index, None) for a usable record, else (-1, reason): bytes that are not an Example,
    then `check`, then the label (none without `label_feature`: unlabelled records get -1)."""
    if example is None:
        return -1, REASON_UNPARSEABLE
    reason = check(example)
    if reason or label_feature is None:
        return -1, reason
    return label_index(example, label_feature, kind, vocabulary)


def _checked_examples(
    files: Sequence[str], label_feature: str, vocabulary: LabelVocabulary, check: RecordCheck
) -> Iterator[Tuple[Optional[tf.train.Example], int, Optional[str]]]:
    """(example, class index, reason) per record in file order; reason None means usable."""
    kind = label_kind(files, label_feature)
    for example in _iter_examples(files):
        yield (example, *check_example(example, check, label_feature, kind, vocabulary))


def example_id(example: tf.train.Example) -> str:
    """The record's `ID_FEATURE` as text ('' where it has none)."""
    values = feature_values(example, ID_FEATURE, LABEL_KIND_BYTES)
    return values[0].decode("utf-8", "replace") if values else ""


def _summarize(checked: Iterator[Tuple[object, int, Optional[str]]], on_kept=None) -> ScanResult:
    """Counts the reasons of a checking pass; `on_kept(example)` sees every usable Example."""
    keep: List[bool] = []
    labels: List[int] = []
    ids: List[str] = []
    reasons: Dict[str, int] = collections.Counter()
    for example, index, reason in checked:
        keep.append(reason is None)
        if reason is None:
            labels.append(index)
            ids.append(example_id(example))
            if on_kept is not None:
                on_kept(example)
        else:
            reasons[reason] += 1
    return ScanResult(
        np.array(keep, dtype=bool), np.array(labels, dtype=np.int64), dict(reasons), np.array(ids, dtype=object)
    )


def _image_check(image_feature: str, max_image_pixels: int) -> RecordCheck:
    def check(example: tf.train.Example) -> Optional[str]:
        images = feature_values(example, image_feature, LABEL_KIND_BYTES)
        if len(images) > 1:
            return REASON_MULTIPLE_IMAGES
        return pp.inspect_image_bytes(images[0] if images else None, max_image_pixels)

    return check


def scan_image_records(
    file_pattern: FilePattern, image_feature: str, max_image_pixels: int = pp.DEFAULT_MAX_IMAGE_PIXELS
) -> ScanResult:
    """Checks every example's image header, labels or not (unlabelled images: labels are ignored)."""
    check = _image_check(image_feature, max_image_pixels)

    def checked() -> Iterator[Tuple[Optional[tf.train.Example], int, Optional[str]]]:
        for example in _iter_examples(list_files(file_pattern)):
            yield example, -1, (REASON_UNPARSEABLE if example is None else check(example))

    return _summarize(checked())


def bottleneck_check(feature_dims: Mapping[str, int]) -> RecordCheck:
    def check(example: tf.train.Example) -> Optional[str]:
        for cut, dim in feature_dims.items():
            if len(feature_values(example, pp.bottleneck_feature(cut), FLOAT)) != dim:
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


_PARSE_BATCH = 1024


def _kept_vectors(files: Sequence[str], keep: np.ndarray, feature_dims: Mapping[str, int]) -> Dict[str, np.ndarray]:
    """{cut: float32 [kept, D]} of the kept records (in file order), parsed by TF in batches.

    The checking pass already read every record once; converting protobuf float lists to numpy
    in Python costs several times that, so the vectors are parsed by `tf.io.parse_example`.
    """
    spec = {pp.bottleneck_feature(cut): tf.io.FixedLenFeature([dim], tf.float32) for cut, dim in feature_dims.items()}
    chunks: Dict[str, List[np.ndarray]] = {cut: [] for cut in feature_dims}
    dataset = record_dataset(files).enumerate().filter(lambda i, _: tf.gather(tf.constant(keep), i))
    for batch in dataset.map(lambda _, record: record).batch(_PARSE_BATCH).map(lambda b: tf.io.parse_example(b, spec)):
        for cut in feature_dims:
            chunks[cut].append(batch[pp.bottleneck_feature(cut)].numpy())
    return {
        cut: np.concatenate(parts) if parts else np.zeros((0, feature_dims[cut]), np.float32)
        for cut, parts in chunks.items()
    }


def load_vectors(
    file_pattern: FilePattern, feature_dims: Mapping[str, int]
) -> Tuple[Dict[str, np.ndarray], np.ndarray, int]:
    """({cut: float32 [N, D_cut]} of every record whose vectors have the right sizes, labels or
    not, their ids ('' where none), and how many records were set aside for a bad size or bytes
    that are not an Example)."""
    files = list_files(file_pattern)
    check = bottleneck_check(feature_dims)
    keep, ids = [], []
    for example in _iter_examples(files):
        keep.append(example is not None and check(example) is None)
        if keep[-1]:
            ids.append(example_id(example))
    keep_array = np.array(keep, dtype=bool)
    return _kept_vectors(files, keep_array, feature_dims), np.array(ids, dtype=object), int((~keep_array).sum())


def sample_vectors(
    file_pattern: FilePattern, feature_dims: Mapping[str, int], max_rows: int, seed: int
) -> Tuple[Dict[str, np.ndarray], int, int]:
    """({cut: float32 [n, D_cut]} of at most `max_rows` records drawn at random, how many records
    there are, how many of the drawn ones were set aside for a bad size or bytes that are not an
    Example). One pass over the bytes (reservoir sampling), and only the drawn records are parsed:
    a check that needs a sample (the drift check) does not pay for parsing every vector."""
    rng = np.random.default_rng(seed)
    drawn: List[bytes] = []
    total = 0
    for total, serialized in enumerate(record_dataset(list_files(file_pattern)).as_numpy_iterator(), start=1):
        if len(drawn) < max_rows:
            drawn.append(serialized)
        else:
            slot = int(rng.integers(0, total))
            if slot < max_rows:
                drawn[slot] = serialized
    check = bottleneck_check(feature_dims)
    rows: Dict[str, List[np.ndarray]] = {cut: [] for cut in feature_dims}
    for serialized in drawn:
        example = parse_example(serialized)
        if example is not None and check(example) is None:
            for cut in feature_dims:
                rows[cut].append(np.asarray(feature_values(example, pp.bottleneck_feature(cut), FLOAT), np.float32))
    kept = len(rows[next(iter(feature_dims))]) if feature_dims else 0
    vectors = {cut: np.stack(values) if values else np.zeros((0, feature_dims[cut]), np.float32)
               for cut, values in rows.items()}
    return vectors, total, len(drawn) - kept


def load_bottlenecks(
    file_pattern: FilePattern,
    label_feature: str,
    vocabulary: LabelVocabulary,
    feature_dims: Mapping[str, int],
) -> Tuple[Dict[str, np.ndarray], ScanResult]:
    """All usable bottlenecks as numpy: ({cut: X float32 [N, D_cut]}, the scan with labels and ids).

    `feature_dims` are the cuts to read and their sizes (`FeatureExtractorInfo.feature_dims`); a
    record whose vector of any of them has another size is set aside as `bad_bottleneck_size`.
    """
    files = list_files(file_pattern)
    result = _summarize(_checked_examples(files, label_feature, vocabulary, bottleneck_check(feature_dims)))
    result.log("bottleneck")
    features = _kept_vectors(files, result.keep, feature_dims)
    if any(len(values) != len(result.labels) for values in features.values()):  # the two passes disagree
        raise DataError(f"Bottleneck files {files[:3]} changed while they were read; re-run the step.")
    return features, result
