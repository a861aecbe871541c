"""The EmbeddingDriftValidator's one typed config (encoded by `config_codec`)."""

from __future__ import annotations

import dataclasses
from typing import Optional

from tfx_transfer.components.config_codec import FlatConfig
from tfx_transfer.trainer.domain import drift


@dataclasses.dataclass(frozen=True)
class DriftValidatorConfig(FlatConfig):
    """Which bottlenecks to compare, and the check's sizes and thresholds (`trainer.domain.drift.DriftConfig`).

    reference_split: the split of `bottlenecks` the others are compared with (the training data).
    split: the split compared with it: of `other_bottlenecks` when given, else of `bottlenecks`.
    cut_layer: the cut whose vectors are compared; None: every extracted cut side by side.
    block_push: whether drift withholds the `blessing` a Pusher's `infra_blessing` reads.
    """

    reference_split: str = "train"
    split: str = "eval"
    cut_layer: Optional[str] = None
    max_rows: int = drift.DEFAULT_MAX_ROWS
    pca_dims: int = drift.DEFAULT_PCA_DIMS
    permutations: int = drift.DEFAULT_PERMUTATIONS
    auc_threshold: float = drift.DEFAULT_AUC_THRESHOLD
    p_threshold: float = drift.DEFAULT_P_THRESHOLD
    seed: int = 0
    block_push: bool = False

    def __post_init__(self) -> None:
        for name in ("reference_split", "split"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"{name}={getattr(self, name)!r} is invalid; valid values are split names, e.g. 'train'.")
        if self.cut_layer is not None and (not isinstance(self.cut_layer, str) or not self.cut_layer):
            raise ValueError(f"cut_layer={self.cut_layer!r} is invalid; valid values are a cut name or None.")
        if not isinstance(self.block_push, bool):
            raise ValueError(f"block_push={self.block_push!r} is invalid; valid values are True and False.")
        self.check()

    def check(self) -> drift.DriftConfig:
        """The drift check's own config; its range checks name a bad value."""
        return drift.DriftConfig(self.max_rows, self.pca_dims, self.permutations, self.auc_threshold, self.p_threshold)
