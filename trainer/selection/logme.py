"""LogME: how well pretrained features fit the labels, without training anything.

LogME (You et al., "LogME: Practical Assessment of Pre-trained Models for Transfer Learning",
ICML 2021) fits, for each class k, a Bayesian linear model from the features F [N, D] to the
one-hot column y_k [N]:

    y = F w + e,   w ~ N(0, I / alpha),   e ~ N(0, 1 / beta)

and takes the log marginal likelihood (evidence) of y under the best alpha and beta:

    log p(y | F) = N/2 log beta + D/2 log alpha - N/2 log 2 pi
                   - beta/2 ||F m - y||^2 - alpha/2 ||m||^2 - 1/2 log |A|
    A = alpha I + beta F^T F,   m = beta A^-1 F^T y.

With F^T F = V diag(s) V^T and z = U^T y (the coordinates of y on F's left singular vectors,
z_i = v_i^T F^T y / sqrt(s_i)), every term is a sum over the eigenvalues s_i:

    gamma = sum beta s_i / (alpha + beta s_i)         (effective number of parameters)
    ||m||^2 = sum beta^2 s_i z_i^2 / (alpha + beta s_i)^2
    ||F m - y||^2 = sum alpha^2 z_i^2 / (alpha + beta s_i)^2 + (||y||^2 - ||z||^2)
    log |A| = sum log(alpha + beta s_i) + (D - rank) log alpha

and the maximum is found with MacKay's fixed point alpha = gamma / ||m||^2,
beta = (N - gamma) / ||F m - y||^2. One eigendecomposition serves every class, and the
fixed-point iteration runs on all classes at once as vectors. The score is the evidence divided
by N, averaged over the classes present. Higher means the features separate the classes better.
"""

from __future__ import annotations

import math

import numpy as np

_MAX_ITERATIONS = 100
_TOLERANCE = 1e-6
_TINY = 1e-30


class LogMEError(ValueError):
    """Features or labels LogME cannot score."""


def _check_inputs(features: np.ndarray, labels: np.ndarray, num_classes: int) -> None:
    if features.ndim != 2 or features.shape[0] == 0:
        raise LogMEError(f"features must be a non-empty [N, D] array, got shape {features.shape}.")
    if labels.shape != (features.shape[0],):
        raise LogMEError(
            f"labels must have shape [N] = ({features.shape[0]},) to match the features, got {labels.shape}."
        )
    if num_classes < 2:
        raise LogMEError(f"num_classes={num_classes!r} is invalid; LogME needs at least 2 classes.")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise LogMEError(
            f"labels range over [{labels.min()}, {labels.max()}]; valid labels are 0..{num_classes - 1}."
        )
    if not np.all(np.isfinite(features)):
        raise LogMEError("features hold NaN or infinite values; LogME needs finite features.")


def _spectrum(features: np.ndarray, targets: np.ndarray):
    """Non-zero eigenvalues s of F^T F and the targets' coordinates z on F's singular vectors."""
    n, d = features.shape
    if n >= d:
        eigenvalues, vectors = np.linalg.eigh(features.T @ features)
        projected = vectors.T @ (features.T @ targets)  # sqrt(s_i) * z_i
    else:
        eigenvalues, vectors = np.linalg.eigh(features @ features.T)
        projected = None
    tolerance = max(eigenvalues.max(), 0.0) * max(n, d) * np.finfo(np.float64).eps
    nonzero = eigenvalues > tolerance
    s = eigenvalues[nonzero]
    if s.size == 0:
        raise LogMEError("features are all zero; LogME needs features that vary between examples.")
    if projected is None:
        z = vectors[:, nonzero].T @ targets
    else:
        z = projected[nonzero] / np.sqrt(s)[:, None]
    return s, z


def _evidence(s: np.ndarray, z: np.ndarray, y_norm2: np.ndarray, n: int, d: int) -> np.ndarray:
    """The maximised log evidence per target column, by the fixed-point iteration."""
    s = s[:, None]
    z2 = z**2
    outside = np.maximum(y_norm2 - z2.sum(axis=0), 0.0)  # the part of y no feature can reach
    alpha = np.ones(z.shape[1])
    beta = np.ones(z.shape[1])
    for _ in range(_MAX_ITERATIONS):
        denominator = alpha + beta * s
        gamma = (beta * s / denominator).sum(axis=0)
        m2 = (beta**2 * s * z2 / denominator**2).sum(axis=0)
        residual2 = (alpha**2 * z2 / denominator**2).sum(axis=0) + outside
        new_alpha = gamma / np.maximum(m2, _TINY)
        new_beta = (n - gamma) / np.maximum(residual2, _TINY)
        converged = np.all(np.abs(new_alpha / new_beta - alpha / beta) <= _TOLERANCE * alpha / beta)
        alpha, beta = new_alpha, new_beta
        if converged:
            break
    denominator = alpha + beta * s
    m2 = (beta**2 * s * z2 / denominator**2).sum(axis=0)
    residual2 = (alpha**2 * z2 / denominator**2).sum(axis=0) + outside
    log_det = np.log(denominator).sum(axis=0) + (d - s.shape[0]) * np.log(alpha)
    return (
        n / 2 * np.log(beta)
        + d / 2 * np.log(alpha)
        - n / 2 * math.log(2 * math.pi)
        - beta / 2 * residual2
        - alpha / 2 * m2
        - log_det / 2
    )


def logme_score(features: np.ndarray, labels: np.ndarray, num_classes: int) -> float:
    """The LogME transferability score of `features` [N, D] for int `labels` [N] (higher is better).

    Classes without examples are left out of the average: their all-zero target is trivially
    predictable and would inflate the score.
    """
    features = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    _check_inputs(features, labels, num_classes)
    present = np.unique(labels)
    targets = (labels[:, None] == present[None, :]).astype(np.float64)  # one-hot, present classes
    n, d = features.shape
    s, z = _spectrum(features, targets)
    evidence = _evidence(s, z, targets.sum(axis=0), n, d)
    return float(np.mean(evidence) / n)
