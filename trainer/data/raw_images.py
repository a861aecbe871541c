"""The raw image examples behind the bottleneck rows: the control and fine-tuning train on them.

Bottleneck rows and raw examples are matched by their `id` feature: Beam writes the
bottlenecks in its own order, so the raw files need not list the examples in the same order.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, List, Optional, Protocol, Tuple

import keras
import numpy as np
import tensorflow as tf

from tfx_transfer.trainer.data import datasets, records
from tfx_transfer.trainer.data import labels as labels_lib
from tfx_transfer.trainer.data import preprocessing as pp


@dataclasses.dataclass(frozen=True)
class RawExamples:
    """Raw image example files (train, then the data's own validation split): the control and
    fine-tuning train on them."""

    train_files: records.FilePattern
    validation_files: Optional[records.FilePattern] = None
    # Raw examples of the unlabelled images, when given: only the label-next list's thumbnails read them.
    unlabelled_files: Optional[records.FilePattern] = None


class ReadSettings(Protocol):
    """The settings reading raw examples needs; `RunConfig` has them. A protocol, so that this
    data-level module does not import the run's configuration, which sits above it."""

    image_feature: str
    label_feature: str
    max_image_pixels: int
    train: Any  # has batch_size and seed (training.TrainConfig)


def raw_patterns(raw: RawExamples) -> list:
    """The file patterns of the training and (when given) the validation examples."""
    patterns = [raw.train_files] if isinstance(raw.train_files, str) else list(raw.train_files)
    if raw.validation_files is not None:
        patterns += [raw.validation_files] if isinstance(raw.validation_files, str) else list(raw.validation_files)
    return patterns


def raw_features(
    raw: RawExamples, config: ReadSettings, vocabulary: labels_lib.LabelVocabulary, pp_config: pp.PreprocessingConfig,
    front: Optional[keras.Model], ids: np.ndarray,
) -> Tuple[Optional[np.ndarray], str]:
    """`front`'s outputs (or the images themselves) for the rows `ids`, in that order.

    Returns (None, why) when the raw examples cannot be matched to the bottleneck rows by id.
    """
    values = rows_through(
        scan_examples(raw, config, vocabulary), config, vocabulary, pp_config, ids,
        lambda images: front(images, training=False).numpy() if front else images.numpy(),
    )
    if values is None:
        return None, "the raw examples cannot be matched to the bottlenecks by their ids"
    return values, ""


@dataclasses.dataclass(frozen=True)
class ScannedExamples:
    """The raw example files and their checking pass, made once for every part read from them."""

    files: List[str]
    scan: records.ScanResult


def scan_examples(raw: RawExamples, config: ReadSettings, vocabulary: labels_lib.LabelVocabulary) -> ScannedExamples:
    """Lists and checks the raw example files once (see `records.scan_raw_records`)."""
    files = records.list_files(raw_patterns(raw))
    scan = records.scan_raw_records(files, config.image_feature, config.label_feature, vocabulary, config.max_image_pixels)
    return ScannedExamples(files, scan)


def part_dataset(
    scanned: ScannedExamples, config: ReadSettings, vocabulary, pp_config, ids: np.ndarray, shuffle: bool, augmentation=None
) -> Tuple[tf.data.Dataset, np.ndarray]:
    """The raw images of the rows `ids`, and (unshuffled) their ids in the dataset's order: the
    raw files need not list the examples in the bottlenecks' order."""
    scan = records.restrict(scanned.scan, set(ids.tolist()))
    dataset = datasets.raw_image_dataset(
        scanned.files, config.image_feature, config.label_feature, vocabulary, pp_config, config.train.batch_size,
        shuffle=shuffle, seed=config.train.seed, augmentation=augmentation, max_image_pixels=config.max_image_pixels,
        scan=scan,
    )
    return dataset, scan.ids


def rows_through(
    scanned: ScannedExamples, config: ReadSettings, vocabulary, pp_config, ids: np.ndarray,
    per_batch: Callable[[tf.Tensor], np.ndarray],
) -> Optional[np.ndarray]:
    """`per_batch` of the preprocessed images of the rows `ids` (batches along its first axis),
    in the rows' order; None when the raw images cannot be matched to the rows one to one.

    Only the rows asked for are decoded: an example the extractor set aside (a broken image body)
    is not among them, and decoding it would drop it from the dataset and misalign the rest.
    """
    dataset, dataset_ids = part_dataset(scanned, config, vocabulary, pp_config, ids, shuffle=False)
    values = [per_batch(images) for images, _ in dataset]
    order = rows_in_dataset_order(np.asarray(dataset_ids), np.arange(len(ids)), ids)
    if order is None or not values:
        return None
    ordered = np.concatenate(values)
    result = np.empty_like(ordered)
    result[order] = ordered
    return result


def rows_in_dataset_order(dataset_ids: np.ndarray, rows: np.ndarray, row_ids: np.ndarray) -> Optional[np.ndarray]:
    """The row index of each dataset element (`dataset_ids`, in the dataset's order) among
    `rows` (whose ids are `row_ids`); None when the two cannot be matched one to one."""
    row_of = {example_id: row for row, example_id in zip(rows, row_ids)}
    if len(row_of) != len(rows) or len(dataset_ids) != len(rows) or not all(i in row_of for i in dataset_ids):
        return None
    return np.array([row_of[i] for i in dataset_ids], dtype=int)
