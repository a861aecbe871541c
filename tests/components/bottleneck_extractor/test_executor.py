"""Executor tests on TFRecords the tests write, with tiny bases saved to temp dirs."""

from __future__ import annotations

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from tfx.types import artifact_utils, standard_artifacts

from testdata import examples_artifact, labelled_examples, make_example, png_bytes, read_examples, run_executor
from tfx_transfer.components import specs
from tfx_transfer.components.bottleneck_extractor import executor as executor_lib
from tfx_transfer.components.bottleneck_extractor.component import BottleneckExtractor
from tfx_transfer.trainer.base import base_source as bs
from tfx_transfer.trainer.base import feature_extractor as fe
from tfx_transfer.trainer.base import weights_hash


def _run_executor(tmp_path, examples, component, base_model_artifact=None):
    inputs = {specs.EXAMPLES_KEY: examples}
    if base_model_artifact is not None:
        inputs[specs.BASE_MODEL_KEY] = base_model_artifact
    return run_executor(component, inputs, str(tmp_path))


def _split_examples(artifact, split):
    return read_examples(artifact_utils.get_split_uri([artifact], split))


def _dummy_channel():
    from tfx.types import channel_utils

    return channel_utils.as_channel([standard_artifacts.Examples()])


def test_tiny_cnn_cut_at_flatten(tmp_path, tiny_cnn_path):
    examples = examples_artifact(
        str(tmp_path / "examples"),
        {"train": labelled_examples(10), "eval": labelled_examples(4, seed=100)},
    )
    component = BottleneckExtractor(examples=_dummy_channel(), model_uri=tiny_cnn_path, cut_layer="flatten_1")
    outputs = _run_executor(tmp_path, examples, component)

    train = _split_examples(outputs[specs.BOTTLENECKS_KEY], "train")
    assert len(train) == 10
    feature = train[0].features.feature
    # 32x32 -> conv 30x30x4 -> pool(4) 7x7x4 -> flatten 196.
    assert sorted(feature) == ["bottleneck/flatten_1", "id", "label"]
    assert len(feature["bottleneck/flatten_1"].float_list.value) == 196
    assert feature["label"].bytes_list.value[0] in (b"cat", b"dog")
    assert feature["id"].bytes_list.value[0].startswith(b"img_")
    assert len(_split_examples(outputs[specs.BOTTLENECKS_KEY], "eval")) == 4

    counts = json.loads(outputs[specs.BOTTLENECKS_KEY].get_string_custom_property(specs.SPLIT_COUNTS_PROPERTY))
    assert counts["train"]["examples_in"] == 10 and counts["train"]["examples_out"] == 10

    # The saved extractor reproduces the features: same preprocessing, same weights.
    model, info = fe.load_feature_extractor(outputs[specs.FEATURE_EXTRACTOR_KEY].uri)
    assert info.feature_dims == {"flatten_1": 196} and info.fine_tunable
    from tfx_transfer.trainer.data import preprocessing as pp

    image = train[0].features.feature["id"].bytes_list.value[0]
    seed = int(image.decode().split("_")[1].split(".")[0])
    pixels = pp.preprocess_image_bytes(tf.constant(png_bytes(20, 24, seed=seed)), info.preprocessing)
    expected = {cut: values.numpy()[0] for cut, values in model(pixels[None], training=False).items()}
    np.testing.assert_allclose(feature["bottleneck/flatten_1"].float_list.value, expected["flatten_1"], atol=1e-5)


def _one_split(tmp_path, n=6):
    return examples_artifact(str(tmp_path / "examples"), {"train": labelled_examples(n)})


def test_keras_application_without_weights(tmp_path):
    component = BottleneckExtractor(
        examples=_dummy_channel(), keras_application="MobileNetV2", weights=None, image_size=32, batch_size=4
    )
    outputs = _run_executor(tmp_path, _one_split(tmp_path), component)
    train = _split_examples(outputs[specs.BOTTLENECKS_KEY], "train")
    assert len(train) == 6
    # cut_layer defaults to 'auto': one pass writes every candidate cut.
    info = fe.load_feature_extractor_info(outputs[specs.FEATURE_EXTRACTOR_KEY].uri)
    assert info.default_cut == "out_relu" and len(info.cuts) >= 3
    feature = train[0].features.feature
    assert {name: len(feature[f"bottleneck/{name}"].float_list.value) for name, _ in info.cuts} == info.feature_dims
    assert info.feature_dims["out_relu"] == 1280


