"""The probe head, the validation plans, and the choice of the cut by measurement."""

from __future__ import annotations

import numpy as np
import pytest

from tfx_transfer.trainer.selection import probe, cut_scores, validation
from tfx_transfer.trainer.training.head import HeadConfig


def _blobs(per_class, num_classes=3, dim=8, seed=0, spread=3.0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(num_classes), per_class)
    return rng.normal(size=(num_classes, dim))[labels] * spread + rng.normal(size=(labels.size, dim)), labels


@pytest.mark.parametrize("per_class, kind, folds", [(1, "none", 0), (4, "cross_validation", 4), (12, "cross_validation", 5), (40, "holdout", 1)])
def test_the_plan_follows_the_smallest_class(per_class, kind, folds):
    _, labels = _blobs(per_class)
    plan = validation.make_plan(labels, seed=0)
    assert (plan.kind, len(plan.folds)) == (kind, folds)
    for train, val in plan.folds:
        assert set(train).isdisjoint(val) and set(np.unique(labels[train])) == {0, 1, 2}


def test_a_given_validation_split_is_the_one_fold():
    plan = validation.make_plan(np.array([0, 1, 0, 1]), 0, validation_labels=np.array([1, 0]))
    (train, val), = plan.folds
    assert plan.kind == "validation_split" and list(train) == [0, 1, 2, 3] and list(val) == [4, 5]


@pytest.mark.parametrize("num_classes", [2, 3])
def test_the_keras_probe_head_computes_the_probe(num_classes):
    features, labels = _blobs(10, num_classes)
    fit = probe.fit_probe(features, labels, 1.0, seed=0, num_classes=num_classes)
    head = probe.probe_head(fit, num_classes, HeadConfig(), seed=0)
    np.testing.assert_allclose(head(features.astype(np.float32)).numpy(), fit.probabilities(features), atol=1e-4)


def test_a_rarely_active_feature_is_not_standardised_to_full_loudness():
    rng = np.random.default_rng(0)
    common = rng.normal(0.0, 2.0, size=400)
    rare = np.zeros(400)
    rare[:2] = 1.0  # a ReLU unit that fires twice
    variance = probe.shrunk_variance(np.stack([common, rare], axis=1))
    raw = np.array([common.var(), rare.var()])
    assert variance[1] > 100 * raw[1]  # shrunk toward the mean variance: no 1/sqrt(tiny) blow-up
    assert raw[0] > variance[0] > variance[1]
    np.testing.assert_allclose(variance.mean(), raw.mean())


def test_a_class_missing_from_training_is_never_predicted():
    features, labels = _blobs(10, 3)
    rows = labels != 1
    fit = probe.fit_probe(features[rows], labels[rows], 1.0, seed=0, num_classes=3)
    probabilities = fit.probabilities(features)
    assert probabilities.shape == (30, 3) and probabilities[:, 1].max() < 1e-6


def test_selection_scores_every_cut_and_their_combination():
    informative, labels = _blobs(10)
    noise = np.random.default_rng(1).normal(size=(30, 5))
    plan = validation.make_plan(labels, seed=0)
    scores = cut_scores.score_cuts({"noise": noise, "good": informative}, labels, 3, plan, seed=0)
    assert [(s.cut, s.dim, s.combined) for s in scores] == [("noise", 5, False), ("good", 8, False), ("noise+good", 13, True)]
    bad, good, _ = scores
    assert good.probe_accuracy > bad.probe_accuracy and good.knn_accuracy > bad.knn_accuracy
    assert good.C in probe.C_GRID
    assert cut_scores.chosen(scores).cut != "noise" and sum(s.chosen for s in scores) == 1
    forced = cut_scores.score_cuts({"noise": noise, "good": informative}, labels, 3, plan, seed=0, only="noise")
    assert [s.cut for s in forced] == ["noise", "good"] and cut_scores.chosen(forced).cut == "noise"
    assert set(scores[0].to_dict()) == {
        "cut", "dim", "probe_accuracy", "knn_accuracy", "logme", "C", "seconds", "chosen", "combined", "accuracy_by_C"}
    by_C = scores[0].to_dict()["accuracy_by_C"]
    assert list(by_C) == [f"{C:g}" for C in probe.C_GRID]
    assert by_C[f"{scores[0].C:g}"] == scores[0].probe_accuracy == max(by_C.values())


