"""The labelled rows of a run and their label names: `TrainingData` (bottlenecks of every cut,
labels, ids, the data's own validation rows, unlabelled bottlenecks), `load_training_data` and
`label_vocabulary`.

Shared by the FineTuner executor and `run_fn`, which build them, and `transfer`, which trains on
them.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

from tfx_transfer.trainer.data import labels as labels_lib
from tfx_transfer.trainer.data import bottleneck_stream, records
from tfx_transfer.trainer.run_config import RunConfig

TRANSFORM_ASSETS_DIR = os.path.join("transform_fn", "assets")


class EmptySplitError(ValueError):
    """A split FineTuner needs has no usable examples."""


@dataclasses.dataclass(frozen=True)
class TrainingData:
    """Bottlenecks of every cut for the training rows, then the data's own validation rows; and
    of the unlabelled images of the serving domain, when the run has them (`adaptation`)."""

    features: Dict[str, np.ndarray]
    labels: np.ndarray
    ids: np.ndarray
    validation_rows: int = 0
    unlabelled: Optional[Dict[str, np.ndarray]] = None
    unlabelled_ids: Optional[np.ndarray] = None  # the unlabelled rows' ids, for the label-next list
    # Rows beyond the memory budget: `features` etc. are a subsample and this streams every row.
    stream: Optional[bottleneck_stream.BottleneckStream] = None

    def __post_init__(self) -> None:
        lengths = {len(self.labels), len(self.ids)} | {len(x) for x in self.features.values()}
        if len(lengths) != 1:
            raise ValueError(f"Bottleneck rows do not line up: lengths {sorted(lengths)}.")
        if self.unlabelled is not None and set(self.unlabelled) != set(self.features):
            raise ValueError(f"Unlabelled bottlenecks of cuts {sorted(self.unlabelled)} do not match the labelled "
                             f"ones' {sorted(self.features)}; extract both with the same feature extractor.")
        if self.unlabelled is not None and self.unlabelled_ids is not None and len(self.unlabelled_ids) != len(
                next(iter(self.unlabelled.values()))):
            raise ValueError(f"{len(self.unlabelled_ids)} unlabelled ids do not line up with the unlabelled bottlenecks.")

    @property
    def train_labels(self) -> np.ndarray:
        return self.labels[: len(self.labels) - self.validation_rows]

    @property
    def train_rows(self) -> int:
        """How many labelled training rows the data has: beyond the memory budget, the training
        split's share of every streamed row, not the subsample's."""
        held = len(self.labels) - self.validation_rows
        return held if self.stream is None else round(held * self.stream.rows / max(len(self.labels), 1))

    @property
    def validation_labels(self) -> Optional[np.ndarray]:
        return self.labels[len(self.labels) - self.validation_rows:] if self.validation_rows else None

    def without(self, rows: np.ndarray) -> "TrainingData":
        """The same data without the labelled `rows` (indices); the data's own validation rows
        stay last, fewer by those of `rows` among them."""
        keep = np.ones(len(self.labels), dtype=bool)
        keep[np.asarray(rows, dtype=np.int64)] = False
        first_validation = len(self.labels) - self.validation_rows
        return dataclasses.replace(
            self, features={cut: rows_[keep] for cut, rows_ in self.features.items()}, labels=self.labels[keep],
            ids=self.ids[keep], validation_rows=int(keep[first_validation:].sum()),
            stream=self.stream and self.stream.without(np.asarray(rows, dtype=np.int64)))


def _split_rows(pattern: str, split: str, label_feature: str, vocabulary: labels_lib.LabelVocabulary,
                dims: Mapping[str, int], take: Optional[np.ndarray]) -> bottleneck_stream.SplitScan:
    """A split's usable rows: all of them (`records.load_bottlenecks`, `take` None), or those flagged
    in `take` (`bottleneck_stream.scan_bottlenecks`)."""
    if take is None:
        features, scan = records.load_bottlenecks(pattern, label_feature, vocabulary, dims)
        part = bottleneck_stream.SplitScan(scan.keep, None, scan.reasons, features, scan.labels, scan.ids, None)
    else:
        part = bottleneck_stream.scan_bottlenecks(pattern, label_feature, vocabulary, dims, take)
        part.log("bottleneck")
    if not len(part.labels):
        raise EmptySplitError(
            f"The {split!r} split has no usable bottleneck examples ({pattern}); check the "
            "BottleneckExtractor's rejected output and the label_feature name.")
    return part


def load_training_data(
    patterns: Sequence[str], splits: Sequence[str], label_feature: str, vocabulary: labels_lib.LabelVocabulary,
    dims: Mapping[str, int], memory_budget_mb: int, seed: int,
) -> TrainingData:
    """The training split's rows, then (when the data has its own) the validation split's.

    Within `memory_budget_mb` (`bottleneck_stream.rows_within_budget`) every row is loaded. Beyond
    it, each split keeps a seeded uniform subsample of its records in memory, in proportion, and
    `TrainingData.stream` reads every row again for the head.
    """
    counts, takes = bottleneck_stream.split_subsamples(patterns, sum(dims.values()), memory_budget_mb, seed)
    streamed = takes is not None
    parts: List[bottleneck_stream.SplitScan] = [
        _split_rows(pattern, split, label_feature, vocabulary, dims, takes[index] if streamed else None)
        for index, (pattern, split) in enumerate(zip(patterns, splits))]
    if streamed:
        logging.warning("FineTuner: %d bottleneck records need more than memory_budget_mb=%d; %d of them are held in "
                        "memory for the selections and every row is streamed to the head.",
                        sum(counts), memory_budget_mb, sum(len(part.labels) for part in parts))
    return TrainingData(
        {cut: np.concatenate([part.features[cut] for part in parts]) for cut in dims},
        np.concatenate([part.labels for part in parts]), np.concatenate([part.ids for part in parts]),
        validation_rows=len(parts[1].labels) if len(parts) > 1 else 0,
        stream=bottleneck_stream.join_splits(patterns, parts, dims) if streamed else None)


def load_unlabelled(patterns: Sequence[str], where: str, dims: Mapping[str, int], memory_budget_mb: int,
                    seed: int) -> Dict[str, np.ndarray]:
    """TrainingData's `unlabelled` and `unlabelled_ids` from every split of the unlabelled
    bottlenecks at `where`: all of them within `memory_budget_mb`, else a seeded uniform
    subsample of that size (the drift check, adaptation and the label-next list see it)."""
    counts, takes = bottleneck_stream.split_subsamples(patterns, sum(dims.values()), memory_budget_mb, seed + 100)
    parts, ids = [], []
    for index, pattern in enumerate(patterns):
        if takes is not None:
            scan = bottleneck_stream.scan_bottlenecks(pattern, None, None, dims, takes[index])
            vectors, split_ids, set_aside = scan.features, scan.ids, int((~scan.keep).sum())
        else:
            vectors, split_ids, set_aside = records.load_vectors(pattern, dims)
        if set_aside:
            logging.warning("FineTuner: %d unlabelled record(s) of %s had no usable vectors.", set_aside, pattern)
        parts.append(vectors)
        ids.append(split_ids)
    if takes is not None:
        logging.warning("FineTuner: %d unlabelled records need more than memory_budget_mb=%d; a subsample of %d is used.",
                        sum(counts), memory_budget_mb, sum(len(part_ids) for part_ids in ids))
    if not parts or not sum(len(part_ids) for part_ids in ids):
        raise EmptySplitError(
            f"The unlabelled bottlenecks at {where} hold no usable vectors of the cuts {list(dims)}; extract "
            "them with the same base and cut_layer as the labelled ones (BottleneckExtractor with labelled=False), "
            "and check that extractor's rejected output.")
    return {"unlabelled": {cut: np.concatenate([part[cut] for part in parts]) for cut in dims},
            "unlabelled_ids": np.concatenate(ids)}


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
    values = bottleneck_stream.label_values(train_files, config.label_feature)
    if records.label_kind(train_files, config.label_feature) == records.LABEL_KIND_INT64:
        # Int labels are class indices: name every index up to the largest one seen.
        return labels_lib.LabelVocabulary.from_labels(range(max(values) + 1))
    return labels_lib.LabelVocabulary.from_labels(values)
