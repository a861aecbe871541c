"""Do two sets of embeddings come from the same distribution? A domain classifier and an MMD test.

The embeddings are the bottlenecks the head actually reads, so this sees the shifts that matter
to the model, which per-feature checks cannot: TFDV's drift comparator compares one histogram per
feature, and a bottleneck is one list feature. Two figures, on at most `max_rows` rows of each set
after standardising and a PCA to `pca_dims` dimensions, both fitted on the two sets pooled so
that they treat the two alike, as the permutation test assumes:

- the domain classifier's AUC: a logistic regression trained to tell the two sets apart,
  cross-validated (out-of-fold scores); 0.5 when it cannot, 1.0 when it always can. Evidently
  uses AUC > 0.55 as its default drift threshold;
- the maximum mean discrepancy (MMD², unbiased, Gaussian kernel with the median-distance
  bandwidth) with a permutation p-value, as Alibi Detect computes it.

The verdict is drift when both agree: AUC above `auc_threshold` and p below `p_threshold`. A
large sample can make a negligible shift significant; the AUC says whether it is large enough to
tell the sets apart.
"""

from __future__ import annotations

import dataclasses
from typing import Dict

import numpy as np

from tfx_transfer.trainer.common import checks

DEFAULT_MAX_ROWS = 1000
DEFAULT_PCA_DIMS = 32
DEFAULT_PERMUTATIONS = 200
DEFAULT_AUC_THRESHOLD = 0.55
DEFAULT_P_THRESHOLD = 0.01
_FOLDS = 5
# The fewest rows of each set the check runs on (one per cross-validation fold).
MIN_ROWS = _FOLDS


class DriftError(ValueError):
    """Embeddings or settings the drift check cannot use."""


@dataclasses.dataclass(frozen=True)
class DriftConfig:
    """Sizes and thresholds of the check (see the module docstring)."""

    max_rows: int = DEFAULT_MAX_ROWS
    pca_dims: int = DEFAULT_PCA_DIMS
    permutations: int = DEFAULT_PERMUTATIONS
    auc_threshold: float = DEFAULT_AUC_THRESHOLD
    p_threshold: float = DEFAULT_P_THRESHOLD

    def __post_init__(self) -> None:
        checks.check_int("max_rows", self.max_rows, 2 * _FOLDS, DriftError)
        checks.check_int("pca_dims", self.pca_dims, 1, DriftError)
        checks.check_int("permutations", self.permutations, 1, DriftError)
        checks.check_number("auc_threshold", self.auc_threshold, 0.5, 1.0, True, DriftError)
        checks.check_number("p_threshold", self.p_threshold, 0.0, 1.0, False, DriftError)
        if 1.0 / (self.permutations + 1) >= self.p_threshold:
            needed = int(np.ceil(1.0 / self.p_threshold))
            raise DriftError(
                f"permutations={self.permutations} cannot reach p_threshold={self.p_threshold}: the smallest p-value "
                f"is 1/(permutations + 1); use at least {needed} permutations, or a larger p_threshold."
            )


@dataclasses.dataclass(frozen=True)
class DriftResult:
    """The figures and the verdict of one comparison."""

    auc: float
    mmd2: float
    p_value: float
    rows: Dict[str, int]
    dims: int
    drift: bool
    reason: str  # the verdict sentence, then the figures
    verdict: str = ""  # the verdict sentence alone (what each test found), for a page's first lines

    def to_dict(self) -> Dict[str, object]:
        """JSON-able: figures that were not computed are None."""
        return {key: (None if isinstance(value, float) and not np.isfinite(value) else value)
                for key, value in dataclasses.asdict(self).items()}


def _sample(values: np.ndarray, max_rows: int, rng: np.random.Generator) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return values if len(values) <= max_rows else values[np.sort(rng.choice(len(values), max_rows, replace=False))]


def _project(reference: np.ndarray, other: np.ndarray, dims: int, seed: int):
    """Both sets standardised with the pooled statistics, then PCA-reduced (fitted on both).

    Every step treats the two sets alike, so relabelling the pooled rows at random changes
    nothing but the labels, which is what the permutation test assumes. Standardising with the
    reference's statistics alone broke that: on 20 reference rows, a sparse ReLU feature that
    happened to be near zero in all of them got a tiny scale, and every other row looked far
    out. On random splits of one set of digits that raised 'drift' on 7 of 20 splits
    (`bench/drift_false_alarms.py`).
    """
    from sklearn.decomposition import PCA

    pooled = np.concatenate([reference, other])
    mean, scale = pooled.mean(axis=0), pooled.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    pooled = (pooled - mean) / scale
    dims = min(dims, pooled.shape[1], len(pooled) - 1)
    projected = PCA(n_components=dims, random_state=seed).fit_transform(pooled)
    return projected[: len(reference)], projected[len(reference):], dims


