"""EmbeddingDriftValidator executor: artifact splits to vectors, then `trainer.domain.drift.check_drift`."""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Dict, List

import numpy as np
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils

from tfx_transfer.components import artifacts, config_codec, specs
from tfx_transfer.components.embedding_drift import config as config_lib
from tfx_transfer.trainer.base import feature_extractor as fe
from tfx_transfer.trainer.data import records, storage
from tfx_transfer.trainer.domain import drift

DRIFT_FILE = specs.DRIFT_FILE


def _vectors(artifact: types.Artifact, split: str, dims: Dict[str, int], config) -> np.ndarray:
    """A random sample of at most `config.max_rows` of the split's bottlenecks, the cuts in `dims`
    side by side (`records.sample_vectors`: only the sample is parsed)."""
    available = artifact_utils.decode_split_names(artifact.split_names)
    if split not in available:
        raise ValueError(f"Split {split!r} is not in {artifact.uri}; its splits are {available}.")
    pattern = io_utils.all_files_pattern(artifact_utils.get_split_uri([artifact], split))
    vectors, total, set_aside = records.sample_vectors(pattern, dims, config.max_rows, config.seed)
    values = np.concatenate([vectors[cut] for cut in dims], axis=1)
    logging.info("EmbeddingDriftValidator: %d of the %d records of split %r sampled.", len(values), total, split)
    if set_aside:
        logging.warning("EmbeddingDriftValidator: %d sampled record(s) of split %r had no usable vectors.", set_aside, split)
    return values


class Executor(base_executor.BaseExecutor):
    """Loads both sets of vectors, runs the check, writes `drift.json` and the verdict properties."""

    def Do(
        self,
        input_dict: Dict[str, List[types.Artifact]],
        output_dict: Dict[str, List[types.Artifact]],
        exec_properties: Dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        config = config_codec.from_exec_properties(config_lib.DriftValidatorConfig, exec_properties)
        reference = artifact_utils.get_single_instance(input_dict[specs.BOTTLENECKS_KEY])
        other = artifacts.optional_single(input_dict, specs.OTHER_BOTTLENECKS_KEY) or reference
        info = fe.load_feature_extractor_info(artifact_utils.get_single_uri(input_dict[specs.FEATURE_EXTRACTOR_KEY]))
        dims = info.part_dims(config.cut_layer)
        result = drift.check_if_enough(
            _vectors(reference, config.reference_split, dims, config), _vectors(other, config.split, dims, config),
            config.check(), config.seed,
        )
        logging.info("EmbeddingDriftValidator: %s", result.reason)
        output = artifact_utils.get_single_instance(output_dict[specs.DRIFT_KEY])
        storage.write_text(
            os.path.join(output.uri, DRIFT_FILE),
            json.dumps({**result.to_dict(), "cuts": list(dims), "reference": f"{reference.uri} [{config.reference_split}]",
                        "compared": f"{other.uri} [{config.split}]", "blocks_push": config.block_push}, indent=2, sort_keys=True),
        )
        output.set_int_custom_property("drift", int(result.drift))
        output.set_float_custom_property("auc", result.auc)
        output.set_float_custom_property("p_value", result.p_value)
        blessing = artifact_utils.get_single_instance(output_dict[specs.DRIFT_BLESSING_KEY])
        blessing.set_int_custom_property(specs.BLESSED_PROPERTY, int(not (result.drift and config.block_push)))
