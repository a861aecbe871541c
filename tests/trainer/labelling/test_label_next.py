"""Label next: the budget rule, both methods on blobs, determinism, the CSV and bad budgets."""

import csv
import io

import numpy as np
import pytest

from tfx_transfer.trainer.labelling import label_next


def _blobs(seed: int = 0, per_blob: int = 40, blobs: int = 6):
    """`blobs` well-separated clusters in 8 dims; class = blob % 3."""
    rng = np.random.default_rng(seed)
    centres = 12.0 * rng.normal(size=(blobs, 8))
    which = np.repeat(np.arange(blobs), per_blob)
    return centres[which] + rng.normal(size=(len(which), 8)), which


def test_the_method_follows_the_labels_per_class():
    assert label_next.choose_method(5, 3)[0] == label_next.METHOD_TYPICAL  # 1.7 per class
    method, why = label_next.choose_method(6, 3)
    assert method == label_next.METHOD_MARGIN and why.startswith("2.0 labels per class (>= 2)")


def test_typical_picks_cover_the_clusters_no_labelled_image_covers():
    points, blob = _blobs()
    labelled = points[[0, 40]]  # two labelled images, in blobs 0 and 1: 6 clusters, one per blob
    rows, scores, uncovered = label_next.typical_picks(labelled, points, 4, seed=0)
    assert len(rows) == 4 and set(blob[rows]) == {2, 3, 4, 5}  # one pick in each uncovered blob
    assert np.all(scores > 0) and uncovered == 4


def test_a_pool_that_repeats_the_labelled_images_still_gets_its_budget():
    points, _ = _blobs(per_blob=5, blobs=6)  # 30 images, labelled and then offered again unlabelled
    ranking = label_next.rank(points, 3, points.copy(), np.full((30, 3), 1 / 3), 3, 5, seed=0)  # 1 per class: TypiClust
    assert len(ranking.rows) == len(set(ranking.rows.tolist())) == 5
    reasons = [r["reason"] for r in ranking.records([f"u{i}" for i in range(30)], ["a", "b", "c"])]
    assert reasons == ["most typical of a cluster a labelled image covers"] * 5


def test_margin_picks_take_the_least_sure_row_of_each_cluster():
    points, blob = _blobs(blobs=3)
    probabilities = np.tile([0.9, 0.05, 0.05], (len(points), 1))
    unsure = np.array([5, 50, 100])  # one per blob
    probabilities[unsure] = [0.4, 0.35, 0.25]
    rows, margins = label_next.margin_picks(points, probabilities, 3, seed=0)
    assert sorted(rows.tolist()) == unsure.tolist() and np.allclose(margins, 0.05)


def test_the_ranking_is_deterministic_under_a_seed_and_writes_its_csv(tmp_path):
    points, blob = _blobs()
    probabilities = np.full((len(points), 3), 1 / 3)
    first = label_next.rank(points[[0, 40, 80]], 3, points, probabilities, 3, 5, seed=1)
    second = label_next.rank(points[[0, 40, 80]], 3, points, probabilities, 3, 5, seed=1)
    assert first.rows.tolist() == second.rows.tolist() and len(first.rows) == 5
    assert first.method == label_next.METHOD_TYPICAL and first.reason.startswith("Label next: 5 image(s) by typiclust")
    ids = np.array([f"u/{i}.png" for i in range(len(points))], dtype=object)
    path = label_next.write_csv(first, ids, ["a", "b", "c"], str(tmp_path))
    rows = list(csv.reader(io.StringIO(open(path).read())))
    assert rows[0] == list(label_next.CSV_COLUMNS) and len(rows) == 6
    assert rows[1][:2] == ["1", f"u/{first.rows[0]}.png"] and rows[1][4] == "most typical of an uncovered cluster"
    record = first.to_dict(ids, ["a", "b", "c"])
    assert record["count"] == 5 and record["images"][0]["id"] == rows[1][1]


def test_a_budget_larger_than_the_pool_lists_the_pool():
    points, _ = _blobs(per_blob=10, blobs=3)
    ranking = label_next.rank(points[:3], 3, points[3:], np.full((27, 3), 1 / 3), 3, 50, seed=0)
    assert 0 < len(ranking.rows) <= 27 and len(set(ranking.rows.tolist())) == len(ranking.rows)


