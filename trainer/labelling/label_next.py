"""Which unlabelled images to label next: representative picks while labels are few, uncertain
ones within clusters once the head is strong.

At a few labels per class the obvious answer, the images the model is least sure of, is wrong:
on ImageNet with frozen self-supervised features, max-entropy picks scored 8-14 points below
random ones at 1-13 labels per class, while images nearest to k-means centres scored 2-9 above
(arXiv 2110.12033); TypiClust (Hacohen et al. 2022, arXiv 2202.02794) picks the most typical
image of each large cluster that no labelled image covers. With more labels, uncertainty pays,
spread over clusters so the picks are not near-duplicates. Measured on cached digits
bottlenecks (the source CNN's combined cut, 50 picks from 1,000 unlabelled images, a probe
retrained, 5 seeds, points over the mean of 5 random picks):

    labels/class   TypiClust   lowest margin within clusters
    5              +2.4        +1.9
    10             +1.0        +1.9
    20             +0.3        +1.4

So `choose_method` takes TypiClust below `TYPICAL_BELOW_PER_CLASS` labels per class, and the
lowest margin within k-means clusters from there on. Both work in the probe's standardised
space of the chosen cut, on labelled and unlabelled rows together.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from tfx_transfer.trainer.common import checks, progress
from tfx_transfer.trainer.data import storage
from tfx_transfer.trainer.selection import cut_scores, probe
from tfx_transfer.trainer.selection import strategy as strategy_lib

METHOD_TYPICAL = "typiclust"
METHOD_MARGIN = "margin_in_clusters"
TYPICAL_BELOW_PER_CLASS = 10
DEFAULT_BUDGET = strategy_lib.DEFAULT_LABEL_BUDGET
# Neighbours that define an image's typicality (the inverse of its mean distance to them).
NEIGHBOURS = 20
CSV_FILE = "label_next.csv"
CSV_COLUMNS = ("rank", "id", "score", "predicted", "reason")  # rank, then the records' keys


class LabelBudgetError(ValueError):
    """A label budget that is not a positive int."""


def check_budget(budget: int) -> int:
    """`budget`, checked: an int >= 1."""
    checks.check_int("label_budget", budget, 1, LabelBudgetError)
    return budget


@dataclasses.dataclass(frozen=True)
class Ranking:
    """Unlabelled rows to label next, best first, with each one's score (typicality, or the
    probe's margin: lower is less sure), predicted class and why it was picked."""

    rows: np.ndarray
    scores: np.ndarray
    predicted: np.ndarray
    method: str
    reason: str
    why: str

    def records(self, ids: Sequence[str], names: Sequence[str]) -> List[Dict[str, Any]]:
        return [{"id": str(ids[row]), "score": round(float(score), 4), "predicted": names[int(predicted)], "reason": self.why}
                for row, score, predicted in zip(self.rows, self.scores, self.predicted)]

    def to_dict(self, ids: Sequence[str], names: Sequence[str]) -> Dict[str, Any]:
        """strategy.json's `label_next`."""
        return {"method": self.method, "reason": self.reason, "count": int(len(self.rows)), "file": CSV_FILE,
                "images": self.records(ids, names)}


def choose_method(labels: np.ndarray, num_classes: int) -> Tuple[str, str]:
    """(method, why) for the labels the run has (see the module docstring)."""
    per_class = len(labels) / num_classes
    if per_class < TYPICAL_BELOW_PER_CLASS:
        return METHOD_TYPICAL, (f"{per_class:.1f} labels per class (< {TYPICAL_BELOW_PER_CLASS}): the most typical image "
                                "of each large cluster no labelled image covers (TypiClust), as uncertain picks lose "
                                "to representative ones at such budgets")
    return METHOD_MARGIN, (f"{per_class:.1f} labels per class (>= {TYPICAL_BELOW_PER_CLASS}): the image the head is "
                           "least sure of (smallest margin between its top two classes) in each of the largest "
                           "clusters")


def _typicality(space: np.ndarray) -> np.ndarray:
    """Each row's inverse mean distance to its `NEIGHBOURS` nearest other rows."""
    from sklearn.neighbors import NearestNeighbors

    k = min(NEIGHBOURS + 1, len(space))
    distances, _ = NearestNeighbors(n_neighbors=k).fit(space).kneighbors(space)
    return 1.0 / (distances[:, 1:].mean(axis=1) + 1e-12)


