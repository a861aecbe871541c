"""Training images whose given label looks wrong: confident learning on out-of-fold probabilities.

Label errors are common where users label by hand (benchmark test sets carry >= 3.3 % of them,
arXiv 2103.14749; single CIFAR-10 annotators mislabel 17-18 %, arXiv 2110.12088), and a few of
them cost a small labelled set more than a large one. Confident learning (Northcutt et al.
2021) flags an image when the probability a model that never trained on it gives its given
label falls below that class's own confidence threshold, with the expected number of errors
per pair of classes estimated from the same probabilities. It is cleanlab 2.x's
`find_label_issues`, used here as the library ships it.

The probabilities come from the run's head on the chosen cut, refitted once per fold of a
stratified k-fold split of every training row (`out_of_fold_probabilities`): the run's own
validation plan may check only a 20 % holdout, and every row needs a probability from a model
that did not see it. The list is advice: the run still trains on every row, and the user
decides.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from tfx_transfer.trainer.common import progress
from tfx_transfer.trainer.data import storage
from tfx_transfer.trainer.labelling import thumbnails
from tfx_transfer.trainer.selection import cut_scores, probe, validation

METHOD = "confident learning (cleanlab.filter.find_label_issues, prune_by_noise_rate, ranked by self-confidence)"
# How many suspects strategy.json and the printed summary list (the CSV lists every one).
LISTED = 50
PRINTED = 10
CSV_FILE = "suspect_labels.csv"
# From this many labelled rows, two folds: each fold's probe still sees thousands of rows, and
# the step costs 2 fits on half the rows instead of 5 on four fifths. Measured at 20,000 rows x
# 1,280 dims, 10 classes, 10 % flipped (bench/labelling_cost.py's data): 5 folds 22.9 s, recall
# 0.96 at precision 0.95; 2 folds 7.1 s, recall 0.97 at precision 0.98.
TWO_FOLDS_FROM_ROWS = 10_000
CSV_COLUMNS = ("rank", "id", "given", "suggested", "score")  # rank, then the records' keys


@dataclasses.dataclass(frozen=True)
class Suspects:
    """The flagged rows, most suspect first, with the probability of their given label
    (`score`, lower is more suspect) and the most probable other class; or why none were looked for."""

    rows: np.ndarray
    given: np.ndarray
    suggested: np.ndarray
    scores: np.ndarray
    checked: int
    reason: str

    def records(self, ids: Sequence[str], names: Sequence[str], limit: Optional[int] = None) -> List[Dict[str, Any]]:
        """The first `limit` (None: all) suspects as dicts of id, given and suggested label names, score."""
        count = len(self.rows) if limit is None else min(limit, len(self.rows))
        return [{"id": str(ids[self.rows[i]]), "given": names[self.given[i]], "suggested": names[self.suggested[i]],
                 "score": round(float(self.scores[i]), 4)} for i in range(count)]

    def to_dict(self, ids: Sequence[str], names: Sequence[str]) -> Dict[str, Any]:
        """strategy.json's `suspect_labels`: the method, the counts and the first `LISTED` suspects."""
        return {"method": METHOD, "checked": self.checked, "count": int(len(self.rows)), "reason": self.reason,
                "file": CSV_FILE, "images": self.records(ids, names, LISTED)}


_HOW = "(confident learning on out-of-fold probabilities)"


def _none(checked: int, reason: str) -> Suspects:
    empty = np.zeros([0], dtype=np.int64)
    return Suspects(empty, empty, empty, np.zeros([0]), checked, reason)


def out_of_fold_probabilities(
    features: np.ndarray, labels: np.ndarray, C: float, seed: int, num_classes: int, blocks: probe.Blocks = None,
) -> Optional[np.ndarray]:
    """Each row's class probabilities from the probe (strength `C`) fitted on the other folds of
    `validation.kfold_plan` (None when a class has one row; two folds from `TWO_FOLDS_FROM_ROWS`
    rows), with the scoring fits' iteration cap: the ranking is what counts, and it bounds the cost."""
    plan = validation.kfold_plan(labels, seed, 2 if len(labels) >= TWO_FOLDS_FROM_ROWS else validation.MAX_FOLDS)
    if not plan.usable:
        return None
    return validation.out_of_fold(plan, len(labels), lambda train, val: probe.fit_probe(
        features[train], labels[train], C, seed, num_classes, blocks, probe.SCORING_MAX_ITER).probabilities(features[val]))


