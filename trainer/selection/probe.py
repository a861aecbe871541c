"""The default head: a standardised multinomial logistic regression on the cached features.

It is convex, so it is trained to convergence whatever the data size (the head's budget does
not shrink with the number of examples), and its regularisation is chosen by the validation
plan on the training data. The fitted probe becomes an ordinary Keras head (Normalization,
then the Dense softmax of `head.build_head`), so serving, fine-tuning and TFMA see the same
model as before. `knn_accuracy` is the second transferability score of `cut_scores`.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Dict, Iterator, Optional, Sequence, Tuple

import keras
import numpy as np

from tfx_transfer.trainer.selection import validation
from tfx_transfer.trainer.training import head as head_lib

# Inverse regularisation strengths tried (sklearn's C); the best on the validation plan wins.
C_GRID = (0.01, 0.1, 1.0, 10.0)
# Each feature's variance is shrunk this far toward the mean variance before standardising:
# plain per-feature standardisation blows up rarely-active ReLU units (a Flatten of sparse
# maps) into features as loud as the informative ones, while a single global scale ignores
# that pooled features come in different units; the midpoint is robust to both.
VARIANCE_SHRINKAGE = 0.5
_MIN_SCALE = 1e-6
# Solver iterations of a fit that is kept (the head), and of the fits that only score a cut or a C
# on at most `cut_scores.SCORING_MAX_EXAMPLES` rows: there the ranking is what counts, real
# features converge well within it, and features that cannot separate the classes (where the
# solver would run on for nothing) stop early. bench/extract_throughput.py measures the cost.
MAX_ITER = 1000
SCORING_MAX_ITER = 100


@dataclasses.dataclass(frozen=True)
class ProbeFit:
    """A fitted probe: standardisation (with shrunk variances), then logits = x_std @ coef.T + intercept."""

    mean: np.ndarray
    variance: np.ndarray
    coef: np.ndarray  # [C, D], or [1, D] for two classes (the positive class's logit)
    intercept: np.ndarray
    C: float

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        standardized = (features - self.mean) / np.sqrt(self.variance)
        logits = standardized @ self.coef.T + self.intercept
        if self.coef.shape[0] == 1:
            positive = 1.0 / (1.0 + np.exp(-logits[:, 0]))
            return np.stack([1.0 - positive, positive], axis=1)
        logits = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)


_ABSENT_CLASS_BIAS = -1e4  # a class without training examples is never predicted


def _full_rows(model, num_classes: int) -> Tuple[np.ndarray, np.ndarray]:
    """coef/intercept with a row for every class index, also those absent from the labels."""
    if len(model.classes_) == num_classes:
        return model.coef_, model.intercept_
    coef = np.zeros((num_classes, model.coef_.shape[1]))
    intercept = np.full(num_classes, _ABSENT_CLASS_BIAS)
    rows = model.coef_ if len(model.classes_) > 2 else np.vstack([-model.coef_ / 2, model.coef_ / 2])
    bias = model.intercept_ if len(model.classes_) > 2 else np.array([-model.intercept_[0] / 2, model.intercept_[0] / 2])
    coef[model.classes_] = rows
    intercept[model.classes_] = bias
    return coef, intercept


# Widths of the parts of a combined cut's features, in order; None for a single cut.
Blocks = Optional[Tuple[int, ...]]


def shrunk_variance(features: np.ndarray) -> np.ndarray:
    """Per-feature variances shrunk by VARIANCE_SHRINKAGE toward their mean (see there)."""
    variance = features.var(axis=0)
    shrunk = (1.0 - VARIANCE_SHRINKAGE) * variance + VARIANCE_SHRINKAGE * variance.mean()
    return np.maximum(shrunk, _MIN_SCALE**2)


def _block_variance(features: np.ndarray, blocks: Tuple[int, ...]) -> np.ndarray:
    """Per-feature variances that give every block the same total variance: each block's shrunk
    variances times its width."""
    if sum(blocks) != features.shape[1]:
        raise ValueError(f"Blocks {blocks} do not add up to the {features.shape[1]} features.")
    ends = np.cumsum(blocks)
    return np.concatenate([
        shrunk_variance(features[:, end - width:end]) * width for width, end in zip(blocks, ends)
    ])


def standardization(features: np.ndarray, blocks: Blocks = None) -> Tuple[np.ndarray, np.ndarray]:
    """(mean, variance) the probe standardises `features` with: shrunk variances (see
    VARIANCE_SHRINKAGE).

    For a combined cut (`blocks`), each cut is first scaled to the same total variance, then
    the shrunk standardisation runs across all features, which gives wider cuts back part of
    their weight: an 800-wide Flatten no longer drowns a 32-wide pooled stage, nor does it
    count as little as that stage (exact equal weighting scored 1-4 points lower in
    `bench/recipe_parity.py`'s tasks).
    """
    features = np.asarray(features, dtype=np.float64)
    mean = features.mean(axis=0)
    if not blocks or len(blocks) < 2:
        return mean, shrunk_variance(features)
    weighting = _block_variance(features, blocks)
    return mean, weighting * shrunk_variance((features - mean) / np.sqrt(weighting))


def fit_path(
    features: np.ndarray, labels: np.ndarray, grid: Sequence[float], seed: int, num_classes: int, blocks: Blocks = None,
    max_iter: int = MAX_ITER,
) -> Iterator[ProbeFit]:
    """The probe fitted at each C of `grid`, in ascending order of C.

    One standardisation serves the whole path, and each fit starts from the previous solution
    (a warm start): weakly regularised fits on features that barely separate the classes take
    many solver iterations from zero, few from the next stronger C's solution. The objective is
    convex, so the path reaches the same solutions as separate fits.
    """
    from sklearn.linear_model import LogisticRegression

    standardized = np.array(features, dtype=np.float64)  # the one float64 copy scikit-learn's lbfgs needs
    mean, variance = standardization(standardized, blocks)
    standardized -= mean  # in place: the same values as (x - mean) / scale, without two more copies of the rows
    standardized /= np.sqrt(variance)
    model = LogisticRegression(max_iter=max_iter, random_state=seed, warm_start=True)
    for C in sorted(grid):
        model.set_params(C=C)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning on separable data: the fit is still usable
            model.fit(standardized, labels)
        if len(model.classes_) < 2:
            raise ValueError(f"The probe needs at least two classes in its training rows; got {list(model.classes_)}.")
        coef, intercept = _full_rows(model, num_classes)
        yield ProbeFit(mean, variance, coef, intercept, C)


def fit_probe(
    features: np.ndarray, labels: np.ndarray, C: float, seed: int, num_classes: int, blocks: Blocks = None,
    max_iter: int = MAX_ITER,
) -> ProbeFit:
    """Standardises `features` and fits the L2-regularised logistic regression at strength `C`
    (with at most `max_iter` solver iterations: `SCORING_MAX_ITER` for fits that only score)."""
    return next(fit_path(features, labels, (C,), seed, num_classes, blocks, max_iter))


def with_copies(
    features: np.ndarray, labels: np.ndarray, rows: np.ndarray, copies: Optional[np.ndarray]
) -> Tuple[np.ndarray, np.ndarray]:
    """The training matrix of `rows`: their features, then those of their augmented `copies`
    ([copies, all rows, dim], from `augmented_copies`; None: no copies), with the labels."""
    if copies is None:
        return features[rows], labels[rows]
    if copies.shape[1:] != features.shape:
        raise ValueError(f"Augmented copies of shape {copies.shape} do not match features of shape {features.shape}.")
    stacked = np.concatenate([features[rows], copies[:, rows].reshape(-1, features.shape[1])])
    return stacked, np.tile(labels[rows], len(copies) + 1)


def cross_validate(
    features: np.ndarray, labels: np.ndarray, num_classes: int, plan: validation.ValidationPlan, seed: int,
    grid=C_GRID, blocks: Blocks = None, copies: Optional[np.ndarray] = None,
) -> Tuple[float, float, Dict[float, float]]:
    """(best C, its accuracy, accuracy per C) of the probe on the plan's folds.

    Each fold fits the whole C path once (`fit_path`), on its training rows and their augmented
    `copies` (see `with_copies`); the validation rows are scored as they are. The best C has the
    highest pooled validation accuracy; ties go to the lower validation log-loss, then to the
    middle of the grid.
    """
    out_of_fold = {C: np.full((len(labels), num_classes), np.nan) for C in grid}
    for train, val in plan.folds:
        rows, targets = with_copies(features, labels, train, copies)
        for fit in fit_path(rows, targets, grid, seed, num_classes, blocks, SCORING_MAX_ITER):
            out_of_fold[fit.C][val] = fit.probabilities(features[val])
    scores = {C: validation.validated_scores(probabilities, labels) for C, probabilities in out_of_fold.items()}
    best = max(grid, key=lambda C: (scores[C][0], -scores[C][1], -abs(np.log10(C))))
    return best, scores[best][0], {C: accuracy for C, (accuracy, _) in scores.items()}


def knn_accuracy(
    features: np.ndarray, labels: np.ndarray, plan: validation.ValidationPlan, k: int = 5, blocks: Blocks = None
) -> float:
    """k-nearest-neighbour accuracy (Euclidean, after the probe's standardisation) on the plan's folds."""
    from sklearn.neighbors import KNeighborsClassifier

    def predict(train: np.ndarray, val: np.ndarray) -> np.ndarray:
        mean, variance = standardization(features[train], blocks)
        scale = np.sqrt(variance)
        neighbours = KNeighborsClassifier(n_neighbors=min(k, len(train)))
        neighbours.fit((features[train] - mean) / scale, labels[train])
        return neighbours.predict((features[val] - mean) / scale)

    return validation.pooled_accuracy(plan, labels, predict)


def probe_head(fit: ProbeFit, num_classes: int, config: head_lib.HeadConfig, seed: int) -> keras.Model:
    """The Keras head computing exactly the probe's probabilities."""
    head = head_lib.build_head(
        fit.coef.shape[1], num_classes, dataclasses.replace(config, head_units=()), seed,
        standardize=(fit.mean.astype(np.float32), fit.variance.astype(np.float32)),
    )
    output = head.get_layer(head_lib.OUTPUT_NAMES[0] if num_classes == 2 else head_lib.OUTPUT_NAMES[1])
    output.set_weights([fit.coef.T.astype(np.float32), fit.intercept.astype(np.float32)])
    return head
