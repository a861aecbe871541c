"""The base-model resolver: SavedModel sources, artifact directories, save/load round trips."""

from __future__ import annotations


import keras
import numpy as np
import pytest
import tensorflow as tf

from testdata import build_tiny_cnn
from tfx_transfer.trainer import base_model as bm


@pytest.fixture(scope="module")
def saved_model_dir(tmp_path_factory):
    """A SavedModel feature extractor (as from TF Hub): float images in, one feature tensor out."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    outputs = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(5, 3)(inputs))
    directory = str(tmp_path_factory.mktemp("hub") / "feature_vector")
    keras.Model(inputs, outputs).export(directory)
    return directory


def test_saved_model_is_used_whole_for_feature_extraction(tmp_path, saved_model_dir):
    source = bm.BaseModelSource(model_uri=saved_model_dir, image_size=(16, 16), preprocessing="unit")
    model, config = bm.build_feature_extractor(source)
    assert config.image_size == (16, 16) and config.mode == "unit"
    features = model(tf.zeros((2, 16, 16, 3)))
    assert tuple(features.shape) == (2, 5)

    info = bm.FeatureExtractorInfo(config, 5, False, source.describe(), None, {"pooling": "avg"})
    bm.save_feature_extractor(model, info, str(tmp_path / "fx"), bm.saved_model_source_path(source))
    reloaded, reloaded_info = bm.load_feature_extractor(str(tmp_path / "fx"))
    assert not reloaded_info.fine_tunable
    images = tf.random.uniform((3, 16, 16, 3))
    np.testing.assert_allclose(reloaded(images), model(images), atol=1e-6)


def test_saved_model_cannot_be_cut(saved_model_dir):
    with pytest.raises(bm.BaseModelError, match="SavedModel is used whole"):
        bm.build_feature_extractor(bm.BaseModelSource(model_uri=saved_model_dir, cut_layer="conv", image_size=16))


def test_saved_model_needs_an_image_size(saved_model_dir):
    with pytest.raises(bm.BaseModelError, match="set image_size"):
        bm.build_feature_extractor(bm.BaseModelSource(model_uri=saved_model_dir))


def test_model_artifact_dir_prefers_a_keras_file(tmp_path, saved_model_dir):
    root = tmp_path / "model_artifact"
    serving = root / "Format-Serving"
    tf.io.gfile.makedirs(str(serving))
    assert bm.find_model_in_dir(saved_model_dir) == saved_model_dir
    with pytest.raises(bm.BaseModelError, match="No model found"):
        bm.find_model_in_dir(str(root))
    build_tiny_cnn().save(str(serving / "model.keras"))
    assert bm.find_model_in_dir(str(root)) == str(serving / "model.keras")


def test_keras_file_round_trip_keeps_weights(tmp_path, tiny_cnn_path):
    source = bm.BaseModelSource(model_uri=tiny_cnn_path, cut_layer="flatten_1")
    model, config = bm.build_feature_extractor(source)
    info = bm.FeatureExtractorInfo(config, 196, True, source.describe(), "flatten_1", {})
    bm.save_feature_extractor(model, info, str(tmp_path / "fx"))
    reloaded, reloaded_info = bm.load_feature_extractor(str(tmp_path / "fx"))
    assert reloaded_info == info
    images = tf.random.uniform((2, 32, 32, 3), maxval=255)
    np.testing.assert_allclose(reloaded(images), model(images), atol=1e-6)


def test_application_preprocessing_families():
    assert bm.application_preprocessing("MobileNetV2") == "tf"
    assert bm.application_preprocessing("ResNet50") == "caffe"
    assert bm.application_preprocessing("DenseNet121") == "torch"
    assert bm.application_preprocessing("EfficientNetB0") == "none"
    assert bm.application_default_size("InceptionV3") == (299, 299)


def test_tree_hash_changes_with_any_file(tmp_path):
    directory = tmp_path / "d"
    (directory / "sub").mkdir(parents=True)
    (directory / "sub" / "a").write_bytes(b"1")
    first = bm.tree_sha256(str(directory))
    (directory / "sub" / "a").write_bytes(b"2")
    assert bm.tree_sha256(str(directory)) != first
