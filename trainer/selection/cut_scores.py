"""Which cut transfers best, measured on the user's training data.

Every candidate cut's cached features are scored on the validation plan with the probe that
becomes the head (its cross-validated accuracy, at its best regularisation) and with k-NN
(the cheapest reliable transferability estimate in a 2025 study of 23 metrics, arXiv
2503.18528); LogME is kept as a third score. When the extractor computed several cuts, their
concatenation (`cuts.combined_cut`, standardised by `probe.standardization`) is one more candidate.

The choice: the best single cut (probe accuracy, ties broken by k-NN, then LogME), unless the
combined cut comes within one standard error of the validation accuracy of it. Then the
combined cut wins: on a few dozen validation rows the ranking of single cuts is mostly noise,
and the combination keeps what each cut knows (measured in `bench/recipe_parity.py`). On large
data sets the standard error is small, so a clearly better single cut is chosen. Scores use a
stratified subsample of at most `SCORING_MAX_EXAMPLES` training rows per fold, so scoring stays
a small part of extraction.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

from tfx_transfer.trainer.base import cuts
from tfx_transfer.trainer.selection import logme, probe, validation

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
    combined: bool = False  # the concatenation of every cut
    # The probe's validation accuracy at each C tried, in JSON form (`accuracy_by_C_record`:
    # '0.01' -> accuracy, None where NaN): what the report plots for a head that has no epochs.
    accuracy_by_C: Mapping[str, float] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> Dict[str, object]:
        row = dataclasses.asdict(self)
        for key in ("probe_accuracy", "knn_accuracy", "logme"):
            row[key] = row[key] if math.isfinite(row[key]) else None
        return row


def accuracy_by_C_record(by_C: Mapping[Any, float]) -> Dict[str, Optional[float]]:
    """`probe.cross_validate`'s accuracy per C as JSON: C written as '%g', NaN as None."""
    return {f"{float(C):g}": (float(value) if math.isfinite(value) else None) for C, value in by_C.items()}


def candidate_features(features: Mapping[str, np.ndarray], cut: str) -> Tuple[np.ndarray, probe.Blocks]:
    """The feature matrix of a candidate (a combined cut's parts side by side) and, for a
    combined cut, the widths of its parts."""
    parts = cuts.cut_parts(cut, tuple(features))
    if len(parts) == 1:
        return features[cut], None
    return np.concatenate([features[part] for part in parts], axis=1), tuple(features[part].shape[1] for part in parts)


def score_cut(
    cut: str, features: Mapping[str, np.ndarray], labels: np.ndarray, num_classes: int,
    scoring_plan: validation.ValidationPlan, logme_rows: np.ndarray, seed: int,
) -> CutScore:
    """The scores of one candidate on the (subsampled) scoring plan, LogME on `logme_rows`
    (NaN accuracies when the plan has no folds)."""
    start = time.perf_counter()
    matrix, blocks = candidate_features(features, cut)
    if scoring_plan.usable:
        C, probe_accuracy, by_C = probe.cross_validate(matrix, labels, num_classes, scoring_plan, seed, blocks=blocks)
        knn = probe.knn_accuracy(matrix, labels, scoring_plan, blocks=blocks)
    else:
        C, probe_accuracy, knn, by_C = 1.0, float("nan"), float("nan"), {}
    try:
        score = logme.logme_score(matrix[logme_rows], labels[logme_rows], num_classes)
    except logme.LogMEError:  # e.g. features that are all zero: nothing to score
        score = float("nan")
    return CutScore(
        cut, int(matrix.shape[1]), probe_accuracy, knn, float(score), C, round(time.perf_counter() - start, 3),
        combined=blocks is not None, accuracy_by_C=accuracy_by_C_record(by_C),
    )


def _rank(score: CutScore):
    def finite(value: float) -> float:
        return value if math.isfinite(value) else -math.inf

    return (finite(score.probe_accuracy), finite(score.knn_accuracy), finite(score.logme))


def standard_error(accuracy: float, rows: int) -> float:
    """The standard error of an accuracy measured on `rows` validation rows."""
    return math.sqrt(accuracy * (1.0 - accuracy) / rows) if rows and math.isfinite(accuracy) else math.inf


def _best(scores: List[CutScore], validation_rows: int) -> str:
    """The rule of the module docstring: the best single cut, or the combined one within a standard error."""
    best = max((score for score in scores if not score.combined), key=_rank)
    together = next((score for score in scores if score.combined), None)
    if together is None or not math.isfinite(together.probe_accuracy):
        return best.cut
    margin = standard_error(together.probe_accuracy, validation_rows)
    return together.cut if best.probe_accuracy <= together.probe_accuracy + margin else best.cut


def score_cuts(
    features: Mapping[str, np.ndarray], labels: np.ndarray, num_classes: int, plan: validation.ValidationPlan,
    seed: int, only: Optional[str] = None,
) -> List[CutScore]:
    """Every candidate scored (the combined cut last, when there are several cuts), the best
    marked `chosen` (or `only`, when the cut is forced)."""
    combined = cuts.combined_cut(list(features)) if len(features) > 1 and only is None else None
    scoring_plan = plan.subsampled(labels, SCORING_MAX_EXAMPLES, seed)
    logme_rows = validation.stratified_subset(np.arange(len(labels)), labels, 2 * SCORING_MAX_EXAMPLES, seed)
    scores = [
        score_cut(cut, features, labels, num_classes, scoring_plan, logme_rows, seed)
        for cut in [*features, *([combined] if combined else [])]
    ]
    validation_rows = sum(len(val) for _, val in scoring_plan.folds)
    best = only if only is not None else _best(scores, validation_rows)
    return [dataclasses.replace(score, chosen=score.cut == best) for score in scores]


def chosen(scores: List[CutScore]) -> CutScore:
    return next(score for score in scores if score.chosen)


def reason(scores: List[CutScore], best: CutScore, forced: Optional[str]) -> str:
    """The sentence `strategy.json` records for the cut chosen (`forced`: the only cut extracted)."""
    if forced is not None:
        return f"The extractor computed one cut, {best.cut!r}; it was used as given."
    if best.combined:
        top = max((s for s in scores if not s.combined), key=lambda s: s.probe_accuracy)
        return (
            f"The {len(scores) - 1} cuts combined (probe accuracy {best.probe_accuracy:.3f} on the training data) came "
            f"within a standard error of the best single cut {top.cut!r} ({top.probe_accuracy:.3f}), so the head reads "
            "them all side by side."
        )
    return (
        f"Cut {best.cut!r} scored best of {len(scores)} candidates on the training data (probe accuracy "
        f"{best.probe_accuracy:.3f}, k-NN {best.knn_accuracy:.3f})."
    )
