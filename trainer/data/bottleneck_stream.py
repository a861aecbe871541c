"""Bottlenecks too many to hold in memory: a checking pass parsed by TF, a subsample, a stream.

FineTuner's in-memory path (`records.load_bottlenecks`) holds every row several times over: the
float32 rows, scikit-learn's float64 copy, the folds' copies, out-of-fold probabilities. That is
about `WORKING_SET_BYTES_PER_VALUE` bytes of memory per feature value (bench/finetuner_scale.py
measured 29: 8,267 MiB at 200,000 rows of 1,280 values). When the rows would need more than the
run's memory budget (`rows_within_budget`), FineTuner instead

1. checks every record once, in batches parsed by `tf.io.parse_example` (`scan_bottlenecks`),
   with the same reasons as `records`' checking pass, and keeps a seeded uniform subsample of
   the rows in memory for every selection (cut, C, gate, labelling);
2. streams every kept row from the TFRecords again to fit the final head (`stream_batches`,
   used by `selection.streamed_head`).

Memory then holds the subsample, one flag and one int64 label per record, and a few batches.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from tfx_transfer.trainer.common import checks
from tfx_transfer.trainer.data import preprocessing as pp
from tfx_transfer.trainer.data import record_counts, records
from tfx_transfer.trainer.data.labels import LabelValue, LabelVocabulary

# The memory FineTuner's in-memory selection may use for its rows, unless told (`memory_budget_mb`).
DEFAULT_MEMORY_BUDGET_MB = 1024
# Bytes of memory the in-memory path uses per feature value of its rows (see the module docstring).
WORKING_SET_BYTES_PER_VALUE = 32
# Records per parse: large enough that TF's per-call overhead vanishes, small next to the budget.
PARSE_BATCH = 1024
# Rows the stream's shuffle holds (serialized, so about 4 bytes per feature value).
STREAM_SHUFFLE_ROWS = 10_000


def check_memory_budget(memory_budget_mb: int, error=ValueError) -> None:
    checks.check_int("memory_budget_mb", memory_budget_mb, 1, error)


def rows_within_budget(memory_budget_mb: int, width: int) -> int:
    """How many rows of `width` feature values (all cuts together) the in-memory path holds
    within `memory_budget_mb`."""
    return max(1, int(memory_budget_mb) * 2**20 // (max(1, width) * WORKING_SET_BYTES_PER_VALUE))


def subsample_mask(total: int, size: int, seed: int) -> np.ndarray:
    """A bool flag per record: `size` records (all when `size` >= `total`) drawn uniformly with `seed`."""
    mask = np.zeros(total, dtype=bool)
    mask[np.random.default_rng(seed).choice(total, size=min(size, total), replace=False)] = True
    return mask


def split_subsamples(
    patterns: Sequence[records.FilePattern], width: int, memory_budget_mb: int, seed: int,
) -> Tuple[List[int], Optional[List[np.ndarray]]]:
    """(records per split, None when every row fits `memory_budget_mb`, else one `subsample_mask`
    per split: the rows that fit, shared out in proportion to the splits' sizes, split i drawn
    with `seed + i`)."""
    counts = [record_counts.count_records(records.list_files(pattern)) for pattern in patterns]
    limit = rows_within_budget(memory_budget_mb, width)
    if sum(counts) <= limit:
        return counts, None
    return counts, [subsample_mask(count, max(1, limit * count // sum(counts)), seed + index)
                    for index, count in enumerate(counts)]


# ---------------------------------------------------------------------------------------------
# Batched parsing, with the Python checks of `records` for batches TF cannot parse
# ---------------------------------------------------------------------------------------------


def _parsed_batches(files: Sequence[str], spec: Mapping[str, tf.io.RaggedFeature]) -> Iterator[Tuple[np.ndarray, Optional[dict]]]:
    """(serialized records, {feature: (flat values, row lengths)} or None) per batch, in file order.

    None where TF refuses the batch (bytes that are not an Example, a feature of another type):
    the caller then checks those records one by one in Python, as `records` does.
    """
    for batch in records.record_dataset(files).batch(PARSE_BATCH).prefetch(2):
        try:  # eager: one op per batch of PARSE_BATCH records, nothing to trace
            parsed = {name: (value.flat_values.numpy(), value.row_lengths().numpy())
                      for name, value in tf.io.parse_example(batch, spec).items()}
        except (tf.errors.OpError, UnicodeDecodeError):  # TF's message can quote the bad bytes
            parsed = None
        yield batch.numpy(), parsed


def _label_spec(kind: str) -> tf.io.RaggedFeature:
    return tf.io.RaggedFeature(tf.string if kind == records.LABEL_KIND_BYTES else tf.int64)


def _row_starts(lengths: np.ndarray) -> np.ndarray:
    """Where each row of a ragged feature starts in its flat values."""
    return np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)


def _first_values(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The first value of each row of a ragged feature (undefined where the row is empty)."""
    starts = _row_starts(lengths)
    return values[np.minimum(starts, max(len(values) - 1, 0))] if len(values) else np.zeros(len(lengths), values.dtype)


