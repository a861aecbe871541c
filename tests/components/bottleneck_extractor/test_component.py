"""BottleneckExtractor construction: channels, exec properties and configuration errors."""

from __future__ import annotations

import json

import keras
import pytest
from tfx.types import channel_utils, standard_artifacts

from tfx_transfer.components import BottleneckExtractor, specs
from tfx_transfer.components.bottleneck_extractor import config as config_lib
from tfx_transfer.trainer.base import base_source as bs
from tfx_transfer.trainer.base import model_safety
from tfx_transfer.trainer.base import weights_hash


def _examples():
    return channel_utils.as_channel([standard_artifacts.Examples()])


def _model_channel():
    return channel_utils.as_channel([standard_artifacts.Model()])


def _weights_file(tmp_path, seed=0, name="mnv2.weights.h5"):
    keras.utils.set_random_seed(seed)
    model = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = str(tmp_path / name)
    model.save_weights(path)
    return path


def test_outputs_and_exec_properties_for_keras_application():
    component = BottleneckExtractor(
        examples=_examples(), keras_application="MobileNetV2", weights=None, image_size=32
    )
    assert set(component.outputs) == {specs.BOTTLENECKS_KEY, specs.FEATURE_EXTRACTOR_KEY, specs.REJECTED_KEY}
    assert component.outputs[specs.BOTTLENECKS_KEY].type_name == "Examples"
    assert component.outputs[specs.FEATURE_EXTRACTOR_KEY].type_name == "Model"
    props = component.exec_properties
    fingerprint = json.loads(props[specs.FINGERPRINT_KEY])
    assert fingerprint["image_size"] == [32, 32]
    assert fingerprint["preprocessing"] == "tf"  # MobileNetV2's preprocess_input
    assert fingerprint["pooling"] == "avg"
    assert fingerprint["plugin_version"] == props[specs.PLUGIN_VERSION_KEY]
    config, decoded = config_lib.from_exec_properties(props)
    assert decoded == fingerprint
    assert config.source.keras_application == "MobileNetV2" and config.source.weights is None
    assert config.source.preprocessing is None  # the application's own, resolved in the fingerprint
    assert component.base_summary.preprocessing.mode == "tf" and component.base_summary.fine_tunable
    assert component.skipped_checks == []


def test_default_image_size_is_the_applications():
    component = BottleneckExtractor(examples=_examples(), keras_application="MobileNetV2", weights=None)
    assert json.loads(component.exec_properties[specs.FINGERPRINT_KEY])["image_size"] == [224, 224]


def test_model_uri_takes_the_models_input_size(tiny_cnn_path):
    component = BottleneckExtractor(examples=_examples(), model_uri=tiny_cnn_path, cut_layer="flatten_1")
    fingerprint = json.loads(component.exec_properties[specs.FINGERPRINT_KEY])
    assert fingerprint["image_size"] == [32, 32]
    assert fingerprint["cut_layer"] == ["flatten_1"]
    assert len(fingerprint["weights_sha256"]) == 64


def test_base_model_channel_is_accepted():
    component = BottleneckExtractor(examples=_examples(), base_model=_model_channel(), cut_layer="flatten_1")
    assert component.inputs[specs.BASE_MODEL_KEY].type_name == "Model"


def test_fingerprint_follows_the_weights_bytes(tmp_path):
    path = _weights_file(tmp_path, seed=0)
    first = BottleneckExtractor(examples=_examples(), keras_application="MobileNetV2", weights=path, image_size=32)
    _weights_file(tmp_path, seed=1)  # Same path, other bytes.
    second = BottleneckExtractor(examples=_examples(), keras_application="MobileNetV2", weights=path, image_size=32)
    assert first.exec_properties[specs.FINGERPRINT_KEY] != second.exec_properties[specs.FINGERPRINT_KEY]


