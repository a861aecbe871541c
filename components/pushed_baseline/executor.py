"""PushedBaseline executor: copies the newest other pushed model (or the candidate) as `baseline_model`."""

from __future__ import annotations

import logging
from typing import Any, Dict, List

from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

from tfx_transfer.components import config_codec
from tfx_transfer.components import specs
from tfx_transfer.components.pushed_baseline import config as config_lib
from tfx_transfer.components.pushed_baseline import selection
from tfx_transfer.trainer.data import storage


class Executor(base_executor.BaseExecutor):
    """Writes the baseline's SavedModel into `baseline_model` and says where it came from."""

    def Do(
        self,
        input_dict: Dict[str, List[types.Artifact]],
        output_dict: Dict[str, List[types.Artifact]],
        exec_properties: Dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        config = config_codec.from_exec_properties(config_lib.BaselineConfig, exec_properties)
        candidate_dir = path_utils.serving_model_path(artifact_utils.get_single_uri(input_dict[specs.MODEL_KEY]))
        baseline = artifact_utils.get_single_instance(output_dict[specs.BASELINE_MODEL_KEY])
        source = selection.latest_other_than(config.push_destination, candidate_dir)
        if source is None:
            logging.info("No model was pushed to %s before; the candidate is its own baseline.", config.push_destination)
        storage.copy_tree(source or candidate_dir, path_utils.serving_model_dir(baseline.uri))
        baseline.set_string_custom_property(specs.BASELINE_SOURCE_PROPERTY, source or "")
        baseline.set_int_custom_property(specs.BASELINE_IS_CANDIDATE_PROPERTY, int(source is None))
