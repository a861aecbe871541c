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
    assert label_next.choose_method(np.zeros(27, int), 3)[0] == label_next.METHOD_TYPICAL  # 9 per class
    method, why = label_next.choose_method(np.zeros(30, int), 3)
    assert method == label_next.METHOD_MARGIN and why.startswith("10.0 labels per class (>= 10)")


def test_typical_picks_cover_the_clusters_no_labelled_image_covers():
    points, blob = _blobs()
    labelled = points[[0, 40]]  # two labelled images, in blobs 0 and 1: 6 clusters, one per blob
    rows, scores = label_next.typical_picks(labelled, points, 4, seed=0)
    assert len(rows) == 4 and set(blob[rows]) == {2, 3, 4, 5}  # one pick in each uncovered blob
    assert np.all(scores > 0)


def test_margin_picks_take_the_least_sure_row_of_each_cluster():
    points, blob = _blobs(blobs=3)
    probabilities = np.tile([0.9, 0.05, 0.05], (len(points), 1))
    unsure = np.array([5, 50, 100])  # one per blob
    probabilities[unsure] = [0.4, 0.35, 0.25]
    rows, margins = label_next.margin_picks(points, probabilities, 3, seed=0)
    assert sorted(rows.tolist()) == unsure.tolist() and np.allclose(margins, 0.05)


def test_the_ranking_is_deterministic_under_a_seed_and_writes_its_csv(tmp_path):
    points, blob = _blobs()
    labels = np.array([0, 1, 2])
    probabilities = np.full((len(points), 3), 1 / 3)
    first = label_next.rank(points[[0, 40, 80]], labels, points, probabilities, 3, 5, seed=1)
    second = label_next.rank(points[[0, 40, 80]], labels, points, probabilities, 3, 5, seed=1)
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
    points, _ = _blobs(per_blob=3, blobs=3)
    ranking = label_next.rank(points[:3], np.array([0, 1, 2]), points[3:], np.full((6, 3), 1 / 3), 3, 50, seed=0)
    assert len(ranking.rows) <= 6 and len(set(ranking.rows.tolist())) == len(ranking.rows)


@pytest.mark.parametrize("budget", [0, -3, 2.5, "10"])
def test_a_bad_budget_is_named(budget):
    with pytest.raises(label_next.LabelBudgetError, match=f"label_budget={budget!r} is invalid; valid values are ints >= 1"):
        label_next.check_budget(budget)
