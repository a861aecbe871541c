"""The head, the full model, unfreezing and class weights."""

import json
import re
import zipfile

import keras
import numpy as np
import pytest

from tfx_transfer.trainer.base import cuts
from tfx_transfer.trainer.data.labels import LabelError
from tfx_transfer.trainer.training import head as head_lib
from tfx_transfer.trainer.training.head import HeadConfig, HeadConfigError, UnfreezeError


def _features(n=6, dim=5, seed=0):
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


@pytest.mark.parametrize("num_classes", [2, 3, 7])
def test_head_outputs_probabilities_for_every_class(num_classes):
    head = head_lib.build_head(5, num_classes, HeadConfig(head_units=(8, 4)), seed=0)
    probabilities = head(_features()).numpy()
    assert probabilities.shape == (6, num_classes)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    assert (probabilities >= 0).all()


def test_binary_head_is_one_sigmoid_unit_widened_to_two_columns():
    head = head_lib.build_head(5, 2, HeadConfig(), seed=0)
    assert head.get_layer("probability").units == 1
    assert head.get_layer("probability").get_config()["activation"] == "sigmoid"


def test_same_seed_builds_the_same_head():
    first = head_lib.build_head(5, 3, HeadConfig(head_units=(4,)), seed=7)
    second = head_lib.build_head(5, 3, HeadConfig(head_units=(4,)), seed=7)
    first_weights, second_weights = first.get_weights(), second.get_weights()
    assert len(first_weights) == len(second_weights) > 0
    for a, b in zip(first_weights, second_weights):
        np.testing.assert_array_equal(a, b)
    other = head_lib.build_head(5, 3, HeadConfig(head_units=(4,)), seed=8)
    assert not np.array_equal(other.get_weights()[0], first_weights[0])


def test_saved_head_has_no_lambda_layers(tmp_path):
    path = str(tmp_path / "head.keras")
    head_lib.build_head(5, 2, HeadConfig(), seed=0).save(path)
    with zipfile.ZipFile(path) as archive:
        assert "Lambda" not in archive.read("config.json").decode()


def test_binary_loss_is_binary_crossentropy_of_the_sigmoid_unit():
    probabilities = np.array([[0.3, 0.7], [0.9, 0.1]], np.float32)
    labels = np.array([1, 0])
    expected = keras.losses.BinaryCrossentropy()(labels[:, None].astype(np.float32), probabilities[:, 1:])
    loss = head_lib.head_loss(2)(labels, probabilities)
    np.testing.assert_allclose(float(loss), float(expected), rtol=1e-6)


def test_multiclass_loss_matches_sparse_crossentropy_and_smoothing_raises_it():
    probabilities = np.array([[0.2, 0.7, 0.1], [0.6, 0.3, 0.1]], np.float32)
    labels = np.array([1, 0])
    expected = keras.losses.SparseCategoricalCrossentropy()(labels, probabilities)
    np.testing.assert_allclose(float(head_lib.head_loss(3)(labels, probabilities)), float(expected), rtol=1e-6)
    assert float(head_lib.head_loss(3, label_smoothing=0.2)(labels, probabilities)) > float(expected)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(dropout=1.0), "dropout=1.0 is out of range; valid values are in \\[0.0, 1.0\\)"),
        (dict(dropout=-0.1), "dropout=-0.1"),
        (dict(l2=-1.0), "l2=-1.0"),
        (dict(label_smoothing=1.0), "label_smoothing=1.0"),
        (dict(head_units=(16, 0)), "head_units=\\(16, 0\\) holds \\[0\\]"),
        (dict(head_units=("64",)), "holds \\['64'\\]"),
    ],
)
def test_head_config_errors_name_the_value_and_valid_range(kwargs, match):
    with pytest.raises(HeadConfigError, match=match):
        HeadConfig(**kwargs)


def test_one_class_head_is_an_error():
    with pytest.raises(HeadConfigError, match="num_classes=1"):
        head_lib.build_head(5, 1, HeadConfig(), seed=0)


def test_full_model_is_head_of_extractor(tiny_extractor):
    extractor, _ = tiny_extractor
    head = head_lib.build_head(extractor.output_shape[-1], 3, HeadConfig(dropout=0.0), seed=0)
    full = head_lib.build_full_model(extractor, head)
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(full(images).numpy(), head(extractor(images)).numpy(), atol=1e-6)
    assert [layer.name for layer in full.layers] == ["image", "conv", "pool", "flatten_1", "head"]
    assert [layer.name for layer in head_lib.base_layers(full)] == ["conv", "pool", "flatten_1"]


