"""RunConfig: the one config of run_fn's custom_config and FineTuner's exec properties."""

import json

import pytest

from tfx_transfer.trainer.base import base_source as bs
from tfx_transfer.trainer.run_config import RunConfig, RunConfigError
from tfx_transfer.trainer.selection import strategy as strategy_lib
from tfx_transfer.trainer.training import loop
from tfx_transfer.trainer.training.head import HeadConfigError, UnfreezeError


@pytest.mark.parametrize(
    "config, error, match",
    [
        ({"model_uri": "m.keras", "colour": 1}, RunConfigError, "Unknown custom_config keys \\['colour'\\]; valid keys are"),
        ({"model_uri": "m.keras", "head": {"units": 3}}, RunConfigError, "Unknown head keys \\['units'\\]; valid keys are \\['dropout'"),
        ({"model_uri": "m.keras", "head": {"dropout": 2.0}}, HeadConfigError, "dropout=2.0"),
        ({"model_uri": "m.keras", "head": {"head_units": 8}}, HeadConfigError, "head_units=8 is invalid"),
        ({"model_uri": "m.keras", "strategy": "deep"}, strategy_lib.StrategyError, "Unknown strategy 'deep'"),
        ({"model_uri": "m.keras", "strategy_thresholds": {"logme": 1}}, RunConfigError, "Unknown strategy_thresholds keys \\['logme'\\]"),
        ({"model_uri": "m.keras", "unfreeze": 0}, UnfreezeError, "unfreeze=0 is invalid"),
        ({"model_uri": "m.keras", "num_classes": 1}, RunConfigError, "num_classes=1 is invalid; valid values are ints >= 2"),
        ({"model_uri": "m.keras", "augmentation": {"rotate": 5}}, RunConfigError, "Unknown augmentation keys \\['rotate'\\]"),
        ({"model_uri": "m.keras", "keras_application": "MobileNetV2"}, bs.BaseModelError, "exactly one base model source"),
        ({}, bs.BaseModelError, "exactly one base model source"),
        ({"model_uri": "m.keras", "drop_suspect_labels": "yes"}, RunConfigError,
         "drop_suspect_labels='yes' is invalid; valid values are true and false"),
    ],
)
def test_config_errors_name_the_bad_value(config, error, match):
    with pytest.raises(error, match=match):
        RunConfig.from_dict(config)


def test_json_and_defaults():
    config = RunConfig.from_dict(json.dumps({"keras_application": "MobileNetV2", "image_size": 96, "head": {"head_units": [4]}}))
    assert config.source.image_size == (96, 96) and config.head.head_units == (4,)
    assert config.strategy == strategy_lib.DEFAULT_STRATEGY == "auto" and config.train == loop.TrainConfig()


def test_upstream_model_directory_is_the_source_without_other_sources():
    config = RunConfig.from_dict({"cut_layer": "x"}, base_model_dir="/models/1")
    assert config.source.model_dir == "/models/1" and config.source.cut_layer == "x"


def test_a_config_without_source_refuses_base_model_keys():
    with pytest.raises(RunConfigError, match="Unknown custom_config keys \\['model_uri'\\]"):
        RunConfig.from_dict({"model_uri": "m.keras"}, with_source=False)


def test_dict_form_round_trips():
    config = RunConfig.from_dict({
        "keras_application": "MobileNetV2", "weights": None, "image_size": [96, 128], "cut_layer": "block_5_add",
        "head": {"head_units": [16, 8], "dropout": 0.1}, "train": {"epochs": 7, "class_weight": "balanced"},
        "augmentation": {"rotation": 10.0, "horizontal_flip": True}, "strategy": "fine_tune", "unfreeze": 0.25,
        "strategy_thresholds": {"min_examples_per_class": 5.0}, "num_classes": 4, "label_vocabulary_name": "label",
    })
    again = RunConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    assert again.source.image_size == (96, 128) and again.train.epochs == 7 and again.unfreeze == 0.25
    without_source = RunConfig.from_json(json.dumps({k: v for k, v in config.to_dict().items() if k not in bs.SOURCE_KEYS}))
    assert without_source.source is None and without_source.head == config.head
