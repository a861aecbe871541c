"""Where a base is cut: the default cut, the 'auto' candidates, and one extractor for all of them."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from testdata import build_tiny_cnn, keras2_sequential_h5
from tfx_transfer.trainer.base import cuts
from tfx_transfer.trainer.base.base_source import BaseModelError


def _digits_like_cnn():
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(name="pool1")(x)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv2")(x)
    x = keras.layers.MaxPooling2D(name="pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(16, activation="relu", name="features")(x)
    return keras.Model(inputs, keras.layers.Dense(5, activation="softmax", name="classes")(x))


def test_the_default_cut_feeds_the_classifier_never_its_output():
    assert cuts.default_cut(_digits_like_cnn()) == "features"
    assert cuts.default_cut(build_tiny_cnn()) == "flatten_1"
    inputs = keras.Input((4,))
    logits = keras.layers.Dense(3, name="logits")(keras.layers.Dense(6, name="hidden")(inputs))
    with_softmax = keras.Model(inputs, keras.layers.Softmax(name="softmax")(logits))
    assert cuts.default_cut(with_softmax) == "hidden"
    no_classifier = keras.Model(inputs, keras.layers.ReLU(name="relu")(inputs))
    assert cuts.default_cut(no_classifier) == "relu"


def test_a_keras2_sequential_h5_is_cut_below_its_classifier(tmp_path):
    model = keras.saving.load_model(keras2_sequential_h5(str(tmp_path / "k2.h5")), compile=False)
    names = [layer.name for layer in model.layers]
    assert names[-2:] == ["dense_1", "dense_2"]
    assert cuts.default_cut(model) == "dense_1"
    assert cuts.candidate_cuts(model) == ("dense_1", "dense", "flatten", "max_pooling2d", "batch_normalization")
    extractor = cuts.multi_cut_extractor(model, cuts.candidate_cuts(model), "avg")
    outputs = extractor(np.zeros((2, 16, 16, 3), np.float32))
    assert {cut: tuple(v.shape) for cut, v in outputs.items()} == {
        "dense_1": (2, 8), "dense": (2, 12), "flatten": (2, 196), "max_pooling2d": (2, 4), "batch_normalization": (2, 4)}


def test_dropout_and_activations_around_the_classifier_are_stepped_over():
    inputs = keras.Input((8,))
    features = keras.layers.Dense(6, name="features")(inputs)
    dropped = keras.layers.Dropout(0.3, name="drop")(features)
    scores = keras.layers.Dense(3, name="scores")(dropped)
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="probs")(keras.layers.Dropout(0.1)(scores)))
    assert cuts.default_cut(model) == "features"
    assert "drop" not in cuts.candidate_cuts(model)


def test_a_classifier_alone_has_no_cut_and_says_so():
    inputs = keras.Input((8,))
    alone = keras.Model(inputs, keras.layers.Dense(3, name="scores")(inputs), name="alone")
    with pytest.raises(BaseModelError, match=r"^'alone' has no single feature layer feeding its classifier 'scores', so it "
                       r"has no layer to cut at: it is the classifier alone\."):
        cuts.default_cut(alone)
    left, right = keras.Input((4,), name="left"), keras.Input((4,), name="right")
    joined = keras.layers.Concatenate(name="joined")([keras.layers.Dense(2, name="a")(left), keras.layers.Dense(2, name="b")(right)])
    two = keras.Model([left, right], keras.layers.Dense(3, name="scores")(keras.layers.Dense(3, name="mix")(joined)), name="two")
    assert cuts.default_cut(two) == "mix"
    branches = keras.Model([left, right], keras.layers.Dense(3, name="scores2")(joined), name="branches")
    assert cuts.default_cut(branches) == "joined"
    head_left, head_right = keras.Input((2,)), keras.Input((2,))
    head = keras.Model([head_left, head_right], keras.layers.Dense(3)(keras.layers.Add()([head_left, head_right])), name="head")
    two_fed = keras.Model([left, right], head([keras.layers.Dense(2, name="c")(left), keras.layers.Dense(2, name="d")(right)]),
                          name="two_fed")
    with pytest.raises(BaseModelError, match=r"^'two_fed' has no single feature layer feeding its classifier 'head', so it "
                       r"has no default cut\. Pass cut_layer= one of its layers: \['c', 'd'\]\.$"):
        cuts.default_cut(two_fed)


def test_auto_candidates_are_the_feature_layers_and_the_deepest_stage_ends():
    assert cuts.candidate_cuts(_digits_like_cnn()) == ("features", "flatten", "pool2", "conv2", "pool1", "conv1")
    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(64, 64, 3))
    assert cuts.candidate_cuts(vgg)[:5] == ("block5_pool", "block5_conv3", "block4_pool", "block4_conv3", "block3_pool")
    assert len(cuts.candidate_cuts(vgg)) == cuts.AUTO_MAX_CANDIDATES
    efficientnet = keras.applications.EfficientNetB0(include_top=False, weights=None, input_shape=(64, 64, 3))
    assert "normalization" in [layer.name for layer in efficientnet.layers]
    assert "normalization" not in cuts.candidate_cuts(efficientnet)  # input scaling, not a feature


def test_resolve_checks_names_and_specs():
    model = _digits_like_cnn()
    assert cuts.resolve_cuts(model, None) == ("features",)
    assert cuts.resolve_cuts(model, ["pool2", "flatten", "pool2"]) == ("pool2", "flatten")
    with pytest.raises(BaseModelError, match=r"cut_layer 'pool3' is not a layer .*Closest layer names: \['pool2', 'pool1'\]"):
        cuts.resolve_cuts(model, "pool3")
    with pytest.raises(BaseModelError, match=r"cut_layer=\[\] is invalid"):
        cuts.resolve_cuts(model, [])


def test_one_pass_computes_every_cut_and_each_cut_has_its_own_sub_model():
    model = _digits_like_cnn()
    extractor = cuts.multi_cut_extractor(model, ("features", "pool2", "conv1"), "avg")
    assert cuts.cut_names(extractor) == ("features", "pool2", "conv1")
    images = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype(np.float32)
    outputs = extractor(images)
    assert {cut: tuple(v.shape) for cut, v in outputs.items()} == {"features": (2, 16), "pool2": (2, 8), "conv1": (2, 8)}
    single = cuts.cut_extractor(extractor, "pool2")
    np.testing.assert_allclose(single(images).numpy(), outputs["pool2"].numpy(), atol=1e-6)
    assert "features" not in [layer.name for layer in single.layers]  # only the layers up to the cut
    with pytest.raises(BaseModelError, match=r"no cut 'flatten'; its cuts are \['features', 'pool2', 'conv1'\]"):
        cuts.cut_extractor(extractor, "flatten")


def test_a_combined_cut_is_its_parts_side_by_side():
    extractor = cuts.multi_cut_extractor(_digits_like_cnn(), ("features", "pool2", "conv1"), "avg")
    images = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype(np.float32)
    outputs = extractor(images)
    combined = cuts.combined_cut(["features", "conv1"])
    assert combined == "features+conv1" and cuts.cut_parts(combined, cuts.cut_names(extractor)) == ("features", "conv1")
    both = cuts.cut_extractor(extractor, combined)
    expected = np.concatenate([outputs["features"].numpy(), outputs["conv1"].numpy()], axis=1)
    np.testing.assert_allclose(both(images).numpy(), expected, atol=1e-6)
    with pytest.raises(BaseModelError, match=r"no cut 'features\+flatten'; its cuts are \['features', 'pool2', 'conv1'\]"):
        cuts.cut_extractor(extractor, "features+flatten")


def _transfer_guide_model():
    """The Keras transfer guide's shape: a Rescaling, a nested base, pooling, Dropout, a Dense classifier."""
    keras.utils.set_random_seed(0)
    inner_in = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="block1_conv")(inner_in)
    x = keras.layers.MaxPooling2D(name="block1_pool")(x)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="block2_conv")(x)
    base = keras.Model(inner_in, x, name="base")
    inputs = keras.Input((16, 16, 3))
    x = base(keras.layers.Rescaling(1 / 255, name="scale")(inputs), training=False)
    x = keras.layers.Dropout(0.2, name="drop")(keras.layers.GlobalAveragePooling2D(name="gap")(x))
    return keras.Model(inputs, keras.layers.Dense(3, name="classes")(x), name="guide")


