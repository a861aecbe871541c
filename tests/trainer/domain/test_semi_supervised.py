"""Semi-supervision: labels spread along the k-NN graph, settings chosen on the labelled rows only."""

import numpy as np
import pytest

from tfx_transfer.trainer.domain import semi_supervised
from tfx_transfer.trainer.selection import validation


def _blobs(labelled_per_class=6, unlabelled_per_class=40, seed=0):
    """Three far-apart blobs in 5 dims: a few labelled rows each, many unlabelled rows."""
    rng = np.random.default_rng(seed)
    centres = np.array([[8.0, 0, 0, 0, 0], [0, 8.0, 0, 0, 0], [0, 0, 8.0, 0, 0]])
    labels = np.repeat(np.arange(3), labelled_per_class)
    labelled = centres[labels] + rng.normal(size=(len(labels), 5))
    truth = np.repeat(np.arange(3), unlabelled_per_class)
    unlabelled = centres[truth] + rng.normal(size=(len(truth), 5))
    return labelled, labels, unlabelled, truth


@pytest.mark.parametrize("setting", semi_supervised.SETTINGS)
def test_spread_labels_give_each_unlabelled_row_its_blob_label(setting):
    labelled, labels, unlabelled, truth = _blobs()
    spread = semi_supervised.spread_labels(labelled, labels, unlabelled, setting, seed=0)
    assert spread.shape == truth.shape
    np.testing.assert_array_equal(spread, truth)


def test_the_refit_probe_trains_on_the_labelled_rows_their_copies_and_the_spread_rows():
    labelled, labels, unlabelled, truth = _blobs()
    copies = labelled[None] + 0.01  # one augmented copy per row
    fit = semi_supervised.fit_spread_probe(labelled, labels, np.arange(len(labels)), unlabelled,
                                           semi_supervised.SETTINGS[0], 1.0, 0, 3, copies=copies)
    np.testing.assert_array_equal(fit.probabilities(unlabelled).argmax(1), truth)
    # its standardisation saw every row: the labelled ones, their copies and the unlabelled ones
    pooled = np.concatenate([labelled, copies[0], unlabelled])
    np.testing.assert_allclose(fit.mean, pooled.mean(axis=0))


def _run(head_probabilities, forced=False, labelled_per_class=6):
    labelled, labels, unlabelled, _ = _blobs(labelled_per_class)
    plan = validation.make_plan(labels, 0)
    return semi_supervised.semi_supervise(labelled, labels, unlabelled, 3, plan, head_probabilities, 1.0, 0,
                                          forced=forced), labels


def test_a_refit_that_does_not_beat_the_labelled_only_head_is_set_aside_with_the_figures():
    labels = np.repeat(np.arange(3), 6)
    outcome, _ = _run(np.eye(3)[labels])  # the labelled-only head is right on every validation row
    assert outcome.fit is None and outcome.probabilities is None and not outcome.record["kept"]
    assert outcome.record["labelled_only_validation_accuracy"] == 1.0
    assert set(outcome.record["accuracy_by_setting"]) == {"standardized, k=10", "standardized, k=20",
                                                          "whitened, k=10", "whitened, k=20"}
    assert "did not pay, so the 120 unlabelled image(s) were set aside" in outcome.reason
    assert "against 1.000 for the labelled-only head" in outcome.reason


def test_a_refit_that_beats_the_labelled_only_head_is_kept_with_its_out_of_fold_probabilities():
    labels = np.repeat(np.arange(3), 6)
    outcome, labels = _run(np.eye(3)[(labels + 1) % 3])  # a labelled-only head wrong on every row
    assert outcome.fit is not None and outcome.record["kept"]
    assert outcome.record["setting"]["space"] in ("standardized", "whitened")
    assert outcome.record["validation_accuracy"] == validation.validated_accuracy(outcome.probabilities, labels)
    assert outcome.probabilities.shape == (18, 3) and not np.isnan(outcome.probabilities).any()
    assert outcome.reason.startswith("Semi-supervised learning on 120 unlabelled image(s): label spreading")


def test_forced_keeps_the_refit_even_when_it_does_not_pay():
    labels = np.repeat(np.arange(3), 6)
    outcome, _ = _run(np.eye(3)[labels], forced=True)
    assert outcome.fit is not None and outcome.record["kept"] and outcome.reason.endswith("(kept as asked).")


def test_without_a_usable_plan_nothing_is_tried():
    outcome, _ = _run(None, labelled_per_class=1)  # one example per class: no validation
    assert outcome.fit is None and not outcome.record["kept"] and "was not tried" in outcome.reason


def test_the_unlabelled_rows_are_capped_by_a_seeded_draw(monkeypatch):
    monkeypatch.setattr(semi_supervised, "MAX_UNLABELLED_ROWS", 7)
    rows = np.arange(20, dtype=float)[:, None]
    first, again = semi_supervised.unlabelled_sample(rows, 3), semi_supervised.unlabelled_sample(rows, 3)
    assert first.shape == (7, 1) and len(np.unique(first)) == 7
    np.testing.assert_array_equal(first, again)
    assert semi_supervised.unlabelled_sample(rows[:7], 3) is not None and len(semi_supervised.unlabelled_sample(rows[:7], 3)) == 7


def test_only_spread_labels_the_labelled_only_probe_agrees_with_are_kept():
    spread = np.array([0, 1, 2, 1])
    probabilities = np.array([[0.9, 0.1, 0.0], [0.8, 0.1, 0.1], [0.1, 0.2, 0.7], [0.2, 0.5, 0.3]])
    np.testing.assert_array_equal(semi_supervised.agreeing(spread, probabilities), [True, False, True, True])