def test_too_few_unlabelled_images_for_typicality_are_named():
    points, _ = _blobs(per_blob=4, blobs=5)
    with pytest.raises(label_next.TooFewUnlabelledError,
                       match=r"^The pool holds 20 usable image\(s\), too few to rank by typiclust \(it needs at least 21\)"):
        label_next.rank(points[:3], 3, points, np.full((20, 3), 1 / 3), 3, 5, seed=0, what="The pool")
    ranking = label_next.rank(points[:3], 30, points, np.full((20, 3), 1 / 3), 3, 5, seed=0)  # margin needs 2
    assert ranking.method == label_next.METHOD_MARGIN and len(ranking.rows) == 5


def test_confused_pairs_count_both_directions_most_first():
    labels = np.array([0, 0, 1, 1, 2, 2, 3])
    predicted = np.array([1, 0, 0, 1, 3, 2, 3])  # 0<->1 twice, 2->3 once
    pairs = label_next.confused_pairs(labels, np.eye(4)[predicted], 4)
    assert pairs == ((0, 1, 2), (2, 3, 1))
    assert label_next.confused_pairs(labels, None, 4) == ()
    names = ["a", "b", "c", "d"]
    assert label_next.pairs_from_dicts(label_next.pairs_to_dicts(pairs, names, ["x", None]), names) == pairs


def test_an_uncovered_confused_pair_gets_the_image_least_sure_between_them():
    probabilities = np.array([[0.9, 0.02, 0.08], [0.8, 0.15, 0.05], [0.1, 0.45, 0.45], [0.1, 0.5, 0.4], [0.7, 0.3, 0.0]])
    rows, scores, covering, added = label_next.cover_pairs(np.array([0, 1]), np.array([5.0, 4.0]), probabilities,
                                                           [(0, 1, 3), (1, 2, 2)])
    # pair 0-1: row 1 already covers it and stays; pair 1-2: row 2 (gap 0) replaces the last other pick, row 0
    assert covering == (1, 2) and added == (False, True)
    assert rows.tolist() == [2, 1] and scores.tolist() == [0.0, 4.0]
    covering_none = label_next.cover_pairs(np.array([0]), np.array([1.0]), probabilities[:2], [(1, 2, 3)])[2:]
    assert covering_none == ((-1,), (False,))


def test_the_ranking_covers_the_confused_pair_and_says_why():
    points, blob = _blobs()
    probabilities = np.full((len(points), 3), [0.8, 0.15, 0.05])
    probabilities[7] = [0.1, 0.46, 0.44]  # the only image whose top two are 1 and 2
    ranking = label_next.rank(points[[0, 40, 80]], 3, points, probabilities, 3, 5, seed=1, pairs=[(1, 2, 4)])
    assert 7 in ranking.rows.tolist() and ranking.covering == (7,)
    ids = [f"u/{i}.png" for i in range(len(points))]
    record = ranking.to_dict(ids, ["a", "b", "c"])
    assert record["confused_pairs"] == [{"classes": ["b", "c"], "errors": 4, "covered_by": "u/7.png"}]
    assert [r["reason"] for r in record["images"] if r["id"] == "u/7.png"] == ["least sure between b and c, classes the head confuses"]
    assert "1 of the 1 pair(s) of classes the head confuses most are covered" in ranking.reason


def test_a_pick_that_already_covers_a_pair_keeps_its_own_reason():
    points, blob = _blobs()
    probabilities = np.full((len(points), 3), [0.45, 0.44, 0.11])  # every image's top two are a and b
    ranking = label_next.rank(points[[0, 40, 80]], 3, points, probabilities, 3, 5, seed=1, pairs=[(0, 1, 2)])
    assert ranking.added == (False,) and ranking.covering[0] in ranking.rows.tolist()
    reasons = {r["id"]: r["reason"] for r in ranking.records([str(i) for i in range(len(points))], ["a", "b", "c"])}
    assert reasons[str(ranking.covering[0])] == ("most typical of an uncovered cluster; its top two, a and b, are "
                                                "classes the head confuses")


@pytest.mark.parametrize("budget", [0, -3, 2.5, "10"])
def test_a_bad_budget_is_named(budget):
    with pytest.raises(label_next.LabelBudgetError, match=f"label_budget={budget!r} is invalid; valid values are ints >= 1"):
        label_next.check_budget(budget)


def test_many_rows_are_clustered_by_mini_batch_k_means_deterministically(monkeypatch):
    points, blob = _blobs()
    labelled = points[[0, 40]]
    monkeypatch.setattr(label_next, "MINI_BATCH_FROM_ROWS", 100)  # 242 rows count as many
    first = label_next.typical_picks(labelled, points, 4, seed=0)
    second = label_next.typical_picks(labelled, points, 4, seed=0)
    assert first[0].tolist() == second[0].tolist() and len(first[0]) == 4
    assert set(blob[first[0]]) == {2, 3, 4, 5}  # one pick in each uncovered blob, as k-means gives
