"""The FineTuner's typed config survives its trip through exec properties."""

from __future__ import annotations

import pytest

from tfx_transfer.components import config_codec
from tfx_transfer.components import specs
from tfx_transfer.components.fine_tuner import config as config_lib
from tfx_transfer.trainer.base import base_source as bs
from tfx_transfer.trainer.run_config import RunConfig


def test_round_trip_through_exec_properties():
    run = RunConfig.from_dict(
        {"head": {"head_units": [8]}, "train": {"epochs": 3}, "strategy": "fine_tune", "unfreeze": "conv"},
        with_source=False,
    )
    config = config_lib.FineTunerConfig(run, train_split="training", validation_split="dev")
    props = config_codec.to_exec_properties(config)
    assert set(props) == {specs.CONFIG_KEY, specs.PLUGIN_VERSION_KEY}
    assert config_codec.from_exec_properties(config_lib.FineTunerConfig, props) == config


def test_a_base_source_and_empty_split_names_are_refused():
    with pytest.raises(ValueError, match="FineTuner reads its base from the feature_extractor input"):
        config_lib.FineTunerConfig(RunConfig(source=bs.BaseModelSource(model_uri="m.keras")))
    with pytest.raises(ValueError, match="validation_split='' is invalid"):
        config_lib.FineTunerConfig(validation_split="")


def test_the_validation_split_is_found_but_never_the_evaluators():
    config = config_lib.FineTunerConfig()
    assert config.splits(["train", "eval"]) == ("train",)
    assert config.splits(["train", "validation", "test"]) == ("train", "validation")
    assert config_lib.FineTunerConfig(validation_split="holdout").splits(["train"]) == ("train", "holdout")
