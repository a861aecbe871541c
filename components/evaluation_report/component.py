"""EvaluationReport: renders TFMA results and the training run into one HTML artifact."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec

from tfx_transfer.components import specs
from tfx_transfer.components.evaluation_report import executor
from tfx_transfer.trainer.version import plugin_version


class EvaluationReport(base_component.BaseComponent):
    """One self-contained HTML page per run: metrics, confusion matrix, curves, strategy.

    Its `report` artifact has the type `system.HTML`, which the Kubeflow Pipelines UI shows
    inline; the artifact's URI is the page itself.
    """

    SPEC_CLASS = specs.EvaluationReportSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        evaluation: types.BaseChannel,
        model_run: types.BaseChannel,
        title: str = "tfx-transfer evaluation",
    ):
        super().__init__(
            spec=specs.EvaluationReportSpec(
                evaluation=evaluation,
                model_run=model_run,
                title=title,
                plugin_version=plugin_version(),
                report=types.Channel(type=specs.HtmlReport),
            )
        )
