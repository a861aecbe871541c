"""run_fn for the standard TFX Trainer, called with a duck-typed fn_args."""

import json
import os
import types

import numpy as np
import pytest
import tensorflow as tf

import testdata
from tfx_transfer.trainer import base_model, run_fn, training
from tfx_transfer.trainer import strategy as strategy_lib
from tfx_transfer.trainer.head import HeadConfigError


LABELS = ("cat", "dog", "fox")


def _as_int_label(example):
    """The example with its label replaced by its class index, as a Transform vocabulary writes it."""
    name = example.features.feature["label"].bytes_list.value[0].decode()
    del example.features.feature["label"]
    example.features.feature["label"].int64_list.value.append(LABELS.index(name))
    return example


def _fn_args(tmp_path, tiny_cnn_path, int_labels=False, **config):
    for split, n, seed in (("train", 30, 0), ("eval", 9, 100)):
        examples = testdata.class_examples(n, labels=LABELS, seed=seed)
        if int_labels:
            examples = [_as_int_label(e) for e in examples]
        examples.append(testdata.make_example(b"junk", None))
        testdata.write_tfrecords(str(tmp_path / split), [e.SerializeToString() for e in examples])
    custom_config = {"model_uri": tiny_cnn_path, "cut_layer": "flatten_1", "preprocessing": "unit", **config}
    return types.SimpleNamespace(
        train_files=[str(tmp_path / "train" / "*")],
        eval_files=[str(tmp_path / "eval" / "*")],
        serving_model_dir=str(tmp_path / "Format-Serving"),
        model_run_dir=str(tmp_path / "model_run"),
        custom_config=custom_config,
        train_steps=None,
        eval_steps=None,
    )


def test_run_fn_fine_tunes_and_exports_serving_model_and_keras_file(tmp_path, tiny_cnn_path):
    fn_args = _fn_args(
        tmp_path, tiny_cnn_path,
        strategy="fine_tune", unfreeze=3,
        head={"head_units": [8], "dropout": 0.1},
        train={"epochs": 3, "fine_tune_epochs": 2, "batch_size": 8, "learning_rate": 0.001, "class_weight": "balanced"},
        augmentation={"horizontal_flip": True, "rotation": 10},
    )
    run_fn.run_fn(fn_args)

    run_dir = fn_args.model_run_dir
    decision = json.loads(open(os.path.join(run_dir, strategy_lib.STRATEGY_FILE)).read())
    assert decision["strategy"] == "fine_tune" and decision["unfreeze"] == 3
    history = json.loads(open(os.path.join(run_dir, training.HISTORY_FILE)).read())
    assert list(history) == ["head", "fine_tune"]
    assert history["fine_tune"]["epoch"][0] == history["head"]["epoch"][-1] + 1
    assert os.path.exists(os.path.join(run_dir, training.CURVES_FILE))
    assert sorted(os.listdir(os.path.join(run_dir, training.TENSORBOARD_DIR))) == ["fine_tune", "head"]

    images = [testdata.class_png(c, 3, seed=500 + c) for c in range(3)]
    loaded = tf.saved_model.load(fn_args.serving_model_dir)
    out = loaded.signatures["serving_raw"](image_bytes=tf.constant(images))
    assert out["probabilities"].shape == (3, 3)
    assert set(n.decode() for n in out["class_names"].numpy()) <= {"cat", "dog", "fox"}

    keras_file = os.path.join(fn_args.serving_model_dir, run_fn.KERAS_MODEL_FILE)
    cut, pp_config = base_model.build_feature_extractor(
        base_model.BaseModelSource(model_uri=keras_file, cut_layer="flatten_1")
    )
    assert cut.output_shape == (None, 196) and pp_config.image_size == (32, 32)


def test_run_fn_auto_strategy_with_int_labels_and_a_vocabulary_file(tmp_path, tiny_cnn_path):
    vocabulary = tmp_path / "vocab.txt"
    vocabulary.write_text("cat\ndog\nfox\n")
    fn_args = _fn_args(
        tmp_path, tiny_cnn_path, int_labels=True, label_vocabulary_file=str(vocabulary), num_classes=3,
        train={"epochs": 2, "batch_size": 16},
    )
    run_fn.run_fn(fn_args)
    decision = json.loads(open(os.path.join(fn_args.model_run_dir, strategy_lib.STRATEGY_FILE)).read())
    assert decision["strategy"] == "feature_extraction"  # 10 examples per class is small
    assert np.isfinite(decision["logme"])
    history = json.loads(open(os.path.join(fn_args.model_run_dir, training.HISTORY_FILE)).read())
    assert list(history) == ["head"]
    loaded = tf.saved_model.load(fn_args.serving_model_dir)
    out = loaded.signatures["serving_raw"](image_bytes=tf.constant([testdata.class_png(0, 3)]))
    assert out["class_names"].numpy()[0].decode() in LABELS


@pytest.mark.parametrize(
    "config, error, match",
    [
        ({"model_uri": "m.keras", "colour": 1}, run_fn.RunConfigError, "Unknown custom_config keys \\['colour'\\]; valid keys are"),
        ({"model_uri": "m.keras", "head": {"units": 3}}, run_fn.RunConfigError, "Unknown custom_config\\['head'\\] keys \\['units'\\]"),
        ({"model_uri": "m.keras", "head": {"dropout": 2.0}}, HeadConfigError, "dropout=2.0"),
        ({"model_uri": "m.keras", "strategy": "deep"}, strategy_lib.StrategyError, "Unknown strategy 'deep'"),
        ({"model_uri": "m.keras", "strategy_thresholds": {"logme": 1}}, run_fn.RunConfigError, "Unknown strategy_thresholds keys \\['logme'\\]"),
        ({"model_uri": "m.keras", "keras_application": "MobileNetV2"}, base_model.BaseModelError, "exactly one base model source"),
        ({}, base_model.BaseModelError, "exactly one base model source"),
    ],
)
def test_custom_config_errors(config, error, match):
    with pytest.raises(error, match=match):
        run_fn.parse_custom_config(config)


def test_custom_config_as_json_and_defaults():
    config = run_fn.parse_custom_config(json.dumps({"keras_application": "MobileNetV2", "image_size": 96, "head": {"head_units": [4]}}))
    assert config.source.image_size == (96, 96) and config.head.head_units == (4,)
    assert config.strategy == "auto" and config.train == training.TrainConfig()


def test_upstream_model_directory_is_the_source_without_other_sources():
    config = run_fn.parse_custom_config({"cut_layer": "x"}, base_model_dir="/models/1")
    assert config.source.model_dir == "/models/1" and config.source.cut_layer == "x"