def _clusters(space: np.ndarray, count: int, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=min(count, len(space)), n_init=3, random_state=seed).fit_predict(space)


def typical_picks(labelled: np.ndarray, pool: np.ndarray, budget: int, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """TypiClust: both sets clustered into (labelled rows + budget) clusters; from each cluster
    without a labelled row, largest first, the pool's most typical row. (pool rows, typicality)."""
    space = np.concatenate([labelled, pool])
    clusters = _clusters(space, len(labelled) + budget, seed)
    typicality = _typicality(space)
    covered = set(clusters[: len(labelled)].tolist())
    sizes = np.bincount(clusters)
    rows, scores = [], []
    for cluster in sorted(set(clusters.tolist()) - covered, key=lambda c: (-sizes[c], c))[:budget]:
        members = np.flatnonzero(clusters == cluster)
        members = members[members >= len(labelled)]
        best = members[np.argmax(typicality[members])]
        rows.append(best - len(labelled))
        scores.append(typicality[best])
    return np.asarray(rows, dtype=np.int64), np.asarray(scores)


def margin_picks(pool: np.ndarray, probabilities: np.ndarray, budget: int, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """The pool clustered into `budget` clusters; from each, largest first, the row of smallest
    margin between the head's top two probabilities. (pool rows, margins)."""
    ordered = np.sort(probabilities, axis=1)
    margins = ordered[:, -1] - ordered[:, -2]
    clusters = _clusters(pool, budget, seed)
    sizes = np.bincount(clusters)
    rows = [np.flatnonzero(clusters == c)[np.argmin(margins[clusters == c])]
            for c in sorted(set(clusters.tolist()), key=lambda c: (-sizes[c], c))]
    return np.asarray(rows, dtype=np.int64), margins[rows]


def rank(
    features: np.ndarray, labels: np.ndarray, unlabelled: np.ndarray, probabilities: np.ndarray, num_classes: int,
    budget: int, seed: int, blocks: probe.Blocks = None,
) -> Ranking:
    """The unlabelled rows to label next (at most `budget`), best first; `probabilities` are the
    head's on the unlabelled rows."""
    check_budget(budget)
    method, reason = choose_method(labels, num_classes)
    mean, variance = probe.standardization(np.concatenate([features, unlabelled]), blocks)
    space = (np.concatenate([features, unlabelled]) - mean) / np.sqrt(variance)
    labelled_space, pool = space[: len(features)], space[len(features):]
    budget = min(budget, len(unlabelled))
    if method == METHOD_TYPICAL:
        rows, scores = typical_picks(labelled_space, pool, budget, seed)
        why = "most typical of an uncovered cluster"
    else:
        rows, scores = margin_picks(pool, probabilities, budget, seed)
        why = "least sure within its cluster"
    predicted = probabilities[rows].argmax(axis=1)
    return Ranking(rows, scores, predicted, method, f"Label next: {len(rows)} image(s) by {method}: {reason}.", why)


def write_csv(ranking: Ranking, ids: Sequence[str], names: Sequence[str], run_dir: str) -> str:
    """Writes `CSV_FILE` into `run_dir` (through tf.io.gfile); returns its path."""
    path = os.path.join(run_dir, CSV_FILE)
    storage.write_ranked_csv(path, CSV_COLUMNS[1:], ranking.records(ids, names))
    return path


def list_next(
    features: Dict[str, np.ndarray], cut: str, labels: np.ndarray, unlabelled: Dict[str, np.ndarray],
    ids: Sequence[str], head, num_classes: int, budget: int, seed: int, names: Sequence[str], run_dir: str,
) -> Tuple[Dict[str, Any], str]:
    """The run's step: the ranking at the chosen `cut` with the exported `head`'s probabilities,
    `CSV_FILE` in `run_dir`, a printed line; returns strategy.json's `label_next` and a reason."""
    start = time.perf_counter()
    rows, blocks = cut_scores.candidate_features(features, cut)
    pool, _ = cut_scores.candidate_features(unlabelled, cut)
    ranking = rank(rows, np.asarray(labels), pool, head.predict(pool, verbose=0), num_classes, budget, seed, blocks)
    write_csv(ranking, ids, names, run_dir)
    progress.say(f"  FineTuner: {len(ranking.rows)} unlabelled image(s) to label next ({ranking.method}), in {CSV_FILE}")
    return {**ranking.to_dict(ids, names), "seconds": round(time.perf_counter() - start, 2)}, ranking.reason
