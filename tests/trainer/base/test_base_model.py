"""The base-model resolver: SavedModel sources, artifact directories, save/load round trips."""

from __future__ import annotations


import keras
import numpy as np
import pytest
import tensorflow as tf

from testdata import build_tiny_cnn
from tfx_transfer.trainer.base import base_model as bm
from tfx_transfer.trainer.base import base_source as bs
from tfx_transfer.trainer.base import cuts
from tfx_transfer.trainer.base import feature_extractor as fe
from tfx_transfer.trainer.base import weights_hash


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
    source = bs.BaseModelSource(model_uri=saved_model_dir, image_size=(16, 16), preprocessing="unit")
    model, config = bm.build_feature_extractor(source)
    assert config.image_size == (16, 16) and config.mode == "unit"
    (cut,) = cuts.cut_names(model)
    features = model(tf.zeros((2, 16, 16, 3)))[cut]
    assert tuple(features.shape) == (2, 5)
    assert bm.feature_dims(model, config) == {cut: 5} and not bm.is_fine_tunable(model)

    info = fe.FeatureExtractorInfo(config, ((cut, 5),), False, source.describe(), {"pooling": "avg"})
    fe.save_feature_extractor(model, info, str(tmp_path / "fx"), bm.saved_model_source_path(source))
    reloaded, reloaded_info = fe.load_feature_extractor(str(tmp_path / "fx"))
    assert not reloaded_info.fine_tunable
    images = tf.random.uniform((3, 16, 16, 3))
    np.testing.assert_allclose(reloaded(images)[cut], model(images)[cut], atol=1e-6)


def test_saved_model_cannot_be_cut(saved_model_dir):
    with pytest.raises(bs.BaseModelError, match="SavedModel is used whole"):
        bm.build_feature_extractor(bs.BaseModelSource(model_uri=saved_model_dir, cut_layer="conv", image_size=16))


def test_a_saved_model_s_input_size_and_channels_come_from_its_signature(saved_model_dir, tmp_path):
    _, config = bm.build_feature_extractor(bs.BaseModelSource(model_uri=saved_model_dir))
    assert config.image_size == (16, 16) and config.channels == 3
    with pytest.raises(bs.BaseModelError, match=r"image_size=\(32, 32\) does not match the model's fixed input size \(16, 16\)"):
        bm.build_feature_extractor(bs.BaseModelSource(model_uri=saved_model_dir, image_size=32))
    inputs = keras.Input((None, None, 1))
    any_size = str(tmp_path / "any_size")
    keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3)(inputs))).export(any_size)
    with pytest.raises(bs.BaseModelError, match="The base model accepts any image size; set image_size"):
        bm.build_feature_extractor(bs.BaseModelSource(model_uri=any_size))
    _, config = bm.build_feature_extractor(bs.BaseModelSource(model_uri=any_size, image_size=24))
    assert config.image_size == (24, 24) and config.channels == 1


def test_model_artifact_dir_prefers_a_keras_file(tmp_path, saved_model_dir):
    root = tmp_path / "model_artifact"
    serving = root / "Format-Serving"
    tf.io.gfile.makedirs(str(serving))
    assert bm.find_model_in_dir(saved_model_dir) == saved_model_dir
    with pytest.raises(bs.BaseModelError, match="No model found"):
        bm.find_model_in_dir(str(root))
    build_tiny_cnn().save(str(serving / "model.keras"))
    assert bm.find_model_in_dir(str(root)) == str(serving / "model.keras")


def test_keras_file_round_trip_keeps_weights(tmp_path, tiny_cnn_path):
    source = bs.BaseModelSource(model_uri=tiny_cnn_path, cut_layer=["flatten_1", "pool"])
    model, config = bm.build_feature_extractor(source)
    dims = bm.feature_dims(model, config)
    assert dims == {"flatten_1": 196, "pool": 4}  # pool is globally averaged
    info = fe.FeatureExtractorInfo(config, tuple(dims.items()), True, source.describe(), {})
    fe.save_feature_extractor(model, info, str(tmp_path / "fx"))
    reloaded, reloaded_info = fe.load_feature_extractor(str(tmp_path / "fx"))
    assert reloaded_info == info and reloaded_info.default_cut == "flatten_1"
    images = tf.random.uniform((2, 32, 32, 3), maxval=255)
    for cut in dims:
        np.testing.assert_allclose(reloaded(images)[cut], model(images)[cut], atol=1e-6)


def test_application_preprocessing_families():
    assert bs.application_preprocessing("MobileNetV2") == "tf"
    assert bs.application_preprocessing("ResNet50") == "caffe"
    assert bs.application_preprocessing("DenseNet121") == "torch"
    assert bs.application_preprocessing("EfficientNetB0") == "none"
    assert bs.application_default_size("InceptionV3") == (299, 299)


def test_tree_hash_changes_with_any_file(tmp_path):
    directory = tmp_path / "d"
    (directory / "sub").mkdir(parents=True)
    (directory / "sub" / "a").write_bytes(b"1")
    first = weights_hash.tree_sha256(str(directory))
    (directory / "sub" / "a").write_bytes(b"2")
    assert weights_hash.tree_sha256(str(directory)) != first