def _score(cut, accuracy, combined=False):
    return cut_scores.CutScore(cut, 4, accuracy, accuracy, 0.0, 1.0, 0.1, combined=combined)


@pytest.mark.parametrize("single, together, rows, chosen", [
    (0.90, 0.85, 25, "a+b"),    # within one standard error (0.071) on 25 rows: the combination
    (0.90, 0.85, 2000, "a"),    # the same lead on 2,000 rows is clear (0.008): the single cut
    (0.80, 0.85, 25, "a+b"),    # the combination scored higher
    (0.90, float("nan"), 25, "a"),
])
def test_a_single_cut_must_lead_the_combination_by_a_standard_error(single, together, rows, chosen):
    scores = [_score("a", single), _score("b", 0.5), _score("a+b", together, combined=True)]
    assert cut_scores._best(scores, rows) == chosen


def test_combined_features_keep_a_wide_cut_from_drowning_a_narrow_one():
    rng = np.random.default_rng(0)
    wide, narrow = rng.normal(0, 1, size=(200, 100)), rng.normal(0, 1, size=(200, 2))
    features = np.concatenate([wide, narrow], axis=1)

    def loudness(variance):  # the wide cut's share of the standardised variance over the narrow one's
        standardized = features.var(0) / variance
        return standardized[:100].sum() / standardized[100:].sum()

    alone = loudness(probe.standardization(features)[1])
    combined = loudness(probe.standardization(features, blocks=(100, 2))[1])
    assert 45 < alone < 55  # by width: 100 features against 2
    assert 1.5 < combined < alone / 2  # toward equal weight, with part of its width kept
    with pytest.raises(ValueError, match=r"Blocks \(100, 3\) do not add up to the 102 features"):
        probe.standardization(features, blocks=(100, 3))
    labels = (narrow[:, 0] > 0).astype(int)
    fit = probe.fit_probe(features, labels, 1.0, seed=0, num_classes=2, blocks=(100, 2))
    head = probe.probe_head(fit, 2, HeadConfig(), seed=0)
    np.testing.assert_allclose(head(features.astype(np.float32)).numpy(), fit.probabilities(features), atol=1e-4)


def test_validated_scores_separate_equally_accurate_predictions_by_log_loss():
    labels = np.array([0, 1, 0, 1])
    unvalidated = [np.nan, np.nan]

    def scores(p, q):
        return validation.validated_scores(np.array([unvalidated, unvalidated, p, q]), labels)

    sure, unsure, wrong = scores([0.9, 0.1], [0.1, 0.9]), scores([0.6, 0.4], [0.4, 0.6]), scores([0.4, 0.6], [0.4, 0.6])
    assert sure[0] == unsure[0] == 1.0 and wrong[0] == 0.5
    np.testing.assert_allclose([sure[1], unsure[1]], [-np.log(0.9), -np.log(0.6)])
    assert np.isnan(validation.validated_scores(np.full((4, 2), np.nan), labels)[0])


def test_the_warm_started_path_reaches_the_separate_fits():
    features, labels = _blobs(10, num_classes=3, spread=0.5)
    path = list(probe.fit_path(features, labels, (10.0, 0.01, 1.0), seed=0, num_classes=3))
    assert [fit.C for fit in path] == [0.01, 1.0, 10.0]
    for fit in path:
        alone = probe.fit_probe(features, labels, fit.C, seed=0, num_classes=3)
        np.testing.assert_allclose(fit.probabilities(features), alone.probabilities(features), atol=5e-3)  # solver tolerance