def label_values(file_pattern: records.FilePattern, label_feature: str) -> List[LabelValue]:
    """Every single label value in the files (bytes or int), to build or check a vocabulary.

    The same values as reading each record in Python (records without exactly one label of the
    first record's type are skipped), parsed by TF in batches: several times faster.
    """
    files = records.list_files(file_pattern)
    kind = records.label_kind(files, label_feature)
    found: List[LabelValue] = []
    for serialized, parsed in _parsed_batches(files, {label_feature: _label_spec(kind)}):
        if parsed is None:
            for record in serialized:
                example = records.parse_example(record)
                values = records.feature_values(example, label_feature, kind) if example is not None else ()
                found.extend(values if len(values) == 1 else ())
            continue
        values, lengths = parsed[label_feature]
        found.extend(_first_values(values, lengths)[lengths == 1].tolist())
    return found


# ---------------------------------------------------------------------------------------------
# The checking pass with a subsample
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SplitScan:
    """One split checked in full: a flag and a class index per record (-1 where set aside), the
    reasons counted, and the features, labels, ids and record indices of the subsample taken."""

    keep: np.ndarray
    record_labels: Optional[np.ndarray]  # None where every row was loaded (`records.load_bottlenecks`)
    reasons: Dict[str, int]
    features: Dict[str, np.ndarray]
    labels: np.ndarray
    ids: np.ndarray
    taken: Optional[np.ndarray]  # the subsample's record indices

    def log(self, what: str) -> None:
        records.ScanResult(self.keep, self.labels, self.reasons).log(what)


def _check_batch(
    parsed: dict, label_feature: Optional[str], kind: str, vocabulary: LabelVocabulary, feature_dims: Mapping[str, int]
) -> Tuple[np.ndarray, List[Optional[str]]]:
    """(class index per record, reason per record) of a parsed batch, as `records` would give them
    (without `label_feature`, unlabelled rows: -1 and the size check alone)."""
    size = len(parsed[records.ID_FEATURE][1])
    reasons: List[Optional[str]] = [None] * size
    for cut, dim in feature_dims.items():
        for row in np.flatnonzero(parsed[pp.bottleneck_feature(cut)][1] != dim):
            reasons[row] = reasons[row] or records.REASON_BAD_BOTTLENECK
    if label_feature is None:
        return np.full(size, -1, np.int64), reasons
    values, lengths = parsed[label_feature]
    first = _first_values(values, lengths)
    if kind == records.LABEL_KIND_BYTES:
        index = np.array([vocabulary.find(value) for value in first.tolist()], dtype=np.int64)
    else:
        index = np.where((first >= 0) & (first < vocabulary.num_classes), first, -1).astype(np.int64)
    for row in range(size):
        if reasons[row] is None:
            reasons[row] = (pp.REASON_MISSING_LABEL if lengths[row] == 0 else records.REASON_MULTIPLE_LABELS
                            if lengths[row] > 1 else records.REASON_UNKNOWN_LABEL if index[row] < 0 else None)
    return np.where([reason is None for reason in reasons], index, -1), reasons


def _check_records_in_python(
    serialized: np.ndarray, label_feature: Optional[str], kind: str, vocabulary: LabelVocabulary, feature_dims: Mapping[str, int]
) -> Tuple[np.ndarray, List[Optional[str]], List[Optional[object]]]:
    """(class index, reason, Example) per record of a batch TF refused: `records`' own checks."""
    check = records.bottleneck_check(feature_dims)
    index, reasons, examples = np.full(len(serialized), -1, np.int64), [], []
    for row, record in enumerate(serialized):
        example = records.parse_example(record)
        index[row], reason = records.check_example(example, check, label_feature, kind, vocabulary)
        reasons.append(reason)
        examples.append(example if reason is None else None)
    return index, reasons, examples


def _taken_rows(parsed: Optional[dict], examples, rows: np.ndarray, feature_dims: Mapping[str, int]) -> Tuple[Dict[str, np.ndarray], List[str]]:
    """({cut: float32 [len(rows), D]}, ids) of the usable `rows` of one batch."""
    if parsed is None:
        vectors = {cut: np.asarray([records.feature_values(examples[row], pp.bottleneck_feature(cut), records.FLOAT)
                                    for row in rows], np.float32).reshape(len(rows), dim) for cut, dim in feature_dims.items()}
        return vectors, [records.example_id(examples[row]) for row in rows]
    vectors = {}
    for cut, dim in feature_dims.items():
        values, lengths = parsed[pp.bottleneck_feature(cut)]
        vectors[cut] = values[_row_starts(lengths)[rows, None] + np.arange(dim)].astype(np.float32, copy=False)
    id_values, id_lengths = parsed[records.ID_FEATURE]
    first = _first_values(id_values, id_lengths)
    ids = [first[row].decode("utf-8", "replace") if id_lengths[row] else "" for row in rows]
    return vectors, ids


