"""Augmented copies of the training images, run through the frozen cut: more rows for the head.

With a few labels per class the head sees each image once, as it was shot. Running every
training image through the cut a few more times under mild random geometric transforms
(rotation, zoom, shifts: label-preserving for almost every image task; no flips, which change
text and digits) gives the head the variation it will meet at serving time, at the price of
`copies` extra forward passes per image. The head is fitted on the originals plus their copies.

Validation stays honest: in each fold only the fold's training rows bring their copies, and the
validation rows are the original images. Under `augmented_copies='auto'` the copies are kept
unless the head without them leads on the validation rows by more than one standard error (the
rule `cut_scores` applies to the combined cut): on a few dozen validation rows a smaller lead is
noise, while the copies gained on every task of `bench/recipe_parity.py`. The number of copies
shrinks as the data grows (`MAX_AUGMENTED_IMAGES`), where augmentation matters less and costs more.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Dict, Mapping, Optional

import keras
import numpy as np

from tfx_transfer.trainer.data import raw_images
from tfx_transfer.trainer.selection import probe, cut_scores, validation
from tfx_transfer.trainer.training import augmentation as augmentation_lib
from tfx_transfer.trainer.training.augmentation import COPIES_AUTO, AugmentationConfig, copies_transforms, planned_copies

def augmented_features(
    cut_model: keras.Model, scanned: raw_images.ScannedExamples, config, vocabulary, pp_config,
    ids: np.ndarray, copies: int, augmentation: Optional[keras.Sequential],
) -> Optional[np.ndarray]:
    """[copies, rows, dim] features of `copies` augmented versions of the rows `ids`, in the rows'
    order; None when the raw images cannot be matched to the rows by id. The images are read
    once; each batch is augmented `copies` times (None: not at all)."""
    def per_batch(images) -> np.ndarray:  # [batch, copies, dim]
        return np.stack([
            np.asarray(cut_model(augmentation(images, training=True) if augmentation else images, training=False))
            for _ in range(copies)
        ], axis=1)

    values = raw_images.rows_through(scanned, config, vocabulary, pp_config, ids, per_batch)
    return None if values is None else np.moveaxis(values, 1, 0).astype(np.float64)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """The copies the head trains on (None: none), its regularisation, and what `strategy.json` records."""

    copies: Optional[np.ndarray]
    C: float
    record: Dict[str, Any]
    reason: str
    # The probe's validation accuracy at each C on the rows the head trains on ('0.1' -> accuracy).
    accuracy_by_C: Mapping[str, Optional[float]] = dataclasses.field(default_factory=dict)


def _describe(config: AugmentationConfig) -> str:
    on = {name: value for name, value in dataclasses.asdict(config).items() if value}
    return ", ".join(f"{name} {value}" for name, value in on.items())


def augment(
    cut_model: keras.Model, score: cut_scores.CutScore, features_by_cut: Mapping[str, np.ndarray],
    labels: np.ndarray, ids: np.ndarray, plan: validation.ValidationPlan, num_classes: int,
    raw: Optional[raw_images.RawExamples], config, vocabulary, pp_config,
) -> Outcome:
    """Makes the copies of the chosen cut `score.cut` and decides whether the head keeps them (the
    rule of the module docstring)."""
    setting, seed = config.augmented_copies, config.train.seed
    count = planned_copies(setting, len(labels))
    if raw is None or count == 0:
        why = ("the raw examples were not given" if raw is None
               else f"augmented_copies={setting!r} with {len(labels)} training rows")
        return Outcome(None, score.C, {"copies": 0}, f"The head trained on the images as they are ({why}).",
                       score.accuracy_by_C)
    start = time.perf_counter()
    used = copies_transforms(config.augmentation)
    copies = augmented_features(
        cut_model, raw_images.scan_examples(raw, config, vocabulary), config, vocabulary, pp_config, ids, count,
        augmentation_lib.build_augmentation(used, seed),
    )
    record: Dict[str, Any] = {"copies": count, "transforms": dataclasses.asdict(used)}
    if copies is None:
        return Outcome(None, score.C, {"copies": 0}, "The head trained on the images as they are (the raw images "
                       "cannot be matched to the bottlenecks by id, so no augmented copies were made).", score.accuracy_by_C)
    scoring_plan = plan.subsampled(labels, cut_scores.SCORING_MAX_EXAMPLES, seed)
    if not scoring_plan.usable:
        record["seconds"] = time.perf_counter() - start
        return Outcome(copies, score.C, record, f"The head trained on each image and {count} augmented copies "
                       f"({_describe(used)}); nothing could validate them.", score.accuracy_by_C)
    features, blocks = cut_scores.candidate_features(features_by_cut, score.cut)
    C, accuracy, by_C = probe.cross_validate(features, labels, num_classes, scoring_plan, seed, blocks=blocks, copies=copies)
    rows = sum(len(val) for _, val in scoring_plan.folds)
    margin = cut_scores.standard_error(accuracy, rows)
    kept = setting != COPIES_AUTO or score.probe_accuracy <= accuracy + margin
    record.update(validation_accuracy=accuracy, without_copies=score.probe_accuracy, kept=kept,
                  seconds=time.perf_counter() - start)
    said = (f"{count} augmented copies of each training image ({_describe(used)}) scored {accuracy:.3f} on the "
            f"validation rows, without them {score.probe_accuracy:.3f}")
    if kept:
        return Outcome(copies, C, record, f"The head trained on each image and its copies: {said}.",
                       cut_scores.accuracy_by_C_record(by_C))
    record["copies"] = 0
    return Outcome(None, score.C, record, f"The head trained on the images as they are: {said}, a lead of more than "
                   "one standard error.", score.accuracy_by_C)
