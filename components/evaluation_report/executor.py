"""EvaluationReport executor: artifact URIs in, the HTML page written as the report artifact."""

from __future__ import annotations

from typing import Any, Dict, List

from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from tfx_transfer.components import specs
from tfx_transfer.components.evaluation_report import config as config_lib
from tfx_transfer.components.evaluation_report import page
from tfx_transfer.components import config_codec


class Executor(base_executor.BaseExecutor):
    """Builds the report; class names come from the FineTuner's `labels.txt` in model_run."""

    def Do(
        self,
        input_dict: Dict[str, List[types.Artifact]],
        output_dict: Dict[str, List[types.Artifact]],
        exec_properties: Dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        config = config_codec.from_exec_properties(config_lib.ReportConfig, exec_properties)
        page.build_report(
            artifact_utils.get_single_uri(input_dict[specs.EVALUATION_KEY]),
            artifact_utils.get_single_uri(input_dict[specs.MODEL_RUN_KEY]),
            class_names=[],
            output_path=artifact_utils.get_single_uri(output_dict[specs.REPORT_KEY]),
            title=config.title,
        )
