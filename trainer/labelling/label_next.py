"""Which unlabelled images to label next: representative picks while labels are few, uncertain
ones within clusters once the head is strong.

At a few labels per class the obvious answer, the images the model is least sure of, is wrong:
on ImageNet with frozen self-supervised features, max-entropy picks scored 8-14 points below
random ones at 1-13 labels per class, while images nearest to k-means centres scored 2-9 above
(arXiv 2110.12033); TypiClust (Hacohen et al. 2022, arXiv 2202.02794) picks the most typical
image of each large cluster that no labelled image covers. With more labels, uncertainty pays,
spread over clusters so the picks are not near-duplicates. Where the crossover lies depends on
how good the features are, so we measured it (`bench/label_next_methods.py`: cached digits
bottlenecks, 50 picks from 1,000 unlabelled images labelled and added, the probe refitted as the
run refits it, with labels spread to the rest of the pool; points over the mean of 6 random
picks, 5 seeds):

    labels/class   task, cut                     TypiClust   lowest margin within clusters
    1              digits, the run's cut         +4.0        +3.7
    1              inverted, the run's cut       +3.7        +2.7
    2              digits, the run's cut         +2.1        +2.5
    2              inverted, the run's cut       +2.2        +2.4
    2              digits, pool_1 (a weak cut)   +1.3        -0.4
    2              inverted, pool_1              +0.5        +1.5
    5              digits, the run's cut         +1.1        +1.5
    5              inverted, the run's cut       +1.3        +1.9

and on full reruns of the FineTuner (`bench/label_next.py`, 5 labels per class): TypiClust +0.4
and +0.6, the margin rule +2.2 and +2.1. So `choose_method` takes TypiClust below
`TYPICAL_BELOW_PER_CLASS` labels per class, where the head has seen one image of a class and
cannot be validated, and the lowest margin within k-means clusters from there on. Both work in
the probe's standardised space of the chosen cut, on labelled and unlabelled rows together.

Either way the list then covers the classes the head confuses most (`confused_pairs`: the
pairs of classes its out-of-fold predictions mix up most often): a pair no pick's top two
predicted classes name gets the unlabelled image the head is least sure of between those two,
in place of the last pick. A labeller's hour goes to the boundary the head gets wrong.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from tfx_transfer.trainer.common import checks, progress
from tfx_transfer.trainer.data import storage
from tfx_transfer.trainer.labelling import thumbnails
from tfx_transfer.trainer.selection import cut_scores, probe
from tfx_transfer.trainer.selection import strategy as strategy_lib

METHOD_TYPICAL = "typiclust"
METHOD_MARGIN = "margin_in_clusters"
TYPICAL_BELOW_PER_CLASS = 2
DEFAULT_BUDGET = strategy_lib.DEFAULT_LABEL_BUDGET
# Neighbours that define an image's typicality (the inverse of its mean distance to them).
NEIGHBOURS = 20
# From this many rows to cluster, mini-batch k-means with one init: the list needs a fair
# partition, not the best of three. Measured on 20,000 rows x 1,280 dims, 50 clusters: k-means
# with 3 inits 9.3 s, mini-batch 2.1 s.
MINI_BATCH_FROM_ROWS = 10_000
# The pairs of classes the list covers (`confused_pairs`), most confused first.
CONFUSED_PAIRS = 3
CSV_FILE = "label_next.csv"
CSV_COLUMNS = ("rank", "id", "score", "predicted", "reason")  # rank, then the records' keys


class LabelBudgetError(ValueError):
    """A label budget that is not a positive int."""


class TooFewUnlabelledError(ValueError):
    """Too few unlabelled images for the method the label count calls for."""


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
    whys: Tuple[str, ...]  # why each row was picked
    # Confused pairs (class a, class b, out-of-fold errors between them) and, for each, the
    # pool row picked to cover it (-1: none of the unlabelled images has that pair as its top two).
    pairs: Tuple[Tuple[int, int, int], ...] = ()
    covering: Tuple[int, ...] = ()
    added: Tuple[bool, ...] = ()  # whether each pair's row was put in for it, or was picked anyway

    def _why(self, position: int, names: Sequence[str]) -> str:
        for (a, b, _), picked, added in zip(self.pairs, self.covering, self.added):
            if picked == self.rows[position]:
                return (f"least sure between {names[a]} and {names[b]}, classes the head confuses" if added else
                        f"{self.whys[position]}; its top two, {names[a]} and {names[b]}, are classes the head confuses")
        return self.whys[position]

    def records(self, ids: Sequence[str], names: Sequence[str]) -> List[Dict[str, Any]]:
        return [{"id": str(ids[row]), "score": round(float(self.scores[i]), 4), "predicted": names[int(self.predicted[i])],
                 "reason": self._why(i, names)} for i, row in enumerate(self.rows)]

    def to_dict(self, ids: Sequence[str], names: Sequence[str]) -> Dict[str, Any]:
        """strategy.json's `label_next`."""
        return {"method": self.method, "reason": self.reason, "count": int(len(self.rows)), "file": CSV_FILE,
                "confused_pairs": pairs_to_dicts(self.pairs, names, [ids[r] if r >= 0 else None for r in self.covering]),
                "images": self.records(ids, names)}


