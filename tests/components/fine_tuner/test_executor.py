"""FineTuner executor on BottleneckExtractor outputs the test produces from tiny images."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tfx.types import artifact_utils, channel_utils, standard_artifacts
from tfx.utils import path_utils

from testdata import class_examples, examples_artifact, read_examples, run_executor
from tfx_transfer.components import BottleneckExtractor, FineTuner, specs
from tfx_transfer.trainer.base import feature_extractor as fe


def _channel(artifact_type):
    return channel_utils.as_channel([artifact_type()])


@pytest.fixture(scope="module")
def extracted(tmp_path_factory, tiny_cnn_path):
    """Raw examples (3 classes) and the BottleneckExtractor's outputs on them."""
    root = tmp_path_factory.mktemp("extracted")
    raw = examples_artifact(
        str(root / "raw"), {"train": class_examples(30), "eval": class_examples(12, seed=1000)}
    )
    extractor = BottleneckExtractor(examples=_channel(standard_artifacts.Examples), model_uri=tiny_cnn_path, cut_layer="flatten_1")
    outputs = run_executor(extractor, {specs.EXAMPLES_KEY: raw}, str(root / "extractor"))
    return raw, outputs


def _fine_tuner(**kwargs):
    defaults = dict(epochs=8, batch_size=8, seed=0)
    return FineTuner(
        bottlenecks=_channel(standard_artifacts.Examples),
        feature_extractor=_channel(standard_artifacts.Model),
        **{**defaults, **kwargs},
    )


def _run(tmp_path, extracted, component, with_raw=False):
    raw, outputs = extracted
    inputs = {
        specs.BOTTLENECKS_KEY: outputs[specs.BOTTLENECKS_KEY],
        specs.FEATURE_EXTRACTOR_KEY: outputs[specs.FEATURE_EXTRACTOR_KEY],
    }
    if with_raw:
        inputs[specs.EXAMPLES_KEY] = raw
    return run_executor(component, inputs, str(tmp_path / "fine_tuner"))


def test_feature_extraction_serving_equals_head_of_bottleneck(tmp_path, extracted):
    raw, extractor_outputs = extracted
    outputs = _run(tmp_path, extracted, _fine_tuner(head_units=[8]))
    serving_dir = path_utils.serving_model_path(outputs[specs.MODEL_KEY].uri)
    run_dir = outputs[specs.MODEL_RUN_KEY].uri
    for name in specs.MODEL_RUN_FILES:
        assert os.path.exists(os.path.join(run_dir, name)), name
    assert json.load(open(os.path.join(run_dir, specs.STRATEGY_FILE)))["strategy"] == "feature_extraction"  # auto, 10/class

    loaded = tf.saved_model.load(serving_dir)
    eval_examples = read_examples(artifact_utils.get_split_uri([raw], "eval"))
    serialized = tf.constant([e.SerializeToString() for e in eval_examples])
    images = tf.constant([e.features.feature["image"].bytes_list.value[0] for e in eval_examples])
    by_example = loaded.signatures["serving_default"](examples=serialized)
    by_bytes = loaded.signatures["serving_raw"](image_bytes=images)

    # head(bottleneck) on the cached features the extractor wrote for the same examples.
    import keras

    full = keras.saving.load_model(os.path.join(serving_dir, specs.KERAS_MODEL_FILE), compile=False)
    head = full.get_layer("head")
    bottlenecks = read_examples(artifact_utils.get_split_uri([extractor_outputs[specs.BOTTLENECKS_KEY]], "eval"))
    by_id = {b.features.feature["id"].bytes_list.value[0]: b for b in bottlenecks}
    cached = np.array([by_id[e.features.feature["id"].bytes_list.value[0]].features.feature["bottleneck/flatten_1"].float_list.value for e in eval_examples])
    expected = head(cached, training=False).numpy()

    np.testing.assert_allclose(by_example["probabilities"].numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(by_bytes["probabilities"].numpy(), expected, atol=1e-5)
    names = [n.decode() for n in by_example["class_names"].numpy()]
    assert names == [["cat", "dog", "fox"][i] for i in by_example["classes"].numpy()]
    assert json.loads(outputs[specs.MODEL_KEY].get_string_custom_property(specs.CLASS_NAMES_PROPERTY)) == ["cat", "dog", "fox"]


def test_tfma_reads_the_export_and_agrees_with_keras(tmp_path, extracted):
    import tensorflow_model_analysis as tfma

    raw, _ = extracted
    outputs = _run(tmp_path, extracted, _fine_tuner())
    serving_dir = path_utils.serving_model_path(outputs[specs.MODEL_KEY].uri)
    eval_examples = read_examples(artifact_utils.get_split_uri([raw], "eval"))
    # TFMA's multi-class metrics read the label as the class index.
    labelled = []
    for example in eval_examples:
        copy = tf.train.Example()
        copy.CopyFrom(example)
        name = copy.features.feature["label"].bytes_list.value[0].decode()
        del copy.features.feature["label"]
        copy.features.feature["label"].int64_list.value.append(["cat", "dog", "fox"].index(name))
        labelled.append(copy.SerializeToString())
    data_path = str(tmp_path / "eval.tfrecord")
    with tf.io.TFRecordWriter(data_path) as writer:
        for record in labelled:
            writer.write(record)

    eval_config = tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name="serving_default", label_key="label", prediction_key="probabilities")],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[tfma.MetricsSpec(metrics=[tfma.MetricConfig(class_name="SparseCategoricalAccuracy")])],
    )
    result = tfma.run_model_analysis(
        eval_shared_model=tfma.default_eval_shared_model(serving_dir, eval_config=eval_config),
        eval_config=eval_config, data_location=data_path, output_path=str(tmp_path / "tfma"),
    )
    tfma_accuracy = result.slicing_metrics[0][1][""][""]["sparse_categorical_accuracy"]["doubleValue"]
    probabilities = tf.saved_model.load(serving_dir).signatures["serving_default"](examples=tf.constant(labelled))["probabilities"]
    labels = [tf.train.Example.FromString(r).features.feature["label"].int64_list.value[0] for r in labelled]
    keras_accuracy = float(np.mean(np.argmax(probabilities.numpy(), axis=1) == np.array(labels)))
    assert abs(tfma_accuracy - keras_accuracy) <= 1e-6


