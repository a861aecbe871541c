"""FineTuner construction: channels, exec properties and every configuration error."""

from __future__ import annotations

import json

import keras
import pytest
from tfx.types import channel_utils, standard_artifacts

from tfx_transfer.components import BottleneckExtractor, FineTuner, specs
from tfx_transfer.components import config_codec
from tfx_transfer.components.fine_tuner import config as config_lib
from tfx_transfer.trainer.run_config import RunConfig
from tfx_transfer.trainer.selection import strategy as strategy_lib


def _channel(artifact_type=standard_artifacts.Examples):
    return channel_utils.as_channel([artifact_type()])


def _fine_tuner(extractor=None, **kwargs):
    feature_extractor = extractor.outputs[specs.FEATURE_EXTRACTOR_KEY] if extractor else _channel(standard_artifacts.Model)
    bottlenecks = extractor.outputs[specs.BOTTLENECKS_KEY] if extractor else _channel()
    return FineTuner(bottlenecks=bottlenecks, feature_extractor=feature_extractor, **kwargs)


@pytest.fixture(scope="module")
def tiny_extractor(tiny_cnn_path):
    return BottleneckExtractor(examples=_channel(), model_uri=tiny_cnn_path, cut_layer="flatten_1")


@pytest.fixture(scope="module")
def saved_model_extractor(tmp_path_factory):
    inputs = keras.Input((16, 16, 3))
    outputs = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(3, 3)(inputs))
    directory = str(tmp_path_factory.mktemp("hub") / "feature_vector")
    keras.Model(inputs, outputs).export(directory)
    return BottleneckExtractor(examples=_channel(), model_uri=directory, image_size=16)


def test_channels_and_exec_properties(tiny_extractor):
    component = _fine_tuner(
        tiny_extractor, examples=_channel(), strategy="fine_tune", unfreeze="conv", head_units=[16, 8],
        augmentation={"rotation": 10, "horizontal_flip": True},
    )
    assert set(component.outputs) == {specs.MODEL_KEY, specs.MODEL_RUN_KEY}
    assert component.outputs[specs.MODEL_KEY].type_name == "Model"
    assert component.outputs[specs.MODEL_RUN_KEY].type_name == "ModelRun"
    props = component.exec_properties
    config = config_codec.from_exec_properties(config_lib.FineTunerConfig, props)
    assert config == component.config
    assert config.run.head.head_units == (16, 8) and config.run.unfreeze == "conv"
    assert (config.run.augmentation.rotation, config.run.augmentation.horizontal_flip) == (10, True)
    assert json.loads(props[specs.CONFIG_KEY])["run"]["strategy"] == "fine_tune"


def test_strategy_defaults_to_auto_like_run_fn():
    assert _fine_tuner().config.run.strategy == strategy_lib.DEFAULT_STRATEGY == RunConfig().strategy == "auto"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"strategy": "transfer"}, r"Unknown strategy 'transfer'; valid values are \['auto', 'feature_extraction', 'fine_tune'\]"),
        ({"strategy": "fine_tune"}, "strategy='fine_tune' trains on raw images: pass the raw `examples`"),
        ({"num_classes": 1}, "num_classes=1 is invalid; valid values are ints >= 2"),
        ({"class_weight": "inverse"}, "Unknown class_weight 'inverse'"),
        ({"epochs": 0}, "epochs=0 is invalid; valid values are ints >= 1"),
        ({"learning_rate": -1.0}, "learning_rate=-1.0 is invalid; valid values are positive numbers"),
        ({"dropout": 1.5}, "dropout=1.5 is out of range"),
        ({"head_units": [0]}, r"head_units=\(0,\) holds \[0\]"),
        ({"unfreeze": 0}, "unfreeze=0 is invalid"),
        ({"unfreeze": 1.5}, r"unfreeze=1.5 is not a valid fraction.*fraction in \(0, 1\]"),
        ({"augmentation": {"rotate": 10}}, r"Unknown augmentation keys \['rotate'\]; valid keys are \['height_shift'"),
        ({"augmentation": {"zoom": 2}}, "zoom"),
    ],
)
def test_configuration_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _fine_tuner(**kwargs)


def test_unfreeze_beyond_the_base_is_an_error(tiny_extractor):
    with pytest.raises(ValueError, match=r"unfreeze=50 layers is out of range: the base has \d+ layers"):
        _fine_tuner(tiny_extractor, examples=_channel(), strategy="fine_tune", unfreeze=50)


def test_unfreeze_names_an_unknown_layer(tiny_extractor):
    with pytest.raises(ValueError, match=r"unfreeze layer 'convv'.*Closest layer names: \['conv'"):
        _fine_tuner(tiny_extractor, examples=_channel(), strategy="fine_tune", unfreeze="convv")


def test_fine_tune_on_a_saved_model_base_is_an_error(saved_model_extractor):
    with pytest.raises(ValueError, match="strategy='fine_tune' is not possible with a SavedModel / TF Hub base: Keras 3 cannot fine-tune it"):
        _fine_tuner(saved_model_extractor, examples=_channel(), strategy="fine_tune")
    _fine_tuner(saved_model_extractor, strategy="feature_extraction")  # Allowed.


def test_checks_left_to_execution_are_named(tiny_extractor):
    assert _fine_tuner(tiny_extractor, examples=_channel(), strategy="fine_tune", unfreeze=2).skipped_checks == []
    assert _fine_tuner().skipped_checks == []  # nothing to check against the base
    unknown_base = _fine_tuner(examples=_channel(), strategy="fine_tune", unfreeze=2)
    assert unknown_base.skipped_checks == [
        "FineTuner: strategy='fine_tune' and unfreeze=2 are checked against the base when the step runs "
        "(the base is not known when the pipeline is built)."
    ]