def choose_method(labelled: int, num_classes: int) -> Tuple[str, str]:
    """(method, why) for the `labelled` images the run has (see the module docstring)."""
    per_class = labelled / num_classes
    if per_class < TYPICAL_BELOW_PER_CLASS:
        return METHOD_TYPICAL, (f"{per_class:.1f} labels per class (< {TYPICAL_BELOW_PER_CLASS}): the most typical image "
                                "of each large cluster no labelled image covers (TypiClust), as a head that has seen "
                                "one image of a class cannot be validated and its uncertainty says little")
    return METHOD_MARGIN, (f"{per_class:.1f} labels per class (>= {TYPICAL_BELOW_PER_CLASS}): the image the head is "
                           "least sure of (smallest margin between its top two classes) in each of the largest "
                           "clusters")


def min_pool(method: str) -> int:
    """The fewest unlabelled images `method` can rank: typicality is the mean distance to
    `NEIGHBOURS` others; clusters need two images."""
    return NEIGHBOURS + 1 if method == METHOD_TYPICAL else 2


def check_pool(pool_size: int, method: str, what: str) -> None:
    """Raises TooFewUnlabelledError when `pool_size` images are too few for `method`."""
    if pool_size < min_pool(method):
        raise TooFewUnlabelledError(
            f"{what} holds {pool_size} usable image(s), too few to rank by {method} (it needs at least "
            f"{min_pool(method)}); add unlabelled images.")


def confused_pairs(
    labels: np.ndarray, probabilities: Optional[np.ndarray], num_classes: int, limit: int = CONFUSED_PAIRS,
) -> Tuple[Tuple[int, int, int], ...]:
    """The pairs of classes (a < b, errors) the head's out-of-fold `probabilities` mix up most
    often, either way round, most first; pairs with no error are left out."""
    if probabilities is None:
        return ()
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(labels, dtype=np.int64), probabilities.argmax(axis=1)), 1)
    both = np.triu(counts + counts.T, k=1)
    order = sorted(zip(*np.nonzero(both)), key=lambda ab: (-both[ab], ab))[:limit]
    return tuple((int(a), int(b), int(both[a, b])) for a, b in order)


def pairs_to_dicts(pairs, names: Sequence[str], covered_by: Sequence[Optional[str]]) -> List[Dict[str, Any]]:
    """strategy.json's `confused_pairs`: the class names, the errors and the id picked to cover each."""
    return [{"classes": [names[a], names[b]], "errors": errors, "covered_by": None if by is None else str(by)}
            for (a, b, errors), by in zip(pairs, covered_by)]


def pairs_from_dicts(listed: Any, names: Sequence[str]) -> Tuple[Tuple[int, int, int], ...]:
    """`pairs_to_dicts`'s pairs back as class indices (those naming a class not in `names` skipped)."""
    index = {name: i for i, name in enumerate(names)}
    return tuple((index[p["classes"][0]], index[p["classes"][1]], int(p.get("errors", 0))) for p in listed or []
                 if isinstance(p, dict) and len(p.get("classes") or []) == 2 and all(c in index for c in p["classes"]))


