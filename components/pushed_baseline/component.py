"""PushedBaseline: the model the Evaluator compares the candidate with, on every orchestrator."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts

from tfx_transfer.components import config_codec
from tfx_transfer.components import specs
from tfx_transfer.components.pushed_baseline import config as config_lib
from tfx_transfer.components.pushed_baseline import executor


class PushedBaseline(base_component.BaseComponent):
    """The newest model the Pusher pushed before, other than the candidate, as a `Model` artifact.

    It replaces TFX's Resolver node (LatestBlessedModelStrategy), which the open-source Kubeflow
    Pipelines backend cannot run, with an ordinary container step that runs the same way
    locally and on Kubeflow: it reads the Pusher's push destination, picks the newest complete
    push whose files differ from the candidate's, and copies it into `baseline_model`. When
    nothing was pushed yet, the candidate is copied instead, so the Evaluator's change
    threshold compares the model with itself and only the value thresholds decide.

    Its cache key is the candidate: an unchanged candidate (a re-run that changed nothing)
    keeps its baseline, so the Evaluator, the report and the Pusher stay cached; a new candidate
    is compared with whatever was pushed last.

    Args:
      model: the candidate `Model` (FineTuner's), with its SavedModel under `Format-Serving`.
      push_destination: the Pusher's filesystem `base_directory` (local or gs://).

    Outputs:
      baseline_model: a `Model` with the baseline's SavedModel under `Format-Serving`; custom
        properties `baseline_source` (the pushed folder, '' for the candidate itself) and
        `baseline_is_candidate` (1 when nothing had been pushed).
    """

    SPEC_CLASS = specs.PushedBaselineSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, model: types.BaseChannel, push_destination: str):
        self.config = config_lib.BaselineConfig(push_destination=push_destination)
        super().__init__(
            spec=specs.PushedBaselineSpec(
                model=model,
                **config_codec.to_exec_properties(self.config),
                baseline_model=types.Channel(type=standard_artifacts.Model),
            )
        )