def _mobilenet_weights(tmp_path, seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = str(tmp_path / "mobilenet_v2_notop.weights.h5")
    model.save_weights(path)
    return model, path


def test_weights_from_a_local_file_with_pinned_sha256(tmp_path):
    reference, path = _mobilenet_weights(tmp_path)
    component = BottleneckExtractor(
        examples=_dummy_channel(),
        keras_application="MobileNetV2",
        weights=path,
        weights_sha256=weights_hash.file_sha256(path),
        image_size=32,
    )
    examples = _one_split(tmp_path, n=2)
    outputs = _run_executor(tmp_path, examples, component)
    # The features are those of the weights in the file, not of a fresh initialisation.
    extractor, info = fe.load_feature_extractor(outputs[specs.FEATURE_EXTRACTOR_KEY].uri)
    np.testing.assert_allclose(
        extractor.get_layer("Conv1").get_weights()[0], reference.get_layer("Conv1").get_weights()[0]
    )
    assert info.fingerprint["weights_sha256"] == weights_hash.file_sha256(path)


def test_wrong_sha256_fails_the_execution(tmp_path):
    _, path = _mobilenet_weights(tmp_path)
    component = BottleneckExtractor(
        examples=_dummy_channel(), keras_application="MobileNetV2", weights=path,
        weights_sha256=weights_hash.file_sha256(path), image_size=32,
    )
    _mobilenet_weights(tmp_path, seed=1)  # The file changes after the pipeline was built.
    with pytest.raises(bs.BaseModelError, match="weights_sha256"):
        _run_executor(tmp_path, _one_split(tmp_path, n=2), component)


def test_base_model_channel_with_cut_layer(tmp_path, tiny_cnn_path):
    model_artifact = standard_artifacts.Model()
    model_artifact.uri = str(tmp_path / "upstream_model")
    os.makedirs(os.path.join(model_artifact.uri, "Format-Serving"))
    tf.io.gfile.copy(tiny_cnn_path, os.path.join(model_artifact.uri, "Format-Serving", "model.keras"))
    from tfx.types import channel_utils

    component = BottleneckExtractor(
        examples=_dummy_channel(),
        base_model=channel_utils.as_channel([standard_artifacts.Model()]),
        cut_layer="pool",
    )
    outputs = _run_executor(tmp_path, _one_split(tmp_path), component, base_model_artifact=model_artifact)
    train = _split_examples(outputs[specs.BOTTLENECKS_KEY], "train")
    assert len(train[0].features.feature["bottleneck/pool"].float_list.value) == 4  # avg-pooled 7x7x4


def test_bad_data_is_counted_and_set_aside(tmp_path, tiny_cnn_path):
    huge_png = png_bytes(4, 4)
    huge_png = huge_png[:16] + (40000).to_bytes(4, "big") + (40000).to_bytes(4, "big") + huge_png[24:]
    good = labelled_examples(5)
    bad = {
        "undecodable_image": make_example(b"\x89PNG\r\n\x1a\n" + b"\x00" * 8 + b"IHDR" + b"\x00\x00\x00\x10" * 2 + b"garbage", "cat"),
        "unknown_image_format": make_example(b"this is not an image", "cat"),
        "too_many_pixels": make_example(huge_png, "cat"),
        "missing_label": make_example(png_bytes(seed=7), None),
        "missing_image": make_example(None, "dog"),
        "empty_image": make_example(b"", "dog"),
    }
    grayscale = make_example(png_bytes(20, 24, channels=1, seed=3), "cat", "gray.png")
    rgba = make_example(png_bytes(20, 24, channels=4, seed=4), "dog", "rgba.png")
    records = [e.SerializeToString() for e in good + list(bad.values()) + [grayscale, rgba]] + [b"\x00\xffnot a proto"]
    examples = examples_artifact(str(tmp_path / "examples"), {"train": []})
    from testdata import write_tfrecords

    write_tfrecords(artifact_utils.get_split_uri([examples], "train"), records)

    component = BottleneckExtractor(
        examples=_dummy_channel(), model_uri=tiny_cnn_path, cut_layer="flatten_1", max_image_pixels=1_000_000
    )
    outputs = _run_executor(tmp_path, examples, component)

    out = _split_examples(outputs[specs.BOTTLENECKS_KEY], "train")
    rejected = _split_examples(outputs[specs.REJECTED_KEY], "train")
    assert len(records) == len(out) + len(rejected)
    assert len(out) == len(good) + 2  # Grayscale and RGBA are converted, not rejected.
    reasons = sorted(e.features.feature["reason"].bytes_list.value[0].decode() for e in rejected)
    assert reasons == sorted(list(bad) + ["unparseable_example"])
    # Rejected examples keep their original features for inspection.
    kept = [e for e in rejected if e.features.feature["reason"].bytes_list.value[0] == b"missing_label"]
    assert kept[0].features.feature["image"].bytes_list.value[0] == png_bytes(seed=7)

    counts = json.loads(outputs[specs.REJECTED_KEY].get_string_custom_property(specs.SPLIT_COUNTS_PROPERTY))["train"]
    assert counts["examples_in"] == len(records)
    assert counts["examples_in"] == counts["examples_out"] + counts["examples_rejected"]
    assert counts["rejected_too_many_pixels"] == 1


def test_a_split_with_every_example_rejected_fails(tmp_path, tiny_cnn_path):
    examples = examples_artifact(
        str(tmp_path / "examples"),
        {"train": labelled_examples(3), "eval": [make_example(b"junk", "cat"), make_example(None, "dog")]},
    )
    component = BottleneckExtractor(examples=_dummy_channel(), model_uri=tiny_cnn_path, cut_layer="flatten_1")
    with pytest.raises(executor_lib.AllExamplesRejectedError, match=r"All 2 examples of split 'eval' were rejected"):
        _run_executor(tmp_path, examples, component)
