"""Executor tests on TFRecords the tests write, with tiny bases saved to temp dirs."""

from __future__ import annotations

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from tfx.types import artifact_utils, standard_artifacts

from testdata import examples_artifact, labelled_examples, make_example, png_bytes, read_examples
from tfx_transfer.components import specs
from tfx_transfer.components.bottleneck_extractor import executor as executor_lib
from tfx_transfer.components.bottleneck_extractor.component import BottleneckExtractor
from tfx_transfer.trainer import base_model as bm


def _run_executor(tmp_path, examples, component, base_model_artifact=None):
    """Runs the executor with the exec properties the component computed at construction."""
    outputs = {
        specs.BOTTLENECKS_KEY: [standard_artifacts.Examples()],
        specs.FEATURE_EXTRACTOR_KEY: [standard_artifacts.Model()],
        specs.REJECTED_KEY: [standard_artifacts.Examples()],
    }
    for key, artifacts in outputs.items():
        artifacts[0].uri = str(tmp_path / key)
    inputs = {specs.EXAMPLES_KEY: [examples]}
    if base_model_artifact is not None:
        inputs[specs.BASE_MODEL_KEY] = [base_model_artifact]
    exec_properties = dict(component.exec_properties)
    executor_lib.Executor().Do(inputs, outputs, exec_properties)
    return {key: artifacts[0] for key, artifacts in outputs.items()}


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
    assert len(feature["bottleneck"].float_list.value) == 196
    assert feature["label"].bytes_list.value[0] in (b"cat", b"dog")
    assert feature["id"].bytes_list.value[0].startswith(b"img_")
    assert len(_split_examples(outputs[specs.BOTTLENECKS_KEY], "eval")) == 4

    counts = json.loads(outputs[specs.BOTTLENECKS_KEY].get_string_custom_property(specs.SPLIT_COUNTS_PROPERTY))
    assert counts["train"]["examples_in"] == 10 and counts["train"]["examples_out"] == 10

    # The saved extractor reproduces the features: same preprocessing, same weights.
    model, info = bm.load_feature_extractor(outputs[specs.FEATURE_EXTRACTOR_KEY].uri)
    assert info.feature_dim == 196 and info.fine_tunable
    from tfx_transfer.trainer import preprocessing as pp

    image = train[0].features.feature["id"].bytes_list.value[0]
    seed = int(image.decode().split("_")[1].split(".")[0])
    pixels = pp.preprocess_image_bytes(tf.constant(png_bytes(20, 24, seed=seed)), info.preprocessing)
    expected = model(pixels[None], training=False).numpy()[0]
    np.testing.assert_allclose(feature["bottleneck"].float_list.value, expected, atol=1e-5)
