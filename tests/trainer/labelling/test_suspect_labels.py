"""Suspect labels: planted flips are found, ranked and written; too few rows say why."""

import csv
import io

import numpy as np

from tfx_transfer.trainer.labelling import suspect_labels


def _flipped(seed: int = 0, rows_per_class: int = 40, flips: int = 8):
    """Three well-separated classes in 6 dims, with `flips` labels moved to the next class."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), rows_per_class)
    features = rng.normal(size=(len(labels), 6)) + 4.0 * np.eye(6)[labels]
    planted = rng.choice(len(labels), flips, replace=False)
    given = labels.copy()
    given[planted] = (labels[planted] + 1) % 3
    return features, labels, given, planted


def _suspects(features, given):
    probabilities = suspect_labels.out_of_fold_probabilities(features, given, 1.0, 0, 3)
    return suspect_labels.find_suspects(given, probabilities)


def test_planted_flips_are_found_and_their_true_class_suggested():
    features, truth, given, planted = _flipped()
    suspects = _suspects(features, given)
    found = set(suspects.rows.tolist())
    hits = found & set(planted.tolist())
    assert len(hits) >= 6 and len(found - hits) <= 2  # 8 planted among 120
    by_row = dict(zip(suspects.rows.tolist(), suspects.suggested.tolist()))
    assert [by_row[row] for row in sorted(hits)] == truth[sorted(hits)].tolist()
    assert np.all(np.diff(suspects.scores) >= 0)  # the most suspect (lowest self-confidence) first
    assert suspects.checked == len(given) and "look" in suspects.reason


def test_clean_labels_flag_nothing():
    features, truth, _, _ = _flipped()
    suspects = _suspects(features, truth)
    assert len(suspects.rows) == 0 and suspects.reason.startswith("No label among the 120")


def test_the_same_seed_gives_the_same_list():
    features, _, given, _ = _flipped(seed=3)
    first, second = _suspects(features, given), _suspects(features, given)
    assert first.rows.tolist() == second.rows.tolist() and len(first.rows) > 0


def test_a_class_with_one_image_is_not_judged():
    features, _, given, _ = _flipped()
    given = given.copy()
    given[0] = 3  # a fourth class with a single image
    assert suspect_labels.out_of_fold_probabilities(features, given, 1.0, 0, 4) is None
    suspects = suspect_labels.find_suspects(given, None)
    assert len(suspects.rows) == 0 and "a class has a single labelled image" in suspects.reason


def test_the_record_and_the_csv_name_ids_and_labels(tmp_path):
    features, _, given, planted = _flipped()
    suspects = _suspects(features, given)
    ids = np.array([f"class/{i}.png" for i in range(len(given))], dtype=object)
    names = ["a", "b", "c"]
    record = suspects.to_dict(ids, names)
    assert record["count"] == len(suspects.rows) and record["file"] == "suspect_labels.csv"
    first = record["images"][0]
    assert first["id"] == f"class/{suspects.rows[0]}.png" and first["given"] == names[given[suspects.rows[0]]]
    path = suspect_labels.write_csv(suspects, ids, names, str(tmp_path))
    rows = list(csv.reader(io.StringIO(open(path).read())))
    assert rows[0] == list(suspect_labels.CSV_COLUMNS) and len(rows) == len(suspects.rows) + 1
    assert rows[1][:4] == ["1", first["id"], first["given"], first["suggested"]]


def test_many_rows_use_two_folds_and_still_find_the_flips(monkeypatch):
    from tfx_transfer.trainer.selection import validation

    planned = []
    real = validation.kfold_plan
    monkeypatch.setattr(validation, "kfold_plan", lambda *args: planned.append(real(*args)) or planned[-1])
    features, _, given, planted = _flipped()
    _suspects(features, given)
    monkeypatch.setattr(suspect_labels, "TWO_FOLDS_FROM_ROWS", 100)  # 120 rows count as many
    found = set(_suspects(features, given).rows.tolist())
    assert [len(plan.folds) for plan in planned] == [5, 2]
    assert len(found & set(planted.tolist())) >= 6
