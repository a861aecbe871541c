"""EmbeddingDriftValidator: compares two sets of bottlenecks and says whether they drifted apart."""

from __future__ import annotations

from typing import Optional

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts

from tfx_transfer.components import config_codec, specs
from tfx_transfer.components.embedding_drift import config as config_lib
from tfx_transfer.components.embedding_drift import executor
from tfx_transfer.trainer.domain import drift


class EmbeddingDriftValidator(base_component.BaseComponent):
    """Drift of the embeddings the model reads: the training bottlenecks against another set.

    TFDV's drift comparator works per feature (one histogram of the whole bottleneck list), so it
    cannot see a shift of the embedding distribution; this component can. It compares the
    `reference_split` of `bottlenecks` with `split` of `other_bottlenecks` (another
    BottleneckExtractor output: unlabelled serving images, a new span) or of `bottlenecks`
    itself (the eval split), with a cross-validated domain classifier's AUC and an MMD
    permutation test (`trainer.domain.drift`), and writes the figures and a verdict.

    Args:
      bottlenecks: a BottleneckExtractor's `bottlenecks`; its `reference_split` is the reference.
      feature_extractor: the same extractor's `feature_extractor` (the cuts and their sizes).
      other_bottlenecks: bottlenecks of the same extractor for the data to check; None compares
        `split` of `bottlenecks`.
      reference_split: the reference split, 'train' by default.
      split: the split checked, 'eval' by default.
      cut_layer: the cut compared; None compares every extracted cut side by side.
      max_rows: rows of each set used, at most (sampled at random).
      pca_dims: dimensions kept after standardising.
      permutations: permutations of the MMD test.
      auc_threshold: the domain classifier's AUC above which the sets differ (0.55 as in Evidently).
      p_threshold: the MMD test's p-value below which the sets differ.
      seed: seed of the sampling, the folds and the permutations.
      block_push: when True, drift withholds `blessing`, so a Pusher given it as
        `infra_blessing` does not push (as a failed TFMA threshold withholds the Evaluator's).

    Outputs:
      drift: a `tfx_transfer.EmbeddingDrift` artifact holding `drift.json` (AUC, MMD², p-value,
        rows, dimensions, the verdict and one sentence); its custom properties `drift` (0/1),
        `auc` and `p_value` carry the verdict for a later step.
      blessing: an InfraBlessing whose `blessed` property is 0 when drift was found and
        `block_push` is set, else 1: for the standard Pusher's `infra_blessing`.
    """

    SPEC_CLASS = specs.EmbeddingDriftValidatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        bottlenecks: types.BaseChannel,
        feature_extractor: types.BaseChannel,
        other_bottlenecks: Optional[types.BaseChannel] = None,
        reference_split: str = "train",
        split: str = "eval",
        cut_layer: Optional[str] = None,
        max_rows: int = drift.DEFAULT_MAX_ROWS,
        pca_dims: int = drift.DEFAULT_PCA_DIMS,
        permutations: int = drift.DEFAULT_PERMUTATIONS,
        auc_threshold: float = drift.DEFAULT_AUC_THRESHOLD,
        p_threshold: float = drift.DEFAULT_P_THRESHOLD,
        seed: int = 0,
        block_push: bool = False,
    ):
        self.config = config_lib.DriftValidatorConfig(
            reference_split, split, cut_layer, max_rows, pca_dims, permutations, auc_threshold, p_threshold, seed,
            block_push)
        super().__init__(
            spec=specs.EmbeddingDriftValidatorSpec(
                bottlenecks=bottlenecks,
                feature_extractor=feature_extractor,
                other_bottlenecks=other_bottlenecks,
                **config_codec.to_exec_properties(self.config),
                drift=types.Channel(type=specs.EmbeddingDrift),
                blessing=types.Channel(type=standard_artifacts.InfraBlessing),
            )
        )