def test_fine_tune_trains_the_top_of_the_base(tmp_path, extracted):
    import keras

    _, extractor_outputs = extracted
    component = _fine_tuner(
        strategy="fine_tune", unfreeze=3, fine_tune_epochs=2, fine_tune_learning_rate=1e-3,
        augmentation={"horizontal_flip": True}, examples=_channel(standard_artifacts.Examples),
    )
    outputs = _run(tmp_path, extracted, component, with_raw=True)
    history = json.load(open(os.path.join(outputs[specs.MODEL_RUN_KEY].uri, specs.HISTORY_FILE)))
    assert list(history) == ["fine_tune"]  # the probe head has no epochs
    assert outputs[specs.MODEL_KEY].get_string_custom_property(specs.STRATEGY_PROPERTY) == "fine_tune"
    # The unfrozen conv layer moved away from the extractor's weights.
    extractor, _ = fe.load_feature_extractor(extractor_outputs[specs.FEATURE_EXTRACTOR_KEY].uri)
    serving_dir = path_utils.serving_model_path(outputs[specs.MODEL_KEY].uri)
    tuned = keras.saving.load_model(os.path.join(serving_dir, specs.KERAS_MODEL_FILE), compile=False)
    before, after = extractor.get_layer("conv").get_weights()[0], tuned.get_layer("conv").get_weights()[0]
    assert before.shape == after.shape and np.max(np.abs(after - before)) > 1e-6


@pytest.mark.parametrize("min_examples_per_class, phrase", [
    (100.0, "Small and similar"),  # the 2x2 prior says head only
    (5.0, "Fine-tuning was not tried: with 5-fold cross-validation on the training data it could not be validated."),
])
def test_auto_fine_tunes_only_when_it_can_be_validated(tmp_path, extracted, min_examples_per_class, phrase):
    component = _fine_tuner(
        strategy="auto", examples=_channel(standard_artifacts.Examples), fine_tune_epochs=1, control="none",
        strategy_thresholds={"min_examples_per_class": min_examples_per_class, "logme_threshold": -100.0},
    )
    outputs = _run(tmp_path, extracted, component, with_raw=True)
    decision = json.load(open(os.path.join(outputs[specs.MODEL_RUN_KEY].uri, specs.STRATEGY_FILE)))
    assert decision["strategy"] == "feature_extraction" and decision["examples_per_class"] == 10
    assert phrase in " ".join(decision["reasons"])
    assert decision["control"] is None
    assert outputs[specs.MODEL_KEY].get_string_custom_property(specs.STRATEGY_PROPERTY) == "feature_extraction"


