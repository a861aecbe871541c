"""FineTuner executor: turns artifacts into paths and configs, then calls `trainer.transfer`."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from typing import Any, Dict, List, Optional

import keras
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from tfx_transfer.components import specs
from tfx_transfer.trainer import augmentation as augmentation_lib
from tfx_transfer.trainer import base_model as bm
from tfx_transfer.trainer import data
from tfx_transfer.trainer import head as head_lib
from tfx_transfer.trainer import labels as labels_lib
from tfx_transfer.trainer import training
from tfx_transfer.trainer import transfer


class EmptySplitError(ValueError):
    """A split FineTuner needs has no usable examples."""


def run_config_from_exec_properties(exec_properties: Dict[str, Any]) -> transfer.RunConfig:
    """The run configuration the component validated and stored as exec properties."""
    unfreeze = exec_properties.get(specs.UNFREEZE_KEY)
    return transfer.RunConfig(
        head=head_lib.HeadConfig(
            head_units=tuple(json.loads(exec_properties[specs.HEAD_UNITS_KEY])),
            dropout=exec_properties[specs.DROPOUT_KEY],
            l2=exec_properties[specs.L2_KEY],
            label_smoothing=exec_properties[specs.LABEL_SMOOTHING_KEY],
        ),
        train=training.TrainConfig(
            epochs=exec_properties[specs.EPOCHS_KEY],
            learning_rate=exec_properties[specs.LEARNING_RATE_KEY],
            fine_tune_epochs=exec_properties[specs.FINE_TUNE_EPOCHS_KEY],
            fine_tune_learning_rate=exec_properties[specs.FINE_TUNE_LEARNING_RATE_KEY],
            batch_size=exec_properties[specs.BATCH_SIZE_KEY],
            patience=exec_properties[specs.PATIENCE_KEY],
            seed=exec_properties[specs.SEED_KEY],
            class_weight=exec_properties.get(specs.CLASS_WEIGHT_KEY) or None,
        ),
        augmentation=augmentation_lib.AugmentationConfig(**json.loads(exec_properties[specs.AUGMENTATION_KEY])),
        strategy=exec_properties[specs.STRATEGY_KEY],
        unfreeze=json.loads(unfreeze) if unfreeze else None,
        image_feature=exec_properties[specs.IMAGE_FEATURE_KEY],
        label_feature=exec_properties[specs.LABEL_FEATURE_KEY],
        num_classes=exec_properties.get(specs.NUM_CLASSES_KEY) or None,
        label_vocabulary_name=exec_properties.get(specs.LABEL_VOCABULARY_KEY) or None,
    )


def _split_pattern(examples: types.Artifact, split: str, role: str) -> str:
    splits = artifact_utils.decode_split_names(examples.split_names)
    if split not in splits:
        raise EmptySplitError(
            f"The {role} examples at {examples.uri} have no split {split!r}; their splits are "
            f"{splits}. Set train_split/eval_split to one of them."
        )
    return io_utils.all_files_pattern(artifact_utils.get_split_uri([examples], split))


def _check_not_empty(pattern: str, split: str) -> None:
    files = data.list_files(pattern)
    if not files or not any(True for _ in data.record_dataset(files).take(1)):
        raise EmptySplitError(
            f"The {split!r} split of the bottlenecks is empty ({pattern}); FineTuner needs labelled "
            "examples in it. Check the ExampleGen split ratios and the BottleneckExtractor's "
            "rejected output."
        )


def _load_split(
    pattern: str, config: transfer.RunConfig, vocabulary: labels_lib.LabelVocabulary, feature_dim: int, what: str
):
    features, labels = data.load_bottlenecks(pattern, config.label_feature, vocabulary, feature_dim)
    if len(labels) == 0:
        raise EmptySplitError(
            f"The {what} split has no usable bottleneck examples ({pattern}); check the "
            "BottleneckExtractor's rejected output and the label_feature name."
        )
    return features, labels


class Executor(base_executor.BaseExecutor):
    """Loads bottlenecks and the feature extractor, trains, and writes `model` and `model_run`."""

    def Do(
        self,
        input_dict: Dict[str, List[types.Artifact]],
        output_dict: Dict[str, List[types.Artifact]],
        exec_properties: Dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        config = run_config_from_exec_properties(exec_properties)
        bottlenecks = artifact_utils.get_single_instance(input_dict[specs.BOTTLENECKS_KEY])
        raw_examples = _single_or_none(input_dict.get(specs.EXAMPLES_KEY))
        transform_graph = _single_or_none(input_dict.get(specs.TRANSFORM_GRAPH_KEY))
        model = artifact_utils.get_single_instance(output_dict[specs.MODEL_KEY])
        run_dir = artifact_utils.get_single_uri(output_dict[specs.MODEL_RUN_KEY])
        train_split = exec_properties[specs.TRAIN_SPLIT_KEY]
        eval_split = exec_properties[specs.EVAL_SPLIT_KEY]

        train_pattern = _split_pattern(bottlenecks, train_split, "bottleneck")
        eval_pattern = _split_pattern(bottlenecks, eval_split, "bottleneck")
        for pattern, split in ((train_pattern, train_split), (eval_pattern, eval_split)):
            _check_not_empty(pattern, split)
        raw = None
        if raw_examples is not None:
            raw = transfer.RawExamples(
                _split_pattern(raw_examples, train_split, "raw"), _split_pattern(raw_examples, eval_split, "raw")
            )

        with transfer.precision_policy():
            keras.utils.set_random_seed(config.train.seed)
            extractor, info = bm.load_feature_extractor(
                artifact_utils.get_single_uri(input_dict[specs.FEATURE_EXTRACTOR_KEY])
            )
            if config.strategy == specs.STRATEGY_FINE_TUNE and not info.fine_tunable:
                raise ValueError(
                    f"strategy='fine_tune' cannot train the base {info.source}: Keras 3 cannot "
                    "fine-tune a legacy SavedModel/TF Hub model. Use strategy='feature_extraction'."
                )
            vocabulary = self._vocabulary(config, [train_pattern, eval_pattern], transform_graph)
            labels_lib.check_trainable_vocabulary(vocabulary)
            features = transfer.Bottlenecks(
                *_load_split(train_pattern, config, vocabulary, info.feature_dim, train_split),
                eval=_load_split(eval_pattern, config, vocabulary, info.feature_dim, eval_split),
            )
            logging.info(
                "FineTuner: %d training and %d eval bottlenecks, %d classes",
                len(features.y_train), len(features.eval[1]), vocabulary.num_classes,
            )
            decision = transfer.fit_and_export(
                extractor, info.preprocessing, vocabulary, features, raw, config, run_dir,
                path_utils.serving_model_dir(model.uri),
            )
        transfer.write_text(os.path.join(run_dir, specs.LABELS_FILE), "\n".join(vocabulary.names) + "\n")
        model.set_string_custom_property("strategy", decision.strategy)
        model.set_string_custom_property("class_names", json.dumps(list(vocabulary.names)))

    @staticmethod
    def _vocabulary(
        config: transfer.RunConfig, patterns: List[str], transform_graph: Optional[types.Artifact]
    ) -> labels_lib.LabelVocabulary:
        """The Transform vocabulary when there is a transform_graph, else the labels seen.

        Labels outside a Transform vocabulary are a configuration error, not bad records.
        """
        if transform_graph is None:
            return transfer.label_vocabulary(_without_vocabulary_name(config), patterns[0], None)
        vocabulary = transfer.label_vocabulary(config, patterns[0], transform_graph.uri)
        for pattern in patterns:
            labels_lib.check_labels_in_vocabulary(data.label_values(pattern, config.label_feature), vocabulary)
        return vocabulary


def _without_vocabulary_name(config: transfer.RunConfig) -> transfer.RunConfig:
    return dataclasses.replace(config, label_vocabulary_name=None)


def _single_or_none(artifacts: Optional[List[types.Artifact]]) -> Optional[types.Artifact]:
    return artifact_utils.get_single_instance(artifacts) if artifacts else None
