"""One run end to end on tiny data: the cut chosen by measurement, the control, the gate."""

from __future__ import annotations

import json
import os
import types

import keras
import numpy as np
import tensorflow as tf

import testdata
from tfx_transfer.trainer import control as control_lib
from tfx_transfer.trainer import run_fn
from tfx_transfer.trainer import strategy as strategy_lib

LABELS = ("cat", "dog", "fox")


def _blind_base(path: str) -> str:
    """A 'pretrained' base whose features carry nothing: an all-zero convolution, pooled."""
    inputs = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Conv2D(4, 3, kernel_initializer="zeros", bias_initializer="zeros", name="blind")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="classes")(x)).save(path)
    return path


def _fn_args(tmp_path, base_path, **config):
    examples = testdata.class_examples(30, labels=LABELS, seed=0)
    testdata.write_tfrecords(str(tmp_path / "train"), [e.SerializeToString() for e in examples])
    return types.SimpleNamespace(
        train_files=[str(tmp_path / "train" / "*")], eval_files=[],
        serving_model_dir=str(tmp_path / "serving"), model_run_dir=str(tmp_path / "model_run"),
        custom_config={"model_uri": base_path, "preprocessing": "unit", **config},
    )


def _decision(fn_args):
    with open(os.path.join(fn_args.model_run_dir, strategy_lib.STRATEGY_FILE)) as f:
        return json.load(f)


def _served_accuracy(fn_args) -> float:
    images = [testdata.class_png(i % 3, 3, seed=900 + i) for i in range(30)]
    names = tf.saved_model.load(fn_args.serving_model_dir).signatures["serving_raw"](image_bytes=tf.constant(images))["class_names"]
    return float(np.mean([name.decode() == LABELS[i % 3] for i, name in enumerate(names.numpy())]))


def test_negative_transfer_exports_the_control(tmp_path):
    fn_args = _fn_args(tmp_path, _blind_base(str(tmp_path / "blind.keras")), control={"kind": "pixels"})
    run_fn.run_fn(fn_args)
    decision = _decision(fn_args)
    assert decision["cut_layer"] == "gap"  # the layer feeding the classifier, not its softmax
    assert decision["negative_transfer"] is True and decision["exported"] == "control"
    assert decision["control"]["kind"] == "pixels"
    assert decision["control"]["validation_accuracy"] > decision["transfer_accuracy"]
    assert any(reason.startswith("Negative transfer: the control (a logistic regression on 16x16 pixels") for reason in decision["reasons"])
    # The exported model is the control: it classifies new images as its validation score says.
    assert _served_accuracy(fn_args) > 0.9


def test_a_useful_base_beats_the_scratch_control(tmp_path, tiny_cnn_path, monkeypatch):
    monkeypatch.setattr(control_lib, "SCRATCH_MIN_STEPS", 30)  # a quick control; the contract is the same
    fn_args = _fn_args(tmp_path, tiny_cnn_path, cut_layer="auto")
    run_fn.run_fn(fn_args)
    decision = _decision(fn_args)
    assert [c["cut"] for c in decision["candidates"]] == ["flatten_1", "pool", "conv"]
    chosen = [c for c in decision["candidates"] if c["chosen"]]
    assert len(chosen) == 1 and chosen[0]["cut"] == decision["cut_layer"]
    assert chosen[0]["probe_accuracy"] == max(c["probe_accuracy"] for c in decision["candidates"])
    assert decision["control"]["kind"] == "scratch" and decision["control"]["seconds"] > 0
    assert decision["exported"] == ("control" if decision["negative_transfer"] else "transfer")
    assert decision["negative_transfer"] is (decision["control"]["validation_accuracy"] > decision["transfer_accuracy"])