def test_saved_full_model_can_be_cut_again_at_a_base_layer(tiny_extractor, tmp_path):
    extractor, _ = tiny_extractor
    full = head_lib.build_full_model(extractor, head_lib.build_head(196, 3, HeadConfig(), seed=0))
    path = str(tmp_path / "model.keras")
    full.save(path)
    loaded = keras.saving.load_model(path)
    assert cuts.default_cut(loaded) == "flatten_1"  # the layer feeding the nested head
    cut = cuts.cut_extractor(cuts.multi_cut_extractor(loaded, ["flatten_1"], "avg"), "flatten_1")
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(cut(images).numpy(), extractor(images).numpy(), atol=1e-6)


def _bn_base():
    inputs = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(4, 3, name="conv_a")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Conv2D(4, 3, name="conv_b")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, x, name="feature_extractor")


def test_fine_tuned_full_model_keeps_base_batchnorm_in_inference_mode():
    base = _bn_base()
    full = head_lib.build_full_model(base, head_lib.build_head(4, 3, HeadConfig(dropout=0.0), seed=0))
    head_lib.unfreeze(full, 1.0)
    images = np.random.default_rng(0).normal(5, 3, (4, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(full(images, training=True).numpy(), full(images, training=False).numpy(), atol=1e-6)


def test_unfreeze_top_n_layers_keeps_batchnorm_and_lower_layers_frozen():
    base = _bn_base()
    full = head_lib.build_full_model(base, head_lib.build_head(4, 3, HeadConfig(), seed=0))
    base.trainable = False
    assert head_lib.unfreeze(full, 3) == ["conv_b", "gap"]
    assert [(l.name, l.trainable) for l in head_lib.base_layers(full)] == [
        ("conv_a", False), ("bn", False), ("conv_b", True), ("gap", True),
    ]
    assert full.get_layer("head").trainable


def test_unfreeze_from_layer_name_and_fraction():
    base = _bn_base()
    assert head_lib.unfreeze(base, "bn") == ["conv_b", "gap"]
    assert head_lib.unfreeze(base, 0.5) == ["conv_b", "gap"]
    assert head_lib.unfreeze(base, 1.0) == ["conv_a", "conv_b", "gap"]
    assert not base.get_layer("bn").trainable


def test_unfreeze_fraction_rounds_up_without_float_noise():
    layers = [f"d{i}" for i in range(100)]
    assert head_lib.unfreeze_start(layers, 0.15) == 85
    assert head_lib.unfreeze_start(layers, 0.001) == 99


def test_unfreeze_more_layers_than_the_base_has_is_an_error():
    with pytest.raises(UnfreezeError, match="unfreeze=5 layers is out of range: the base has 4 layers; valid values are 1..4"):
        head_lib.unfreeze(_bn_base(), 5)


def test_unfreeze_zero_layers_is_an_error():
    with pytest.raises(UnfreezeError, match="unfreeze=0 is invalid; valid values are an int >= 1"):
        head_lib.unfreeze(_bn_base(), 0)


def test_unfreeze_unknown_layer_lists_closest_names():
    with pytest.raises(UnfreezeError, match="'conv_c' is not a layer .*Closest layer names: \\['conv_b', 'conv_a'\\]"):
        head_lib.unfreeze(_bn_base(), "conv_c")


@pytest.mark.parametrize("fraction", [0.0, 1.5, -0.2, float("nan")])
def test_unfreeze_fraction_out_of_range_is_an_error(fraction):
    with pytest.raises(UnfreezeError, match="is not a valid fraction; valid values are .* a fraction in \\(0, 1\\]"):
        head_lib.unfreeze(_bn_base(), fraction)


@pytest.mark.parametrize("spec", [True, None, [1]])
def test_unfreeze_spec_of_wrong_type_is_an_error(spec):
    with pytest.raises(UnfreezeError, match=f"unfreeze={re.escape(repr(spec))} has type {type(spec).__name__}"):
        head_lib.unfreeze(_bn_base(), spec)


def test_balanced_class_weights():
    weights = head_lib.class_weights(np.array([0, 0, 0, 1]), 3)
    assert weights == {0: 4 / 9, 1: 4 / 3, 2: 1.0}
    json.dumps(weights)


def test_class_weights_reject_labels_outside_the_classes():
    with pytest.raises(LabelError, match="Labels \\[3\\] are outside the valid class indices 0..2"):
        head_lib.class_weights(np.array([0, 3]), 3)