def test_a_nested_base_is_entered_and_its_stage_ends_are_candidates():
    model = cuts.enter_nested(_transfer_guide_model(), "auto")
    assert cuts.default_cut(model) == "gap"
    assert cuts.candidate_cuts(model) == ("gap", "block2_conv", "block1_pool", "block1_conv")
    extractor = cuts.multi_cut_extractor(model, cuts.candidate_cuts(model), "avg")
    assert {name: tuple(t.shape) for name, t in extractor.output.items()} == {
        "gap": (None, 8), "block2_conv": (None, 8), "block1_pool": (None, 4), "block1_conv": (None, 4)}


def test_a_cut_naming_the_nested_model_keeps_it_whole():
    model = _transfer_guide_model()
    kept = cuts.enter_nested(model, "base")
    assert kept is model and cuts.resolve_cuts(kept, "base") == ("base",)
    assert cuts.enter_nested(model, ["gap", "base"]) is model


def test_a_nested_model_whose_layer_names_clash_with_the_outer_ones_stays_one_layer():
    inner_in = keras.Input((4, 4, 3))
    base = keras.Model(inner_in, keras.layers.Conv2D(2, 1, name="conv")(inner_in), name="base")
    inputs = keras.Input((4, 4, 3))
    x = keras.layers.Conv2D(2, 1, name="conv")(base(inputs))  # unique among the outer model's own layers
    model = keras.Model(inputs, keras.layers.Dense(2, name="classes")(keras.layers.Flatten(name="flat")(x)))
    assert cuts.enter_nested(model, None) is model


def test_a_nested_classifier_stays_whole_while_the_base_is_entered():
    guide = _transfer_guide_model()
    head = keras.Sequential([keras.Input((8,)), keras.layers.Dense(5, activation="relu", name="hidden"),
                             keras.layers.Dense(3, name="scores")], name="head")
    base = guide.get_layer("base")
    inputs = keras.Input((16, 16, 3))
    model = keras.Model(inputs, head(keras.layers.GlobalAveragePooling2D(name="pooled")(base(inputs))))
    entered = cuts.enter_nested(model, None)
    assert [layer.name for layer in entered.layers[1:]] == ["block1_conv", "block1_pool", "block2_conv", "pooled", "head"]
    assert cuts.default_cut(entered) == "pooled"
    images = np.random.default_rng(0).uniform(size=(2, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(entered(images)), np.asarray(model(images)), atol=1e-5)
