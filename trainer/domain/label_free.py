"""Label-free model selection on the serving domain: soft neighbourhood density (SND).

With a shifted serving domain, no labelled row says which adapted model classifies serving
images best. Soft neighbourhood density (Saito et al. 2021, "Tune it the right way") scores a
model by its predictions on the unlabelled target rows alone: each row's prediction vector is
L2-normalised, its similarities to every other row's are sharpened by a softmax at temperature
`SND_TEMPERATURE`, and the score is the mean entropy of those softmax rows. A model whose
target predictions form dense, well-separated clusters (rows predicted alike have many
neighbours predicted alike) scores high. The paper found it the most reliable of the
label-free criteria it compared (entropy, importance-weighted validation, DEV) across
adaptation methods and their settings; it is used here among models that already passed the
labelled rows' floor, which guards against its known failure, a model predicting one class for
every row.
"""

from __future__ import annotations

import numpy as np

SND_TEMPERATURE = 0.05  # Saito et al.'s
# Rows scored at most (the similarity matrix is rows x rows), drawn by the seed.
MAX_SND_ROWS = 2000


def soft_neighbourhood_density(probabilities: np.ndarray, seed: int = 0) -> float:
    """SND of a model's class probabilities ([rows, classes]) on unlabelled rows; NaN under 3 rows."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if len(probabilities) < 3:
        return float("nan")
    if len(probabilities) > MAX_SND_ROWS:
        rows = np.random.default_rng(seed).choice(len(probabilities), MAX_SND_ROWS, replace=False)
        probabilities = probabilities[np.sort(rows)]
    normalised = probabilities / np.maximum(np.linalg.norm(probabilities, axis=1, keepdims=True), 1e-12)
    similarity = normalised @ normalised.T / SND_TEMPERATURE
    np.fill_diagonal(similarity, -np.inf)  # a row is not its own neighbour
    similarity -= similarity.max(axis=1, keepdims=True)
    weights = np.exp(similarity)
    weights /= weights.sum(axis=1, keepdims=True)
    return float(np.mean(-np.sum(weights * np.log(np.maximum(weights, 1e-300)), axis=1)))