def test_num_classes_mismatch_is_an_error(tmp_path, extracted):
    with pytest.raises(ValueError, match="num_classes"):
        _run(tmp_path, extracted, _fine_tuner(num_classes=5))


def test_missing_validation_split_names_the_splits(tmp_path, extracted):
    with pytest.raises(ValueError, match=r"no split 'validation'.*\['train', 'eval'\]"):
        _run(tmp_path, extracted, _fine_tuner(validation_split="validation"))


def _transform_graph(tmp_path, names):
    graph = standard_artifacts.TransformGraph()
    graph.uri = str(tmp_path / "transform_graph")
    assets = os.path.join(graph.uri, "transform_fn", "assets")
    os.makedirs(assets)
    with open(os.path.join(assets, "label"), "w") as f:
        f.write("\n".join(names) + "\n")
    return graph


def test_transform_vocabulary_orders_the_classes(tmp_path, extracted):
    _, extractor_outputs = extracted
    component = _fine_tuner(transform_graph=_channel(standard_artifacts.TransformGraph), epochs=2)
    inputs = {
        specs.BOTTLENECKS_KEY: extractor_outputs[specs.BOTTLENECKS_KEY],
        specs.FEATURE_EXTRACTOR_KEY: extractor_outputs[specs.FEATURE_EXTRACTOR_KEY],
        specs.TRANSFORM_GRAPH_KEY: _transform_graph(tmp_path, ["fox", "dog", "cat"]),
    }
    outputs = run_executor(component, inputs, str(tmp_path / "out"))
    assert json.loads(outputs[specs.MODEL_KEY].get_string_custom_property(specs.CLASS_NAMES_PROPERTY)) == ["fox", "dog", "cat"]


def test_labels_outside_the_transform_vocabulary_are_an_error(tmp_path, extracted):
    _, extractor_outputs = extracted
    component = _fine_tuner(transform_graph=_channel(standard_artifacts.TransformGraph))
    inputs = {
        specs.BOTTLENECKS_KEY: extractor_outputs[specs.BOTTLENECKS_KEY],
        specs.FEATURE_EXTRACTOR_KEY: extractor_outputs[specs.FEATURE_EXTRACTOR_KEY],
        specs.TRANSFORM_GRAPH_KEY: _transform_graph(tmp_path, ["cat", "dog"]),
    }
    with pytest.raises(ValueError, match=r"outside the label vocabulary of 2 classes: \['fox'\]"):
        run_executor(component, inputs, str(tmp_path / "out"))


def test_an_empty_train_split_is_an_error(tmp_path, extracted):
    _, extractor_outputs = extracted
    empty = examples_artifact(str(tmp_path / "empty"), {"train": [], "eval": []})
    component = _fine_tuner()
    with pytest.raises(ValueError, match="The 'train' split of the bottlenecks is empty"):
        run_executor(
            component,
            {specs.BOTTLENECKS_KEY: empty, specs.FEATURE_EXTRACTOR_KEY: extractor_outputs[specs.FEATURE_EXTRACTOR_KEY]},
            str(tmp_path / "out"),
        )


def _unlabelled_examples(n: int, seed: int):
    """Other draws of the same classes, with no label feature."""
    examples = class_examples(n, seed=seed)
    for example in examples:
        del example.features.feature["label"]
    return examples


