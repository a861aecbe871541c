"""The one validation protocol every selection uses: only training data, never the Evaluator's split.

Everything that selects (the cut layer, the head's regularisation, fine-tuning or not, the
no-transfer control) is scored on the same `ValidationPlan`, built from the training labels:

- the user's own validation split, when the data has one (`train/` + `validation/` folders);
- else a stratified holdout of `HOLDOUT_FRACTION` of `train`, when every class has at least
  `HOLDOUT_MIN_PER_CLASS` examples;
- else stratified k-fold cross-validation (k = the smallest class count, at most `MAX_FOLDS`),
  for the small data sets transfer learning is most used on;
- and no validation at all when a class has a single example (then nothing is selected).

The chosen model is then refitted on all of `train` (where refitting is cheap).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional, Tuple

import numpy as np

HOLDOUT_MIN_PER_CLASS = 30
HOLDOUT_FRACTION = 0.2
MAX_FOLDS = 5

PLAN_GIVEN = "validation_split"
PLAN_HOLDOUT = "holdout"
PLAN_CV = "cross_validation"
PLAN_NONE = "none"

Fold = Tuple[np.ndarray, np.ndarray]  # (train indices, validation indices)


@dataclasses.dataclass(frozen=True)
class ValidationPlan:
    """The folds every candidate is scored on; indices into the training arrays."""

    kind: str
    folds: Tuple[Fold, ...]

    @property
    def usable(self) -> bool:
        return bool(self.folds)

    def describe(self) -> str:
        if self.kind == PLAN_CV:
            return f"{len(self.folds)}-fold cross-validation on the training data"
        if self.kind == PLAN_HOLDOUT:
            return f"a stratified {HOLDOUT_FRACTION:.0%} holdout of the training data"
        if self.kind == PLAN_GIVEN:
            return "the data's own validation split"
        return "no validation (a class has a single training example)"

    def subsampled(self, labels: np.ndarray, max_train: int, seed: int) -> "ValidationPlan":
        """The same folds with at most `max_train` training (and a quarter as many validation)
        indices each, stratified: scoring cost stays bounded on large data sets."""
        folds = tuple(
            (stratified_subset(train, labels, max_train, seed), stratified_subset(val, labels, max(1, max_train // 4), seed))
            for train, val in self.folds
        )
        return ValidationPlan(self.kind, folds)


def stratified_subset(indices: np.ndarray, labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    if len(indices) <= size:
        return indices
    from sklearn.model_selection import train_test_split

    subset, _ = train_test_split(indices, train_size=size, stratify=labels[indices], random_state=seed)
    return np.sort(subset)


def make_plan(labels: np.ndarray, seed: int, validation_labels: Optional[np.ndarray] = None) -> ValidationPlan:
    """The plan for these training labels (see the module docstring).

    With `validation_labels` (the data's own validation split), the arrays are taken as the
    training rows followed by the validation rows, and the one fold is that split.
    """
    labels = np.asarray(labels)
    if validation_labels is not None and len(validation_labels):
        n = len(labels)
        return ValidationPlan(PLAN_GIVEN, ((np.arange(n), np.arange(n, n + len(validation_labels))),))
    smallest = _smallest_class(labels)
    if smallest < 2:
        return ValidationPlan(PLAN_NONE, ())
    if smallest >= HOLDOUT_MIN_PER_CLASS:
        from sklearn.model_selection import StratifiedShuffleSplit

        split = StratifiedShuffleSplit(n_splits=1, test_size=HOLDOUT_FRACTION, random_state=seed)
        return ValidationPlan(PLAN_HOLDOUT, tuple(split.split(np.zeros(len(labels)), labels)))
    return kfold_plan(labels, seed)


def _smallest_class(labels: np.ndarray) -> int:
    """The row count of the rarest class present (0 for no rows)."""
    counts = np.bincount(labels)
    return int(counts[counts > 0].min()) if labels.size else 0


def kfold_plan(labels: np.ndarray, seed: int, max_folds: int = MAX_FOLDS) -> ValidationPlan:
    """Stratified k-fold cross-validation over every row (k = the smallest class count, at most
    `max_folds`); no folds when a class has a single row. `make_plan`'s plan for small data, and
    the one that gives every row an out-of-fold prediction (`labelling.suspect_labels`)."""
    from sklearn.model_selection import StratifiedKFold

    labels = np.asarray(labels)
    smallest = _smallest_class(labels)
    if smallest < 2:
        return ValidationPlan(PLAN_NONE, ())
    folds = StratifiedKFold(n_splits=min(max_folds, smallest), shuffle=True, random_state=seed)
    return ValidationPlan(PLAN_CV, tuple(folds.split(np.zeros(len(labels)), labels)))


def pooled_accuracy(
    plan: ValidationPlan, labels: np.ndarray, predict: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> float:
    """Accuracy over every validation index of the plan; `predict(train_idx, val_idx)` returns
    the predicted class of each validation index after fitting on the training indices."""
    correct, total = 0, 0
    for train, val in plan.folds:
        predicted = np.asarray(predict(train, val))
        correct += int(np.sum(predicted == labels[val]))
        total += len(val)
    return correct / total if total else float("nan")


def out_of_fold(
    plan: ValidationPlan, num_rows: int, predict_proba: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> np.ndarray:
    """Class probabilities [num_rows, classes] of each validation row, predicted by the model of
    its fold (`predict_proba(train_idx, val_idx)`); NaN rows where the plan validates none.

    Two models' out-of-fold probabilities on the same plan can be compared row by row, and
    averaged, without a second round of training.
    """
    probabilities: Optional[np.ndarray] = None
    for train, val in plan.folds:
        predicted = np.asarray(predict_proba(train, val), dtype=np.float64)
        if probabilities is None:
            probabilities = np.full((num_rows, predicted.shape[1]), np.nan)
        probabilities[val] = predicted
    return probabilities if probabilities is not None else np.full((num_rows, 1), np.nan)


def validated_scores(probabilities: Optional[np.ndarray], labels: np.ndarray) -> Tuple[float, float]:
    """(accuracy, mean log-loss) of out-of-fold probabilities over the rows that have them (NaN
    when none). The log-loss breaks accuracy ties: on a few dozen validation rows many settings
    tie on accuracy, never on log-loss."""
    if probabilities is None:
        return float("nan"), float("nan")
    rows = ~np.isnan(probabilities).any(axis=1)
    if not rows.any():
        return float("nan"), float("nan")
    predicted, truth = probabilities[rows], np.asarray(labels)[rows]
    right = predicted[np.arange(len(truth)), truth]
    return float(np.mean(predicted.argmax(axis=1) == truth)), float(-np.mean(np.log(np.maximum(right, 1e-12))))


def validated_accuracy(probabilities: Optional[np.ndarray], labels: np.ndarray) -> float:
    """Accuracy of out-of-fold probabilities over the rows that have them (NaN when none)."""
    return validated_scores(probabilities, labels)[0]
