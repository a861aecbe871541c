"""EvaluationReport: renders TFMA results and the training run into one HTML artifact."""

from __future__ import annotations

from typing import Optional

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec

from tfx_transfer.components import config_codec
from tfx_transfer.components import specs
from tfx_transfer.components.evaluation_report import config as config_lib
from tfx_transfer.components.evaluation_report import executor


class EvaluationReport(base_component.BaseComponent):
    """One self-contained HTML page per run: metrics, confusion matrix, curves, strategy.

    The page shows the blessing, overall and per-class metrics, the confusion matrix and a
    reliability diagram from the Evaluator's TFMA output, and the training curves, last epochs
    and strategy decision from the FineTuner's `model_run`; sections whose inputs are missing are
    listed as not available. Its `report` artifact has the type `system.HTML`, which the
    Kubeflow Pipelines UI shows inline; the artifact's URI is the page itself.

    Args:
      evaluation: the Evaluator's `evaluation` (a ModelEvaluation with TFMA metrics, plots and
        validation result); with a baseline model, the candidate's results are shown.
      model_run: the FineTuner's `model_run`; its `labels.txt` names the classes, and
        `training_curves.png`, `history.json` and `strategy.json` are shown when present.
      title: the page title, a non-empty string.
      examples: the examples the Evaluator read; the page's Data row names this artifact and
        `evaluated_split` (TFMA itself only records "<user provided PCollection>").
      source_examples: ImageFolderExampleGen's `examples`; the files it set aside (not usable
        images) are listed in the "Set aside" table with their reasons.
      rejected: BottleneckExtractor's `rejected`; the examples it set aside (undecodable, too
        large, ...) are listed in the same table.
      evaluated_split: the split of `examples` the Evaluator reported on.
      drift: an EmbeddingDriftValidator's `drift`; shown in an "Embedding drift" section.

    Outputs:
      report: a `system.HTML` artifact whose URI is the page: inline CSS, images as data URIs,
        no scripts or external assets.
    """

    SPEC_CLASS = specs.EvaluationReportSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        evaluation: types.BaseChannel,
        model_run: types.BaseChannel,
        title: str = config_lib.DEFAULT_TITLE,
        examples: Optional[types.BaseChannel] = None,
        source_examples: Optional[types.BaseChannel] = None,
        rejected: Optional[types.BaseChannel] = None,
        evaluated_split: str = "",
        drift: Optional[types.BaseChannel] = None,
    ):
        self.config = config_lib.ReportConfig(title=title, evaluated_split=evaluated_split)
        super().__init__(
            spec=specs.EvaluationReportSpec(
                evaluation=evaluation,
                model_run=model_run,
                examples=examples,
                source_examples=source_examples,
                rejected=rejected,
                drift=drift,
                **config_codec.to_exec_properties(self.config),
                report=types.Channel(type=specs.HtmlReport),
            )
        )
