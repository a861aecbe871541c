"""The embedding drift check on synthetic Gaussians with a known shift."""

from __future__ import annotations

import numpy as np
import pytest

from tfx_transfer.trainer.domain import drift


def _gaussians(shift: float, seed: int, n: int = 300, dim: int = 16):
    rng = np.random.default_rng(seed)
    reference = rng.normal(size=(n, dim))
    other = rng.normal(size=(n, dim))
    other[:, :4] += shift  # a shift in four of the sixteen dimensions
    return reference, other


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_shift_is_flagged_and_a_held_out_sample_is_not(seed):
    config = drift.DriftConfig(permutations=100)
    shifted = drift.check_drift(*_gaussians(0.5, seed), config, seed=seed)
    assert shifted.drift and shifted.auc > 0.7 and shifted.p_value < 0.01
    assert shifted.reason.startswith("Drift: a domain classifier tells the sets apart (AUC")
    same = drift.check_drift(*_gaussians(0.0, seed), config, seed=seed)
    assert not same.drift and abs(same.auc - 0.5) < 0.1 and same.p_value > 0.05
    assert same.reason.startswith("No drift")


def test_the_mmd_of_identical_sets_is_at_the_permutation_median_and_grows_with_the_shift():
    reference, other = _gaussians(0.0, 0)
    small = drift.mmd_test(reference, other + 0.2, permutations=50, seed=0)[0]
    large = drift.mmd_test(reference, other + 1.0, permutations=50, seed=0)[0]
    assert large > small > drift.mmd_test(reference, other, permutations=50, seed=0)[0]


def test_sizes_are_bounded_and_recorded():
    reference, other = _gaussians(0.0, 0, n=300)
    result = drift.check_drift(reference, other, drift.DriftConfig(max_rows=100, pca_dims=8, permutations=20, p_threshold=0.1))
    assert result.rows == {"reference": 100, "other": 100} and result.dims == 8


@pytest.mark.parametrize(
    "reference, other, message",
    [
        (np.zeros((10, 3)), np.zeros((10, 4)), "cannot be compared"),
        (np.zeros((10, 3)), np.zeros((3, 3)), "at least 5 rows in each set; got 10 and 3"),
    ],
)
def test_unusable_embeddings_are_named(reference, other, message):
    with pytest.raises(drift.DriftError, match=message):
        drift.check_drift(reference, other)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"permutations": 50}, r"permutations=50 cannot reach p_threshold=0.01: .* use at least 100 permutations"),
     ({"auc_threshold": 0.4}, "auc_threshold=0.4 is out of range; valid values are in \\[0.5, 1.0\\]"), ({"permutations": 0}, "permutations=0 is invalid"),
     ({"p_threshold": 1.0}, "p_threshold=1.0 is out of range")],
)
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(drift.DriftError, match=message):
        drift.DriftConfig(**kwargs)


@pytest.mark.parametrize("auc, p_value, starts, says", [
    (0.99, 0.005, "Drift: a domain classifier tells the sets apart (AUC 0.990", "and the MMD test finds a difference"),
    (0.678, 0.2, "No drift: a domain classifier tells the sets apart (AUC 0.678", "but the MMD test finds no significant"),
    (0.52, 0.005, "No drift: a domain classifier cannot tell the sets apart", "but the MMD test finds a difference"),
    (0.5, 0.6, "No drift: a domain classifier cannot tell the sets apart", "and the MMD test finds no significant"),
])
def test_the_verdict_sentence_says_what_each_test_found(auc, p_value, starts, says):
    sentence = drift.verdict_sentence(auc, p_value, drift.DriftConfig())
    assert sentence.startswith(starts) and says in sentence
    assert sentence.endswith("drift needs both.") == (sentence.startswith("No drift") and ", but " in sentence)


def _sparse(rows: int, seed: int, threshold: float = 1.5) -> np.ndarray:
    """ReLU-like features: each is non-zero in about 7 % of the rows (at threshold 1.5)."""
    return np.maximum(np.random.default_rng(seed).normal(size=(rows, 200)) - threshold, 0.0)


@pytest.mark.parametrize("seed", range(6))
def test_few_reference_rows_of_sparse_features_raise_no_false_alarm(seed):
    # Standardising with the 20 reference rows' statistics alone flagged every one of these
    # (a feature non-zero in one reference row got a tiny scale); pooled statistics do not.
    config = drift.DriftConfig(permutations=100)
    same = drift.check_drift(_sparse(20, seed), _sparse(200, 100 + seed), config, seed=seed)
    assert not same.drift and same.p_value > 0.05
    shifted = drift.check_drift(_sparse(20, seed), _sparse(200, 100 + seed, threshold=1.0), config, seed=seed)
    assert shifted.drift