def domain_auc(reference: np.ndarray, other: np.ndarray, seed: int) -> float:
    """Cross-validated AUC of a logistic regression telling `other` (1) from `reference` (0)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    features = np.concatenate([reference, other])
    domains = np.concatenate([np.zeros(len(reference)), np.ones(len(other))])
    scores = np.zeros(len(domains))
    folds = StratifiedKFold(n_splits=min(_FOLDS, len(reference), len(other)), shuffle=True, random_state=seed)
    for train, held_out in folds.split(features, domains):
        model = LogisticRegression(max_iter=1000, random_state=seed).fit(features[train], domains[train])
        scores[held_out] = model.decision_function(features[held_out])
    return float(roc_auc_score(domains, scores))


def _kernel(pooled: np.ndarray) -> np.ndarray:
    """The Gaussian kernel matrix with the median pairwise distance as its bandwidth."""
    squared = np.sum(pooled**2, axis=1)
    distances = np.maximum(squared[:, None] + squared[None, :] - 2.0 * pooled @ pooled.T, 0.0)
    off_diagonal = distances[~np.eye(len(pooled), dtype=bool)]
    bandwidth = np.median(off_diagonal[off_diagonal > 0]) if np.any(off_diagonal > 0) else 1.0
    return np.exp(-distances / bandwidth)


def _mmd2(kernel: np.ndarray, first: np.ndarray) -> float:
    """Unbiased MMD² of the rows marked `first` against the rest, from the pooled kernel matrix."""
    n, m = int(first.sum()), int((~first).sum())
    within_first = kernel[np.ix_(first, first)]
    within_second = kernel[np.ix_(~first, ~first)]
    between = kernel[np.ix_(first, ~first)]
    return float(
        (within_first.sum() - np.trace(within_first)) / (n * (n - 1))
        + (within_second.sum() - np.trace(within_second)) / (m * (m - 1))
        - 2.0 * between.mean()
    )


def mmd_test(reference: np.ndarray, other: np.ndarray, permutations: int, seed: int):
    """(MMD², permutation p-value): how often relabelling the pooled rows at random gives an MMD²
    at least as large, counting the observed labelling as one permutation."""
    kernel = _kernel(np.concatenate([reference, other]))
    first = np.zeros(len(kernel), dtype=bool)
    first[: len(reference)] = True
    observed = _mmd2(kernel, first)
    rng = np.random.default_rng(seed)
    at_least = sum(_mmd2(kernel, rng.permutation(first)) >= observed for _ in range(permutations))
    return observed, (1 + at_least) / (1 + permutations)


def unchecked(reference_rows: int, other_rows: int) -> DriftResult:
    """The result when a set has fewer than `MIN_ROWS` rows: no figures, no drift, and why."""
    said = (f"Not checked: the drift check needs at least {MIN_ROWS} rows in each set; got {reference_rows} and "
            f"{other_rows}.")
    return DriftResult(
        float("nan"), float("nan"), float("nan"), {"reference": reference_rows, "other": other_rows}, 0, False, said, said,
    )


def check_if_enough(reference: np.ndarray, other: np.ndarray, config: DriftConfig = DriftConfig(), seed: int = 0) -> DriftResult:
    """`check_drift`, or `unchecked` when a set has fewer than `MIN_ROWS` rows: what a pipeline
    step reports instead of failing on a tiny split."""
    if min(len(reference), len(other)) < MIN_ROWS:
        return unchecked(len(reference), len(other))
    return check_drift(reference, other, config, seed)


def check_drift(reference: np.ndarray, other: np.ndarray, config: DriftConfig = DriftConfig(), seed: int = 0) -> DriftResult:
    """Compares `other` embeddings with the `reference` ones (rows are examples); see the module docstring."""
    reference, other = np.asarray(reference), np.asarray(other)
    if reference.ndim != 2 or other.ndim != 2 or reference.shape[1] != other.shape[1]:
        raise DriftError(
            f"Embeddings of shapes {reference.shape} and {other.shape} cannot be compared; both must be "
            "[rows, dim] with the same dim (bottlenecks of the same cut)."
        )
    if min(len(reference), len(other)) < MIN_ROWS:
        raise DriftError(
            f"The drift check needs at least {MIN_ROWS} rows in each set; got {len(reference)} and {len(other)}."
        )
    rng = np.random.default_rng(seed)
    reference, other = _sample(reference, config.max_rows, rng), _sample(other, config.max_rows, rng)
    reference, other, dims = _project(reference, other, config.pca_dims, seed)
    auc = domain_auc(reference, other, seed)
    mmd2, p_value = mmd_test(reference, other, config.permutations, seed)
    drift = auc > config.auc_threshold and p_value < config.p_threshold
    verdict = verdict_sentence(auc, p_value, config)
    reason = f"{verdict} MMD² {mmd2:.4f}, on {len(reference)} + {len(other)} rows in {dims} PCA dimensions."
    return DriftResult(auc, mmd2, p_value, {"reference": len(reference), "other": len(other)}, dims, drift, reason, verdict)


def verdict_sentence(auc: float, p_value: float, config: DriftConfig) -> str:
    """The verdict and what each test said of it: drift needs both, so a sentence that names one
    test's figure must also say whether the other agreed."""
    separable = auc > config.auc_threshold
    significant = p_value < config.p_threshold
    classifier = (f"a domain classifier tells the sets apart (AUC {auc:.3f}, above {config.auc_threshold})" if separable
                  else f"a domain classifier cannot tell the sets apart (AUC {auc:.3f}, not above {config.auc_threshold})")
    mmd = (f"the MMD test finds a difference (p = {p_value:.3g}, below {config.p_threshold})" if significant
           else f"the MMD test finds no significant difference (p = {p_value:.3g}, not below {config.p_threshold})")
    if separable and significant:
        return f"Drift: {classifier}, and {mmd}."
    if separable or significant:
        return f"No drift: {classifier}, but {mmd}; drift needs both."
    return f"No drift: {classifier}, and {mmd}."
