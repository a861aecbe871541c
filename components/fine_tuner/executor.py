"""FineTuner executor: turns artifacts into paths and configs, then calls `trainer.transfer`."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from typing import Any, Dict, List, Optional

import keras
import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from tfx_transfer.components import artifacts, config_codec, specs
from tfx_transfer.components.fine_tuner import config as config_lib
from tfx_transfer.trainer import transfer
from tfx_transfer.trainer.base import feature_extractor as fe
from tfx_transfer.trainer import training_data as training_data_lib
from tfx_transfer.trainer.data import bottleneck_stream, labels as labels_lib, raw_images, records, storage
from tfx_transfer.trainer.run_config import RunConfig
from tfx_transfer.trainer.selection import strategy as strategy_lib
from tfx_transfer.trainer.training_data import EmptySplitError


def _split_pattern(examples: types.Artifact, split: str, role: str) -> str:
    splits = artifact_utils.decode_split_names(examples.split_names)
    if split not in splits:
        raise EmptySplitError(
            f"The {role} examples at {examples.uri} have no split {split!r}; their splits are "
            f"{splits}. Set train_split/validation_split to one of them."
        )
    return io_utils.all_files_pattern(artifact_utils.get_split_uri([examples], split))


def _check_not_empty(pattern: str, split: str) -> None:
    files = sorted(tf.io.gfile.glob(pattern))
    if not files or not any(True for _ in records.record_dataset(files).take(1)):
        raise EmptySplitError(
            f"The {split!r} split of the bottlenecks is empty ({pattern}); FineTuner needs labelled "
            "examples in it. Check the ExampleGen split ratios and the BottleneckExtractor's "
            "rejected output."
        )


def _vocabulary(run: RunConfig, patterns: List[str], transform_graph: Optional[types.Artifact]) -> labels_lib.LabelVocabulary:
    """The Transform vocabulary when there is a transform_graph, else the labels seen.

    Labels outside a Transform vocabulary are a configuration error, not bad records.
    """
    if transform_graph is None:
        return transfer.label_vocabulary(dataclasses.replace(run, label_vocabulary_name=None), patterns[0], None)
    vocabulary = transfer.label_vocabulary(run, patterns[0], transform_graph.uri)
    for pattern in patterns:
        labels_lib.check_labels_in_vocabulary(bottleneck_stream.label_values(pattern, run.label_feature), vocabulary)
    return vocabulary


def _unlabelled(artifact: Optional[types.Artifact], dims: Dict[str, int], run: RunConfig) -> Dict[str, Any]:
    """Every split's unlabelled bottlenecks and ids (TrainingData's fields); none without the input."""
    if artifact is None:
        return {}
    return training_data_lib.load_unlabelled(artifacts.split_patterns(artifact), artifact.uri, dims, run.memory_budget_mb,
                                             run.train.seed)


class Executor(base_executor.BaseExecutor):
    """Loads bottlenecks and the feature extractor, trains, and writes `model` and `model_run`."""

    def Do(
        self,
        input_dict: Dict[str, List[types.Artifact]],
        output_dict: Dict[str, List[types.Artifact]],
        exec_properties: Dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        config = config_codec.from_exec_properties(config_lib.FineTunerConfig, exec_properties)
        run = config.run
        bottlenecks = artifact_utils.get_single_instance(input_dict[specs.BOTTLENECKS_KEY])
        raw_examples = artifacts.optional_single(input_dict, specs.EXAMPLES_KEY)
        model = artifact_utils.get_single_instance(output_dict[specs.MODEL_KEY])
        run_dir = artifact_utils.get_single_uri(output_dict[specs.MODEL_RUN_KEY])
        splits = config.splits(artifact_utils.decode_split_names(bottlenecks.split_names))
        patterns = [_split_pattern(bottlenecks, split, "bottleneck") for split in splits]
        for pattern, split in zip(patterns, splits):
            _check_not_empty(pattern, split)
        unlabelled_examples = artifacts.optional_single(input_dict, specs.UNLABELLED_EXAMPLES_KEY)
        raw = None if raw_examples is None else raw_images.RawExamples(
            *(_split_pattern(raw_examples, split, "raw") for split in splits),
            unlabelled_files=unlabelled_examples and artifacts.split_patterns(unlabelled_examples))

        with transfer.precision_policy():
            keras.utils.set_random_seed(run.train.seed)
            extractor, info = fe.load_feature_extractor(
                artifact_utils.get_single_uri(input_dict[specs.FEATURE_EXTRACTOR_KEY])
            )
            strategy_lib.check_strategy(run.strategy, info.fine_tunable)
            vocabulary = _vocabulary(run, patterns, artifacts.optional_single(input_dict, specs.TRANSFORM_GRAPH_KEY))
            labels_lib.check_trainable_vocabulary(vocabulary)
            training_data = dataclasses.replace(training_data_lib.load_training_data(
                patterns, splits, run.label_feature, vocabulary, info.feature_dims, run.memory_budget_mb, run.train.seed,
            ), **_unlabelled(artifacts.optional_single(input_dict, specs.UNLABELLED_BOTTLENECKS_KEY), info.feature_dims, run))
            logging.info(
                "FineTuner: %d bottlenecks of splits %s (the Evaluator's are not read), %d cuts, %d classes",
                len(training_data.labels), list(splits), len(info.cuts), vocabulary.num_classes,
            )
            decision = transfer.fit_and_export(
                extractor, info.preprocessing, vocabulary, training_data, raw, run, run_dir,
                path_utils.serving_model_dir(model.uri),
            )
        storage.write_text(os.path.join(run_dir, specs.LABELS_FILE), labels_lib.labels_file_text(vocabulary.names))
        model.set_string_custom_property(specs.STRATEGY_PROPERTY, decision.strategy)
        model.set_string_custom_property(specs.CLASS_NAMES_PROPERTY, json.dumps(list(vocabulary.names)))