def test_weights_sha256_is_verified(tmp_path):
    path = _weights_file(tmp_path)
    good = weights_hash.file_sha256(path)
    BottleneckExtractor(
        examples=_examples(), keras_application="MobileNetV2", weights=path, weights_sha256=good, image_size=32
    )
    with pytest.raises(bs.BaseModelError, match="has sha256 .* but weights_sha256 is 'deadbeef'"):
        BottleneckExtractor(
            examples=_examples(), keras_application="MobileNetV2", weights=path, weights_sha256="deadbeef", image_size=32
        )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "exactly one base model source.*got 0"),
        ({"keras_application": "MobileNetV2", "model_uri": "x.keras"}, "got 2"),
        ({"keras_application": "MobileNetV3"}, "Unknown keras_application 'MobileNetV3'.*MobileNetV3Small"),
        ({"keras_application": "MobileNetV2", "weights": None, "pooling": "mean"}, "Unknown pooling 'mean'"),
        ({"keras_application": "MobileNetV2", "weights": None, "image_size": 16}, "cannot be built.*16"),
        ({"keras_application": "MobileNetV2", "weights": "/no/such.h5"}, "weights file '/no/such.h5' does not exist"),
        ({"keras_application": "MobileNetV2", "weights": None, "weights_sha256": "ab"}, "weights_sha256 is set"),
        ({"keras_application": "MobileNetV2", "weights": None, "preprocessing": "zscore"}, "Unknown preprocessing 'zscore'"),
        ({"keras_application": "MobileNetV2", "weights": None, "image_size": 32, "batch_size": 0}, "batch_size=0 is invalid; valid values are ints >= 1"),
        ({"model_uri": "/no/such/model.keras"}, "model_uri '/no/such/model.keras' does not exist"),
    ],
)
def test_configuration_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BottleneckExtractor(examples=_examples(), **kwargs)


def test_unknown_cut_layer_lists_closest_names(tiny_cnn_path):
    with pytest.raises(bs.BaseModelError, match=r"cut_layer 'flaten_1'.*Closest layer names: \['flatten_1'"):
        BottleneckExtractor(examples=_examples(), model_uri=tiny_cnn_path, cut_layer="flaten_1")


def test_image_size_must_match_a_fixed_input(tiny_cnn_path):
    with pytest.raises(bs.BaseModelError, match=r"image_size=\(64, 64\) does not match.*\(32, 32\)"):
        BottleneckExtractor(examples=_examples(), model_uri=tiny_cnn_path, cut_layer="flatten_1", image_size=64)


def _model_with_lambda():
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Lambda(lambda t: t * 2.0, name="double")(inputs)
    x = keras.layers.Flatten(name="flatten_1")(x)
    return keras.Model(inputs, keras.layers.Dense(2)(x))


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_model_files_with_code_are_refused(tmp_path, suffix):
    path = str(tmp_path / f"lambda{suffix}")
    _model_with_lambda().save(path)
    with pytest.raises(model_safety.UnsafeModelError, match=r"Lambda layers \['double'\].*allow_unsafe_model=True"):
        BottleneckExtractor(examples=_examples(), model_uri=path, cut_layer="flatten_1")
    component = BottleneckExtractor(
        examples=_examples(), model_uri=path, cut_layer="flatten_1", allow_unsafe_model=True
    )
    assert config_lib.from_exec_properties(component.exec_properties)[0].source.allow_unsafe_model is True


def test_h5_model_can_be_cut(tiny_cnn_h5_path):
    component = BottleneckExtractor(examples=_examples(), model_uri=tiny_cnn_h5_path, cut_layer="pool", pooling="max")
    assert json.loads(component.exec_properties[specs.FINGERPRINT_KEY])["pooling"] == "max"


def test_too_small_image_for_the_cut(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(2, 9, name="big_conv")(inputs)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    path = str(tmp_path / "anysize.keras")
    model.save(path)
    with pytest.raises(ValueError, match="image_size"):
        BottleneckExtractor(examples=_examples(), model_uri=path, cut_layer="big_conv", image_size=4)
