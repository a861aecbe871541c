"""The labelled rows of a run and their label names: `TrainingData` (bottlenecks of every cut,
labels, ids, the data's own validation rows, unlabelled bottlenecks) and `label_vocabulary`.

Shared by the FineTuner executor and `run_fn`, which build them, and `transfer`, which trains on
them.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Dict, Optional

import numpy as np

from tfx_transfer.trainer.data import labels as labels_lib
from tfx_transfer.trainer.data import records
from tfx_transfer.trainer.run_config import RunConfig

TRANSFORM_ASSETS_DIR = os.path.join("transform_fn", "assets")


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
            ids=self.ids[keep], validation_rows=int(keep[first_validation:].sum()))


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