def cover_pairs(
    rows: np.ndarray, scores: np.ndarray, probabilities: np.ndarray, pairs: Sequence[Tuple[int, int, int]],
) -> Tuple[np.ndarray, np.ndarray, Tuple[int, ...]]:
    """`rows` (and their `scores`) with each of `pairs` covered: when no row's top two classes
    are the pair, the pool row least sure between the two (smallest gap between their
    probabilities, among rows whose top two they are) replaces the last pick not already
    covering a pair. Returns (rows, scores, the row covering each pair or -1, whether it was put
    in for the pair)."""
    rows, scores = rows.copy(), scores.astype(np.float64).copy()
    top_two = np.sort(np.argsort(probabilities, axis=1)[:, -2:], axis=1)
    covering, kept, added = [], [], []
    for pair in pairs:
        a, b = sorted(pair[:2])
        on_pair = (top_two[:, 0] == a) & (top_two[:, 1] == b)
        already = [row for row in rows.tolist() if on_pair[row]]
        candidates = np.flatnonzero(on_pair)
        slot = next((i for i in range(len(rows) - 1, -1, -1) if rows[i] not in kept), None)
        if already or not len(candidates) or slot is None:
            covering.append(already[0] if already else -1)
            kept += already[:1]
            added.append(False)
            continue
        gaps = np.abs(probabilities[candidates, a] - probabilities[candidates, b])
        best = candidates[np.argmin(gaps)]
        rows[slot], scores[slot] = best, gaps.min()
        covering.append(int(best))
        kept.append(int(best))
        added.append(True)
    return rows, scores, tuple(covering), tuple(added)


def _typicality(space: np.ndarray) -> np.ndarray:
    """Each row's inverse mean distance to its `NEIGHBOURS` nearest other rows."""
    from sklearn.neighbors import NearestNeighbors

    k = min(NEIGHBOURS + 1, len(space))
    distances, _ = NearestNeighbors(n_neighbors=k).fit(space).kneighbors(space)
    return 1.0 / (distances[:, 1:].mean(axis=1) + 1e-12)


def _clusters(space: np.ndarray, count: int, seed: int) -> np.ndarray:
    """k-means labels of `space`'s rows; mini-batch k-means (one init) from `MINI_BATCH_FROM_ROWS`."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    count = min(count, len(space))
    if len(space) >= MINI_BATCH_FROM_ROWS:
        return MiniBatchKMeans(n_clusters=count, n_init=1, batch_size=2048, random_state=seed).fit_predict(space)
    return KMeans(n_clusters=count, n_init=3, random_state=seed).fit_predict(space)


def typical_picks(
    labelled: np.ndarray, pool: np.ndarray, budget: int, seed: int,
) -> Tuple[np.ndarray, np.ndarray, int]:
    """TypiClust: both sets clustered into (labelled rows + budget) clusters; from each cluster
    without a labelled row, largest first, the pool's most typical row. Where those are fewer
    than `budget` (a pool that repeats labelled images), the clusters labelled rows cover
    follow, largest first. (pool rows, typicality, how many came from uncovered clusters)."""
    space = np.concatenate([labelled, pool])
    clusters = _clusters(space, len(labelled) + budget, seed)
    typicality = _typicality(space)
    covered = set(clusters[: len(labelled)].tolist())
    sizes = np.bincount(clusters)
    by_size = sorted(set(clusters.tolist()), key=lambda c: (-sizes[c], c))
    rows, scores, uncovered = [], [], 0
    for cluster in [c for c in by_size if c not in covered] + [c for c in by_size if c in covered]:
        if len(rows) == budget:
            break
        members = np.flatnonzero(clusters == cluster)
        members = members[members >= len(labelled)]
        if not len(members):
            continue
        best = members[np.argmax(typicality[members])]
        rows.append(best - len(labelled))
        scores.append(typicality[best])
        uncovered += cluster not in covered
    return np.asarray(rows, dtype=np.int64), np.asarray(scores), uncovered


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
    features: np.ndarray, labelled: int, unlabelled: np.ndarray, probabilities: np.ndarray, num_classes: int,
    budget: int, seed: int, blocks: probe.Blocks = None, pairs: Sequence[Tuple[int, int, int]] = (),
    what: str = "The unlabelled set",
) -> Ranking:
    """The unlabelled rows to label next (at most `budget`), best first, covering the confused
    `pairs`; `features` are (a sample of) the `labelled` images' vectors, `probabilities` the
    head's on the unlabelled rows. Raises TooFewUnlabelledError, naming `what`, on too few."""
    check_budget(budget)
    method, reason = choose_method(labelled, num_classes)
    check_pool(len(unlabelled), method, what)
    mean, variance = probe.standardization(np.concatenate([features, unlabelled]), blocks)
    space = (np.concatenate([features, unlabelled]) - mean) / np.sqrt(variance)
    labelled_space, pool = space[: len(features)], space[len(features):]
    budget = min(budget, len(unlabelled))
    if method == METHOD_TYPICAL:
        rows, scores, uncovered = typical_picks(labelled_space, pool, budget, seed)
        whys = ("most typical of an uncovered cluster",) * uncovered + (
            "most typical of a cluster a labelled image covers",) * (len(rows) - uncovered)
    else:
        rows, scores = margin_picks(pool, probabilities, budget, seed)
        whys = ("least sure within its cluster",) * len(rows)
    rows, scores, covering, added = cover_pairs(rows, scores, probabilities, pairs)
    covered = sum(row >= 0 for row in covering)
    reason += (f"; {covered} of the {len(pairs)} pair(s) of classes the head confuses most are covered by the image "
               "it is least sure of between them" if pairs else "")
    predicted = probabilities[rows].argmax(axis=1)
    return Ranking(rows, scores, predicted, method, f"Label next: {len(rows)} image(s) by {method}: {reason}.", whys,
                   tuple(pairs), covering, added)