@pytest.fixture
def unreachable_gs(monkeypatch):
    """Every gs:// path is unreachable, as on a machine without credentials or network."""
    from tfx_transfer.trainer.data import storage

    real = storage.path_status

    def status(path):
        if path.startswith("gs://"):
            return storage.PathStatus(path, storage.UNREACHABLE, "FailedPreconditionError: no network")
        return real(path)

    monkeypatch.setattr(storage, "path_status", status)


def test_an_unreadable_model_file_is_left_to_execution(unreachable_gs):
    source = bs.BaseModelSource(model_uri="gs://b/base.keras", cut_layer="flatten_1", image_size=32)
    resolution = bm.resolve_for_pipeline(source, "1.0")
    assert resolution.summary is None
    assert resolution.skipped == ("model_uri: gs://b/base.keras cannot be read from this machine "
                                  "(FailedPreconditionError: no network); checked when the step runs.",)
    assert resolution.fingerprint["weights_sha256"] == "unhashed:gs://b/base.keras"
    assert resolution.fingerprint["image_size"] == [32, 32] and resolution.fingerprint["cut_layer"] == "flatten_1"


def test_an_unreadable_weights_file_still_checks_the_application(unreachable_gs):
    pinned = "AB" * 32
    source = bs.BaseModelSource(keras_application="MobileNetV2", weights="gs://b/w.h5", weights_sha256=pinned, image_size=32)
    resolution = bm.resolve_for_pipeline(source, "1.0")
    assert resolution.fingerprint["weights_sha256"] == pinned.lower()  # the pin keys the cache
    assert resolution.summary is not None and resolution.summary.preprocessing.mode == "tf"
    assert len(resolution.skipped) == 1 and resolution.skipped[0].startswith("weights file: gs://b/w.h5 cannot be read")
    with pytest.raises(bs.BaseModelError, match="Unknown keras_application 'MobileNetV9'"):
        bm.resolve_for_pipeline(bs.BaseModelSource(keras_application="MobileNetV9", weights="gs://b/w.h5"), "1.0")


def test_execution_hashes_what_the_build_could_not(tmp_path, tiny_cnn_path):
    source = bs.BaseModelSource(model_uri=tiny_cnn_path, cut_layer="flatten_1")
    fingerprint = {"weights_sha256": f"unhashed:{tiny_cnn_path}", "pooling": "avg"}
    info = fe.build_and_save(source, fingerprint, str(tmp_path / "fx"))
    assert info.fingerprint["weights_sha256"] == weights_hash.tree_sha256(tiny_cnn_path)
    assert fe.load_feature_extractor_info(str(tmp_path / "fx")) == info


def test_base_summary_names_the_layers_unfreeze_counts(tiny_cnn_path):
    resolution = bm.resolve_for_pipeline(bs.BaseModelSource(model_uri=tiny_cnn_path, cut_layer="flatten_1"), "1.0")
    assert resolution.summary.layer_names == ("conv", "pool", "flatten_1")
    assert resolution.summary.fine_tunable and resolution.skipped == ()


def test_source_dict_round_trip_and_unknown_settings():
    source = bs.BaseModelSource(keras_application="ResNet50", weights=None, image_size=(96, 128), pooling=None)
    assert bs.BaseModelSource.from_dict(source.to_dict()) == source
    assert source.pooling == "none" and source.to_dict()["image_size"] == [96, 128]
    with pytest.raises(bs.BaseModelError, match=r"Unknown base model settings \['colour'\]"):
        bs.BaseModelSource.from_dict({"colour": 1})


def test_the_scaling_reason_names_where_the_scaling_comes_from(tmp_path):
    application = bs.BaseModelSource(keras_application="MobileNetV2", weights=None, image_size=32)
    assert bm.scaling_reason(application, None) == "the input scaling Keras' MobileNetV2 expects"
    configured = bs.BaseModelSource(model_uri="m.keras", preprocessing="unit")
    assert bm.scaling_reason(configured, None) == "as configured (preprocessing)"
    inputs = keras.Input((8, 8, 3))
    own = keras.Model(inputs, keras.layers.Conv2D(2, 3)(keras.layers.Rescaling(1 / 255, name="scale")(inputs)))
    plain = keras.Model(inputs, keras.layers.Conv2D(2, 3)(inputs))
    source = bs.BaseModelSource(model_uri="m.keras")
    assert bm.scaling_reason(source, own) == "the model's first layer, 'scale', scales the pixels itself"
    assert bm.scaling_reason(source, plain).startswith("own models get pixel values 0-255 as they are")


def test_a_saved_model_that_serves_strings_is_refused_in_one_sentence(tmp_path):
    class Examples(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve(self, examples):
            return {"outputs": tf.zeros((tf.shape(examples)[0], 2))}

    module = Examples()
    path = str(tmp_path / "trainer_serving")
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
    with pytest.raises(bs.BaseModelError, match=r"serves serialized strings \(tf\.Examples or encoded images.*Give the "
                       r"Keras model file"):
        bm.build_feature_extractor(bs.BaseModelSource(model_uri=path, image_size=16))