def find_suspects(labels: np.ndarray, probabilities: Optional[np.ndarray]) -> Suspects:
    """The rows confident learning flags, most suspect first (see the module docstring)."""
    from cleanlab.filter import find_label_issues

    labels = np.asarray(labels, dtype=np.int64)
    if probabilities is None:
        return _none(0, "Suspect labels were not looked for: a class has a single labelled image, so no model can "
                        "judge it without having seen it.")
    # n_jobs=1: no worker processes forked from a process that holds TensorFlow (and Beam's workers).
    rows = find_label_issues(labels, probabilities, return_indices_ranked_by="self_confidence",
                             min_examples_per_class=0, n_jobs=1)
    rows = np.asarray(rows, dtype=np.int64)
    given = labels[rows]
    others = probabilities[rows].copy()
    others[np.arange(len(rows)), given] = -1.0
    scores = probabilities[rows, given]
    reason = (f"{len(rows)} of {len(labels)} training image(s) have a label that looks wrong {_HOW}; they are "
              f"listed in {CSV_FILE}, most suspect first. The run still trained on them: check them and relabel or "
              "remove, or set drop_suspect_labels.") if len(rows) else (
              f"No label among the {len(labels)} training images looks wrong {_HOW}.")
    return Suspects(rows, given, others.argmax(axis=1), scores, len(labels), reason)


# A class keeps at least this many labelled images when suspects are dropped: the validation
# plan needs two per class, and a class emptied by its own suspects would vanish from the model.
MIN_KEPT_PER_CLASS = 2


def droppable(suspects: Suspects, labels: np.ndarray) -> np.ndarray:
    """The suspects' rows that can be dropped, most suspect first, leaving every class of
    `labels` at least `MIN_KEPT_PER_CLASS` images."""
    left = np.bincount(np.asarray(labels, dtype=np.int64))
    rows = []
    for row, given in zip(suspects.rows.tolist(), suspects.given.tolist()):
        if left[given] > MIN_KEPT_PER_CLASS:
            left[given] -= 1
            rows.append(row)
    return np.asarray(rows, dtype=np.int64)


def as_dropped(
    suspects: Suspects, dropped: np.ndarray, record: Dict[str, Any], ids: Sequence[str]
) -> Tuple[Dict[str, Any], str]:
    """strategy.json's `suspect_labels` and the reason sentence of a run that trained again
    without the `dropped` rows (`drop_suspect_labels`)."""
    return ({**record, "dropped": int(len(dropped)), "dropped_ids": [str(ids[row]) for row in dropped]},
            f"{len(suspects.rows)} of {suspects.checked} training image(s) had a label that looks wrong (listed in "
            f"{CSV_FILE}); {len(dropped)} were dropped (drop_suspect_labels; every class keeps {MIN_KEPT_PER_CLASS} or "
            "more): the model, its validation plan and the gate used the other training images.")


def write_csv(suspects: Suspects, ids: Sequence[str], names: Sequence[str], run_dir: str) -> str:
    """Writes `CSV_FILE` into `run_dir` (through tf.io.gfile); returns its path."""
    path = os.path.join(run_dir, CSV_FILE)
    storage.write_ranked_csv(path, CSV_COLUMNS[1:], suspects.records(ids, names))
    return path


def check_labels(
    features: Dict[str, np.ndarray], cut: str, labels: np.ndarray, C: float, seed: int, num_classes: int,
    ids: Sequence[str], names: Sequence[str], run_dir: str, images: Optional[thumbnails.ImageLookup] = None,
) -> Tuple[Suspects, Dict[str, Any], str]:
    """The run's step: suspects among the labelled rows at the chosen `cut` (the head's `C`),
    `CSV_FILE` in `run_dir`, thumbnails of the listed ones (from `images`), the count and the
    first `PRINTED` printed; returns the suspects, strategy.json's `suspect_labels` and a
    sentence for the reasons."""
    start = time.perf_counter()
    rows, blocks = cut_scores.candidate_features(features, cut)
    labels = np.asarray(labels, dtype=np.int64)
    suspects = find_suspects(labels, out_of_fold_probabilities(rows, labels, C, seed, num_classes, blocks))
    write_csv(suspects, ids, names, run_dir)
    progress.say(f"  FineTuner: {len(suspects.rows)} suspect label(s) among {len(labels)} training image(s)")
    for record in suspects.records(ids, names, PRINTED):
        progress.say(f"    {record['id']}: given {record['given']!r}, looks like {record['suggested']!r} "
                     f"(p(given) = {record['score']:.3f})")
    record = suspects.to_dict(ids, names)
    record["images"] = thumbnails.add_thumbnails(record["images"], images, run_dir, "suspect_labels")
    return suspects, {**record, "seconds": round(time.perf_counter() - start, 2)}, suspects.reason