def write_csv(ranking: Ranking, ids: Sequence[str], names: Sequence[str], run_dir: str) -> str:
    """Writes `CSV_FILE` into `run_dir` (through tf.io.gfile); returns its path."""
    path = os.path.join(run_dir, CSV_FILE)
    storage.write_ranked_csv(path, CSV_COLUMNS[1:], ranking.records(ids, names))
    return path


def list_next(
    features: Dict[str, np.ndarray], cut: str, labels: np.ndarray, unlabelled: Dict[str, np.ndarray],
    ids: Sequence[str], head, pairs: Sequence[Tuple[int, int, int]], num_classes: int, budget: int, seed: int,
    names: Sequence[str], run_dir: str, images: Optional[thumbnails.ImageLookup] = None,
) -> Tuple[Dict[str, Any], str]:
    """The run's step: the ranking at the chosen `cut` with the exported `head`'s probabilities,
    covering the confused `pairs`, `CSV_FILE` in `run_dir`, thumbnails of the first listed
    (from `images`), a printed line; returns strategy.json's `label_next` and a reason. Too few unlabelled images for the method skip
    the list, with the reason: it is advice, and the run goes on."""
    start = time.perf_counter()
    rows, blocks = cut_scores.candidate_features(features, cut)
    pool, _ = cut_scores.candidate_features(unlabelled, cut)
    try:
        ranking = rank(rows, len(labels), pool, head.predict(pool, verbose=0), num_classes, budget, seed, blocks,
                       pairs, "The unlabelled set (unlabelled_root)")
    except TooFewUnlabelledError as error:
        progress.say(f"  FineTuner: no label-next list: {error}")
        return {"count": 0, "reason": f"Label next: no list. {error}", "images": []}, f"Label next: no list. {error}"
    write_csv(ranking, ids, names, run_dir)
    progress.say(f"  FineTuner: {len(ranking.rows)} unlabelled image(s) to label next ({ranking.method}), in {CSV_FILE}")
    record = ranking.to_dict(ids, names)
    record["images"] = thumbnails.add_thumbnails(record["images"], images, run_dir, "label_next")
    return {**record, "seconds": round(time.perf_counter() - start, 2)}, ranking.reason