def test_unlabelled_bottlenecks_are_extracted_and_adapted_to(tmp_path, extracted, tiny_cnn_path, monkeypatch):
    from tfx_transfer.trainer.domain import adaptation, unlabelled as unlabelled_lib

    monkeypatch.setattr(unlabelled_lib, "MIN_UNLABELLED_ROWS", 10)  # 15 tiny images stand for a serving folder
    monkeypatch.setattr(adaptation, "ADAPTER_STEPS", 60)
    unlabelled_raw = examples_artifact(str(tmp_path / "unlabelled"), {"unlabelled": _unlabelled_examples(15, seed=500)})
    strict = BottleneckExtractor(examples=_channel(standard_artifacts.Examples), model_uri=tiny_cnn_path,
                                 cut_layer="flatten_1")
    with pytest.raises(RuntimeError, match="All 15 examples of split 'unlabelled' were rejected"):
        run_executor(strict, {specs.EXAMPLES_KEY: unlabelled_raw}, str(tmp_path / "strict"))
    extractor = BottleneckExtractor(examples=_channel(standard_artifacts.Examples), model_uri=tiny_cnn_path,
                                    cut_layer="flatten_1", labelled=False)
    unlabelled = run_executor(extractor, {specs.EXAMPLES_KEY: unlabelled_raw}, str(tmp_path / "extractor"))
    counts = json.loads(unlabelled[specs.BOTTLENECKS_KEY].get_string_custom_property(specs.SPLIT_COUNTS_PROPERTY))
    assert counts["unlabelled"]["examples_out"] == 15 and counts["unlabelled"]["examples_rejected"] == 0

    raw, outputs = extracted
    component = _fine_tuner(adaptation="mcc", unlabelled_bottlenecks=_channel(standard_artifacts.Examples))
    tuned = run_executor(component, {
        specs.BOTTLENECKS_KEY: outputs[specs.BOTTLENECKS_KEY],
        specs.FEATURE_EXTRACTOR_KEY: outputs[specs.FEATURE_EXTRACTOR_KEY],
        specs.UNLABELLED_BOTTLENECKS_KEY: unlabelled[specs.BOTTLENECKS_KEY],
    }, str(tmp_path / "fine_tuner"))
    decision = json.load(open(os.path.join(tuned[specs.MODEL_RUN_KEY].uri, "strategy.json")))
    assert decision["adaptation"]["method"] == "mcc" and decision["adaptation"]["kept"] is True
    assert decision["adaptation"]["unlabelled_rows"] == 15
    assert any(reason.startswith("Adapted with mcc as asked") for reason in decision["reasons"])
    serving = tf.saved_model.load(path_utils.serving_model_path(tuned[specs.MODEL_KEY].uri))
    assert "serving_raw" in serving.signatures


def test_an_unknown_adaptation_is_named():
    with pytest.raises(ValueError, match="Unknown adaptation 'kmm'; valid values are \\['none', 'dann', 'mcc', 'align', 'adapt', 'semi_supervised', 'auto'\\]"):
        _fine_tuner(adaptation="kmm")


def test_rows_beyond_the_memory_budget_are_subsampled_for_selection_and_streamed_to_the_head(tmp_path, extracted, monkeypatch):
    from tfx_transfer.trainer.data import bottleneck_stream

    raw, outputs = extracted
    dims = sum(fe.load_feature_extractor(outputs[specs.FEATURE_EXTRACTOR_KEY].uri)[1].feature_dims.values())
    # memory_budget_mb=1 now holds 20 of the 30 training rows.
    monkeypatch.setattr(bottleneck_stream, "WORKING_SET_BYTES_PER_VALUE", 2**20 // (20 * dims) + 1)
    assert bottleneck_stream.rows_within_budget(1, dims) == 19
    component = _fine_tuner(memory_budget_mb=1, examples=_channel(standard_artifacts.Examples))
    tuned = _run(tmp_path, extracted, component, with_raw=True)
    decision = json.load(open(os.path.join(tuned[specs.MODEL_RUN_KEY].uri, specs.STRATEGY_FILE)))
    assert decision["head"]["kind"] == "probe" and decision["head"]["streamed"]["rows"] == 30
    assert any("The 30 rows exceed memory_budget_mb=1: every selection used 19 of them; the head was then refitted"
               in reason for reason in decision["reasons"])
    assert decision["control"] is not None  # the control and the gate ran on the subsample
    serving = tf.saved_model.load(path_utils.serving_model_path(tuned[specs.MODEL_KEY].uri))
    assert "serving_raw" in serving.signatures


def test_a_memory_budget_below_one_is_named():
    with pytest.raises(ValueError, match="memory_budget_mb=0 is invalid; valid values are ints >= 1"):
        _fine_tuner(memory_budget_mb=0)