def scan_bottlenecks(
    file_pattern: records.FilePattern, label_feature: Optional[str], vocabulary: Optional[LabelVocabulary],
    feature_dims: Mapping[str, int], take: np.ndarray,
) -> SplitScan:
    """Checks every record (as `records.load_bottlenecks` does; without `label_feature`, as
    `records.load_vectors` does for unlabelled rows) and keeps the usable ones flagged in `take`
    (one flag per record, e.g. `subsample_mask`) in memory."""
    files = records.list_files(file_pattern)
    kind = records.label_kind(files, label_feature) if label_feature is not None else ""
    spec = {pp.bottleneck_feature(cut): tf.io.RaggedFeature(tf.float32) for cut in feature_dims}
    spec[records.ID_FEATURE] = tf.io.RaggedFeature(tf.string)
    if label_feature is not None:
        spec[label_feature] = _label_spec(kind)
    keep, labels, reasons = [], [], collections.Counter()
    vectors: Dict[str, List[np.ndarray]] = {cut: [] for cut in feature_dims}
    ids: List[str] = []
    start = 0
    for serialized, parsed in _parsed_batches(files, spec):
        if parsed is not None:
            index, why, examples = (*_check_batch(parsed, label_feature, kind, vocabulary, feature_dims), None)
        else:
            index, why, examples = _check_records_in_python(serialized, label_feature, kind, vocabulary, feature_dims)
        usable = np.array([reason is None for reason in why], dtype=bool)
        reasons.update(reason for reason in why if reason is not None)
        rows = np.flatnonzero(usable & take[start:start + len(serialized)])
        batch_vectors, batch_ids = _taken_rows(parsed, examples, rows, feature_dims)
        for cut in feature_dims:
            vectors[cut].append(batch_vectors[cut])
        ids.extend(batch_ids)
        keep.append(usable)
        labels.append(index)
        start += len(serialized)
    if start != len(take):
        raise records.DataError(f"Bottleneck files {files[:3]} changed while they were read; re-run the step.")
    keep_all, record_labels = np.concatenate(keep), np.concatenate(labels)
    taken = np.flatnonzero(keep_all & take)
    return SplitScan(
        keep_all, record_labels, dict(reasons),
        {cut: np.concatenate(parts) if parts else np.zeros((0, feature_dims[cut]), np.float32) for cut, parts in vectors.items()},
        record_labels[taken], np.array(ids, dtype=object), taken)


# ---------------------------------------------------------------------------------------------
# The stream
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BottleneckStream:
    """Every usable labelled row of the run's splits, on disk: their files in order, a keep flag
    and a class index per record, and the record index of each in-memory (subsample) row."""

    files: Tuple[str, ...]
    keep: np.ndarray
    record_labels: np.ndarray
    feature_dims: Dict[str, int]
    row_records: np.ndarray

    @property
    def rows(self) -> int:
        return int(self.keep.sum())

    def without(self, rows: np.ndarray) -> "BottleneckStream":
        """The stream without the in-memory `rows` (indices into the subsample), e.g. suspect labels."""
        keep, remaining = self.keep.copy(), np.ones(len(self.row_records), dtype=bool)
        keep[self.row_records[rows]] = False
        remaining[rows] = False
        return dataclasses.replace(self, keep=keep, row_records=self.row_records[remaining])


def join_splits(patterns: Sequence[records.FilePattern], scans: Sequence[SplitScan], feature_dims: Mapping[str, int]) -> BottleneckStream:
    """The stream over the splits' files, in the order their rows are in memory."""
    files, offset, row_records = [], 0, []
    for pattern, scan in zip(patterns, scans):
        files.extend(records.list_files(pattern))
        row_records.append(scan.taken + offset)
        offset += len(scan.keep)
    return BottleneckStream(tuple(files), np.concatenate([s.keep for s in scans]),
                            np.concatenate([s.record_labels for s in scans]), dict(feature_dims), np.concatenate(row_records))


def stream_batches(stream: BottleneckStream, cut_parts: Sequence[str], batch_size: int, seed: int) -> tf.data.Dataset:
    """(features float32 [B, D], label int64 [B]) batches of every kept row, read again from the
    files each epoch; `cut_parts` are put side by side (a combined cut, as `candidate_features`).

    Rows are shuffled within `STREAM_SHUFFLE_ROWS`: files written in class order are only
    partly mixed (see docs/benchmarks.md).
    """
    keep, labels = tf.constant(stream.keep), tf.constant(stream.record_labels)
    spec = {pp.bottleneck_feature(cut): tf.io.FixedLenFeature([stream.feature_dims[cut]], tf.float32) for cut in cut_parts}

    def parse(index: tf.Tensor, serialized: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
        parsed = tf.io.parse_example(serialized, spec)
        return tf.concat([parsed[pp.bottleneck_feature(cut)] for cut in cut_parts], axis=1), tf.gather(labels, index)

    dataset = records.record_dataset(list(stream.files)).enumerate().filter(lambda index, _: tf.gather(keep, index))
    dataset = dataset.shuffle(STREAM_SHUFFLE_ROWS, seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    return dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
