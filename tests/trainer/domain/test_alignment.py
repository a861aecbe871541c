"""Feature alignment: each domain standardised by its own statistics; the served probe composes them."""

import numpy as np

from tfx_transfer.trainer.domain import alignment
from tfx_transfer.trainer.selection import probe


def _shifted(seed=0):
    """Two classes 7 apart on axis 1; the target is the source scaled by 3 and moved by 10 on every axis."""
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], 20)
    source = rng.normal(size=(40, 3)) + labels[:, None] * np.array([0, 7.0, 0])
    truth = np.repeat([0, 1], 30)
    target = 3 * (rng.normal(size=(60, 3)) + truth[:, None] * np.array([0, 7.0, 0])) + 10
    return source, labels, target, truth


def test_each_domain_is_standardised_by_its_own_statistics():
    source, labels, target, truth = _shifted()
    aligned = alignment.fit_aligned(source, labels, target, 1.0, 0, 2)
    np.testing.assert_allclose(aligned.target[0], target.mean(axis=0))
    np.testing.assert_allclose(aligned.source[0], source.mean(axis=0))
    np.testing.assert_array_equal(aligned.target_probabilities(target).argmax(1), truth)
    unaligned = probe.fit_probe(source, labels, 1.0, 0, 2)
    assert np.mean(unaligned.probabilities(target).argmax(1) == truth) < 0.9  # the shift defeats the plain probe


def test_the_serving_fit_is_the_target_standardisation_and_the_probe_in_one():
    source, labels, target, _ = _shifted()
    aligned = alignment.fit_aligned(source, labels, target, 1.0, 0, 2)
    served = aligned.serving_fit()
    np.testing.assert_allclose(served.probabilities(target), aligned.target_probabilities(target), rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(served.coef, aligned.fit.coef)


def test_spreading_adds_the_target_rows_to_the_refit():
    source, labels, target, truth = _shifted()
    plain = alignment.fit_aligned(source, labels, target, 1.0, 0, 2)
    spread = alignment.fit_aligned(source, labels, target, 1.0, 0, 2, spread=("standardized", 10))
    assert not np.allclose(plain.fit.coef, spread.fit.coef)  # the refit saw more rows
    np.testing.assert_array_equal(spread.target_probabilities(target).argmax(1), truth)


def test_augmented_copies_are_standardised_with_the_source():
    source, labels, target, _ = _shifted()
    copies = (source + 0.05)[None]
    with_copies = alignment.fit_aligned(source, labels, target, 1.0, 0, 2, copies=copies)
    without = alignment.fit_aligned(source, labels, target, 1.0, 0, 2)
    np.testing.assert_allclose(with_copies.source[0], without.source[0])  # the statistics are the images' own
    assert not np.allclose(with_copies.fit.coef, without.fit.coef)
