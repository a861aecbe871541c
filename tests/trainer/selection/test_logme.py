"""LogME: its fixed point maximises the evidence, and it ranks informative features higher."""

import numpy as np
import pytest
from scipy import optimize

from tfx_transfer.trainer.selection.logme import LogMEError, _evidence, _spectrum, logme_score


def _direct_evidence(features, y, alpha, beta):
    n, d = features.shape
    a = alpha * np.eye(d) + beta * features.T @ features
    m = beta * np.linalg.solve(a, features.T @ y)
    return (
        n / 2 * np.log(beta) + d / 2 * np.log(alpha) - n / 2 * np.log(2 * np.pi)
        - beta / 2 * np.sum((features @ m - y) ** 2) - alpha / 2 * m @ m - np.linalg.slogdet(a)[1] / 2
    )


@pytest.mark.parametrize("n, d", [(60, 8), (200, 20), (10, 30)])
def test_fixed_point_reaches_the_maximum_evidence(n, d):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(n, d))
    y = (features[:, :3].sum(axis=1) + 0.5 * rng.normal(size=n) > 0).astype(float)
    best = optimize.minimize(
        lambda p: -_direct_evidence(features, y, np.exp(p[0]), np.exp(p[1])), [0.0, 0.0],
        method="Nelder-Mead", options=dict(xatol=1e-10, fatol=1e-12, maxiter=5000),
    )
    s, z = _spectrum(features, y[:, None])
    ours = _evidence(s, z, np.array([y @ y]), n, d)[0]
    assert ours == pytest.approx(-best.fun, abs=1e-5)


def test_separating_features_score_higher_than_random_ones():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, 400)
    separating = rng.normal(size=(4, 32))[labels] * 3 + rng.normal(size=(400, 32))
    random = rng.normal(size=(400, 32))
    good, bad = logme_score(separating, labels, 4), logme_score(random, labels, 4)
    assert np.isfinite(good) and np.isfinite(bad)
    assert good > bad
    assert bad < 0 < good


def test_runs_on_extractor_sized_float32_features():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 10, 5000)
    features = (rng.normal(size=(10, 1280))[labels] + rng.normal(size=(5000, 1280)) * 3).astype(np.float32)
    assert np.isfinite(logme_score(features, labels, 10))


@pytest.mark.parametrize(
    "features, labels, classes, match",
    [
        (np.zeros((3, 2)) + 1, np.array([0, 1, 5]), 3, "labels range over \\[0, 5\\]; valid labels are 0..2"),
        (np.ones((3, 2)), np.array([0, 1]), 2, "labels must have shape \\[N\\] = \\(3,\\)"),
        (np.ones((3, 2)), np.array([0, 1, 0]), 1, "num_classes=1"),
        (np.array([[np.nan, 1.0], [1.0, 2.0]]), np.array([0, 1]), 2, "NaN or infinite"),
        (np.zeros((4, 3)), np.array([0, 1, 0, 1]), 2, "all zero"),
        (np.ones(3), np.array([0, 1, 0]), 2, "non-empty \\[N, D\\]"),
    ],
)
def test_unusable_inputs_are_errors(features, labels, classes, match):
    with pytest.raises(LogMEError, match=match):
        logme_score(features, labels, classes)
