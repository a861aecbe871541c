"""One run end to end on tiny data: the cut chosen by measurement, the control, the gate."""

from __future__ import annotations

import json
import os
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

import testdata
from tfx_transfer.trainer import run_fn
from tfx_transfer.trainer.base import base_model
from tfx_transfer.trainer.base.base_source import BaseModelSource
from tfx_transfer.trainer.data import preprocessing as pp
from tfx_transfer.trainer.selection import control as control_lib
from tfx_transfer.trainer.selection import probe, cut_scores
from tfx_transfer.trainer.selection import strategy as strategy_lib

LABELS = ("cat", "dog", "fox")


def _blind_base(path: str) -> str:
    """A 'pretrained' base whose features carry nothing: an all-zero convolution, pooled."""
    inputs = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Conv2D(4, 3, kernel_initializer="zeros", bias_initializer="zeros", name="blind")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="classes")(x)).save(path)
    return path


def _fn_args(tmp_path, base_path, flipped=(), **config):
    examples = testdata.class_examples(30, labels=LABELS, seed=0)
    for i in flipped:  # a wrong label: the next class's name
        label = examples[i].features.feature["label"].bytes_list.value
        label[0] = LABELS[(LABELS.index(label[0].decode()) + 1) % 3].encode()
    testdata.write_tfrecords(str(tmp_path / "train"), [e.SerializeToString() for e in examples])
    return types.SimpleNamespace(
        train_files=[str(tmp_path / "train" / "*")], eval_files=[],
        serving_model_dir=str(tmp_path / "serving"), model_run_dir=str(tmp_path / "model_run"),
        custom_config={"model_uri": base_path, "preprocessing": "unit", **config},
    )


def _decision(fn_args):
    with open(os.path.join(fn_args.model_run_dir, strategy_lib.STRATEGY_FILE)) as f:
        return json.load(f)


def _served_classes(fn_args) -> list:
    images = [testdata.class_png(i % 3, 3, seed=900 + i) for i in range(30)]
    names = tf.saved_model.load(fn_args.serving_model_dir).signatures["serving_raw"](image_bytes=tf.constant(images))["class_names"]
    return [name.decode() for name in names.numpy()]


@pytest.mark.parametrize("margin, exported", [(0.0, "ensemble"), (0.05, "control")])
def test_negative_transfer_exports_the_control_or_both_averaged(tmp_path, margin, exported):
    fn_args = _fn_args(tmp_path, _blind_base(str(tmp_path / "blind.keras")), control={"kind": "pixels", "margin": margin})
    run_fn.run_fn(fn_args)
    decision = _decision(fn_args)
    cut_names = [c["cut"] for c in decision["candidates"]]
    assert cut_names[0] == "gap" and "classes" not in cut_names  # the layer feeding the classifier, not its softmax
    assert decision["control"]["kind"] == "pixels"
    assert decision["control"]["validation_accuracy"] > decision["transfer_accuracy"]
    # The blind model's probabilities are the same for every image, so averaging them in changes
    # no prediction of the control: the average scores exactly the control's accuracy.
    assert decision["control"]["ensemble_validation_accuracy"] == decision["control"]["validation_accuracy"]
    assert decision["negative_transfer"] is True and decision["exported"] == exported
    assert any(reason.startswith("Negative transfer: the control (a logistic regression on 16x16 pixels") for reason in decision["reasons"])
    # The exported model is the control: the blind transferred model would give every image the
    # same probabilities; the pixel control tells the classes apart.
    assert len(set(_served_classes(fn_args))) == 3


def test_a_useful_base_beats_the_control(tmp_path, tiny_cnn_path):
    fn_args = _fn_args(tmp_path, tiny_cnn_path, cut_layer="auto")
    run_fn.run_fn(fn_args)
    decision = _decision(fn_args)
    assert [(c["cut"], c["combined"]) for c in decision["candidates"]] == [
        ("flatten_1", False), ("pool", False), ("conv", False), ("flatten_1+pool+conv", True)]
    chosen = [c for c in decision["candidates"] if c["chosen"]]
    assert len(chosen) == 1 and chosen[0]["cut"] == decision["cut_layer"]
    combined = decision["candidates"][-1]
    best_single = max(c["probe_accuracy"] for c in decision["candidates"][:-1])
    # The rule of `selection`: a single cut must lead the combination by a standard error.
    assert (chosen[0] is combined) is (best_single <= combined["probe_accuracy"] + cut_scores.standard_error(
        combined["probe_accuracy"], 30))
    augmented = decision["augmentation"]  # 30 rows: 'auto' makes 10 copies each, and validation keeps or drops them
    assert augmented["kept"] is (augmented["copies"] == 10) and augmented["seconds"] > 0
    assert any(reason.startswith("The head trained on") for reason in decision["reasons"])
    head = decision["head"]  # the probe, with its validation accuracy per C for the report
    assert head["kind"] == "probe" and sorted(map(float, head["accuracy_by_C"])) == sorted(probe.C_GRID)
    assert head["accuracy_by_C"][f"{head['C']:g}"] == max(v for v in head["accuracy_by_C"].values() if v is not None)
    if not augmented["kept"]:
        assert head["accuracy_by_C"] == chosen[0]["accuracy_by_C"]
    control = decision["control"]  # 'auto': the better of the two probe controls, which names the other
    assert control["kind"] in ("pixels", "random_features") and control["seconds"] > 0
    other = "random_features" if control["kind"] == "pixels" else "pixels"
    assert f"the better control on validation ({other} scored " in control["reason"]
    suspects = decision["suspect_labels"]  # the labels are right: the list is the CSV's, short or empty
    assert suspects["checked"] == 30 and suspects["file"] == "suspect_labels.csv"
    with open(os.path.join(fn_args.model_run_dir, "suspect_labels.csv")) as f:
        assert len(f.read().splitlines()) == suspects["count"] + 1
    assert len(suspects["images"]) == suspects["count"] and suspects["reason"] in decision["reasons"]
    assert decision["negative_transfer"] is (decision["exported"] == "control" or any(
        reason.startswith("Negative transfer") for reason in decision["reasons"]))
    assert decision["negative_transfer"] is (decision["control"]["validation_accuracy"] > decision["transfer_accuracy"])


