"""Which cut transfers best, measured on the user's training data.

Every candidate cut's cached features are scored on the validation plan with the probe that
becomes the head (its cross-validated accuracy, at its best regularisation) and with k-NN
(the cheapest reliable transferability estimate in a 2025 study of 23 metrics, arXiv
2503.18528); LogME is kept as a third score. The cut with the best probe accuracy wins, ties
broken by k-NN, then LogME. On large data sets the scores use a stratified subsample of at most
`SCORING_MAX_EXAMPLES` training rows per fold, so scoring stays a small part of extraction.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Dict, List, Mapping, Optional

import numpy as np

from tfx_transfer.trainer import logme, probe, validation

SCORING_MAX_EXAMPLES = 2000


@dataclasses.dataclass(frozen=True)
class CutScore:
    """One row of the candidates table."""

    cut: str
    dim: int
    probe_accuracy: float
    knn_accuracy: float
    logme: float
    C: float
    seconds: float
    chosen: bool = False

    def to_dict(self) -> Dict[str, object]:
        row = dataclasses.asdict(self)
        for key in ("probe_accuracy", "knn_accuracy", "logme"):
            row[key] = row[key] if math.isfinite(row[key]) else None
        return row


def score_cut(
    cut: str, features: np.ndarray, labels: np.ndarray, num_classes: int, plan: validation.ValidationPlan, seed: int
) -> CutScore:
    """The scores of one cut's features (NaN accuracies when the plan has no folds)."""
    start = time.perf_counter()
    scoring_plan = plan.subsampled(labels, SCORING_MAX_EXAMPLES, seed)
    if plan.usable:
        C, probe_accuracy, _ = probe.cross_validate(features, labels, num_classes, scoring_plan, seed)
        knn = probe.knn_accuracy(features, labels, scoring_plan)
    else:
        C, probe_accuracy, knn = 1.0, float("nan"), float("nan")
    rows = validation.stratified_subset(np.arange(len(labels)), labels, 2 * SCORING_MAX_EXAMPLES, seed)
    try:
        score = logme.logme_score(features[rows], labels[rows], num_classes)
    except logme.LogMEError:  # e.g. features that are all zero: nothing to score
        score = float("nan")
    return CutScore(cut, int(features.shape[1]), probe_accuracy, knn, float(score), C, round(time.perf_counter() - start, 3))


def _rank(score: CutScore):
    def finite(value: float) -> float:
        return value if math.isfinite(value) else -math.inf

    return (finite(score.probe_accuracy), finite(score.knn_accuracy), finite(score.logme))


def score_cuts(
    features: Mapping[str, np.ndarray], labels: np.ndarray, num_classes: int, plan: validation.ValidationPlan,
    seed: int, only: Optional[str] = None,
) -> List[CutScore]:
    """Every candidate scored, the best marked `chosen` (or `only`, when the cut is forced)."""
    scores = [score_cut(cut, values, labels, num_classes, plan, seed) for cut, values in features.items()]
    best = only if only is not None else max(scores, key=_rank).cut
    return [dataclasses.replace(score, chosen=score.cut == best) for score in scores]


def chosen(scores: List[CutScore]) -> CutScore:
    return next(score for score in scores if score.chosen)