def test_a_combined_cut_serves_what_its_probe_learned(tmp_path, tiny_cnn_path, monkeypatch):
    """The served model reads the parts of a combined cut in the order the probe was fitted on."""
    monkeypatch.setattr(cut_scores, "_best", lambda scores, rows: scores[-1].cut)  # the combination, whatever it scored
    fn_args = _fn_args(tmp_path, tiny_cnn_path, cut_layer="auto", control={"kind": "none"}, augmented_copies=0)
    run_fn.run_fn(fn_args)
    decision = _decision(fn_args)
    combined = decision["candidates"][-1]
    assert decision["cut_layer"] == combined["cut"] == "flatten_1+pool+conv" and combined["chosen"]
    assert any(reason.startswith("The 3 cuts combined") for reason in decision["reasons"])
    assert decision["head"] == {"kind": "probe", "C": combined["C"], "accuracy_by_C": combined["accuracy_by_C"]}

    examples = testdata.class_examples(30, labels=LABELS, seed=0)
    images = [e.features.feature["image"].bytes_list.value[0] for e in examples]
    labels = np.array([LABELS.index(e.features.feature["label"].bytes_list.value[0].decode()) for e in examples])
    extractor, pp_config = base_model.build_feature_extractor(
        BaseModelSource(model_uri=fn_args.custom_config["model_uri"], cut_layer="auto", preprocessing="unit"))
    pixels = tf.stack([pp.preprocess_image_bytes(image, pp_config) for image in images])
    features = {cut: values.numpy().astype(np.float64) for cut, values in extractor(pixels).items()}
    matrix, blocks = cut_scores.candidate_features(features, combined["cut"])
    expected = probe.fit_probe(matrix, labels, combined["C"], 0, 3, blocks).probabilities(matrix)
    served = tf.saved_model.load(fn_args.serving_model_dir).signatures["serving_raw"](image_bytes=tf.constant(images))
    np.testing.assert_allclose(served["probabilities"].numpy(), expected, atol=1e-4)


def test_dataset_rows_are_matched_to_bottleneck_rows_by_id():
    from tfx_transfer.trainer.data import raw_images

    rows, row_ids = np.array([4, 7, 9]), np.array(["a", "b", "c"], dtype=object)
    order = raw_images.rows_in_dataset_order(np.array(["c", "a", "b"], dtype=object), rows, row_ids)
    assert order.tolist() == [9, 4, 7]  # the raw files list the examples in another order
    assert raw_images.rows_in_dataset_order(np.array(["c", "a"], dtype=object), rows, row_ids) is None  # one failed to decode
    assert raw_images.rows_in_dataset_order(np.array(["c", "a", "x"], dtype=object), rows, row_ids) is None
    assert raw_images.rows_in_dataset_order(np.array(["a", "a", "b"], dtype=object), rows, np.array(["a", "a", "b"], dtype=object)) is None


def test_dropping_suspect_labels_trains_again_without_them(tmp_path, tiny_cnn_path):
    flipped = (0, 4, 8)  # img_0, img_4, img_8 carry the next class's label
    fn_args = _fn_args(tmp_path, tiny_cnn_path, flipped=flipped, cut_layer="flatten_1", drop_suspect_labels=True)
    run_fn.run_fn(fn_args)
    suspects = _decision(fn_args)["suspect_labels"]
    assert suspects["count"] >= 1 and suspects["dropped"] == len(suspects["dropped_ids"]) >= 1
    listed = [row["id"] for row in suspects["images"]]
    assert set(suspects["dropped_ids"]) <= set(listed)  # what was dropped is the first run's list
    with open(os.path.join(fn_args.model_run_dir, "suspect_labels.csv")) as f:
        assert [line.split(",")[1] for line in f.read().splitlines()[1:]] == listed  # the first run's CSV, kept
    reasons = _decision(fn_args)["reasons"]
    assert reasons[0].startswith(f"{suspects['count']} of 30 training image(s) had a label that looks wrong")
    assert sum("looks wrong" in reason for reason in reasons) == 1  # the rerun's own check is not advice
    assert _decision(fn_args)["examples_per_class"] == pytest.approx((30 - suspects["dropped"]) / 3)  # the rerun's rows
    # Each listed image has its thumbnail, from the raw training files, in model_run.
    for rank, row in enumerate(suspects["images"], start=1):
        assert row["thumbnail"] == f"thumbnails/suspect_labels/{rank:03d}.png"
        assert open(os.path.join(fn_args.model_run_dir, row["thumbnail"]), "rb").read().startswith(b"\x89PNG")
