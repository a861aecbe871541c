"""run_fn for the standard TFX Trainer, called with a duck-typed fn_args."""

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
from tfx_transfer.trainer.base import base_source as bs
from tfx_transfer.trainer.selection import strategy as strategy_lib
from tfx_transfer.trainer.training import export, loop


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
        augmentation={"horizontal_flip": True, "rotation": 10}, control={"kind": "none"},
    )
    run_fn.run_fn(fn_args)

    run_dir = fn_args.model_run_dir
    decision = json.loads(open(os.path.join(run_dir, strategy_lib.STRATEGY_FILE)).read())
    assert decision["strategy"] == "fine_tune" and decision["unfreeze"] == 3
    assert decision["head"] == {"kind": "mlp", "units": [8]}
    history = json.loads(open(os.path.join(run_dir, loop.HISTORY_FILE)).read())
    assert list(history) == ["head", "fine_tune"]
    assert history["fine_tune"]["epoch"][0] == history["head"]["epoch"][-1] + 1
    assert os.path.exists(os.path.join(run_dir, loop.CURVES_FILE))
    assert sorted(os.listdir(os.path.join(run_dir, loop.TENSORBOARD_DIR))) == ["fine_tune", "head"]

    images = [testdata.class_png(c, 3, seed=500 + c) for c in range(3)]
    loaded = tf.saved_model.load(fn_args.serving_model_dir)
    out = loaded.signatures["serving_raw"](image_bytes=tf.constant(images))
    assert out["probabilities"].shape == (3, 3)
    assert set(n.decode() for n in out["class_names"].numpy()) <= {"cat", "dog", "fox"}

    keras_file = os.path.join(fn_args.serving_model_dir, export.KERAS_MODEL_FILE)
    cut, pp_config = base_model.build_feature_extractor(
        bs.BaseModelSource(model_uri=keras_file, cut_layer="flatten_1")
    )
    assert cut.output_shape == (None, 196) and pp_config.image_size == (32, 32)
    # Fine-tuning trained the unfrozen base layer: its kernel moved away from the pretrained one.
    pretrained = keras.saving.load_model(tiny_cnn_path, compile=False).get_layer("conv").get_weights()[0]
    tuned = cut.get_layer("conv").get_weights()[0]
    assert tuned.shape == pretrained.shape and np.max(np.abs(tuned - pretrained)) > 0


def test_run_fn_auto_strategy_with_int_labels_and_a_vocabulary_file(tmp_path, tiny_cnn_path):
    vocabulary = tmp_path / "vocab.txt"
    vocabulary.write_text("cat\ndog\nfox\n")
    fn_args = _fn_args(
        tmp_path, tiny_cnn_path, int_labels=True, label_vocabulary_file=str(vocabulary), num_classes=3,
        train={"epochs": 2, "batch_size": 16}, control={"kind": "pixels"},
    )
    run_fn.run_fn(fn_args)
    decision = json.loads(open(os.path.join(fn_args.model_run_dir, strategy_lib.STRATEGY_FILE)).read())
    assert decision["strategy"] == "feature_extraction"  # 10 examples per class is small
    assert np.isfinite(decision["logme"])
    # The default head is the probe: no Keras epochs. The cut is the tiny CNN's default one.
    history = json.loads(open(os.path.join(fn_args.model_run_dir, loop.HISTORY_FILE)).read())
    assert history == {}
    assert decision["cut_layer"] == "flatten_1" and [c["cut"] for c in decision["candidates"]] == ["flatten_1"]
    assert decision["validation"] == "5-fold cross-validation on the training data"
    assert decision["control"]["kind"] == "pixels" and 0 < decision["control"]["parameters"]
    assert decision["exported"] == ("control" if decision["negative_transfer"] else "transfer")
    loaded = tf.saved_model.load(fn_args.serving_model_dir)
    out = loaded.signatures["serving_raw"](image_bytes=tf.constant([testdata.class_png(0, 3)]))
    assert out["class_names"].numpy()[0].decode() in LABELS


def test_run_fn_adapts_to_unlabelled_files_from_custom_config(tmp_path, tiny_cnn_path, monkeypatch):
    from tfx_transfer.trainer.domain import adaptation, unlabelled as unlabelled_lib

    monkeypatch.setattr(unlabelled_lib, "MIN_UNLABELLED_ROWS", 10)  # 12 tiny images stand for a serving folder
    monkeypatch.setattr(adaptation, "ADAPTER_STEPS", 50)
    fn_args = _fn_args(tmp_path, tiny_cnn_path, adaptation="dann", control={"kind": "none"},
                       unlabelled_files=[_unlabelled_files(tmp_path)])
    run_fn.run_fn(fn_args)
    decision = json.loads(open(os.path.join(fn_args.model_run_dir, strategy_lib.STRATEGY_FILE)).read())
    assert decision["adaptation"]["method"] == "dann" and decision["adaptation"]["unlabelled_rows"] == 12
    assert decision["adaptation"]["domain_accuracy_end"] is not None


def _unlabelled_files(tmp_path) -> str:
    """12 unlabelled images and one undecodable body (set aside by the image check, not fatal)."""
    examples = testdata.class_examples(12, labels=LABELS, seed=300)
    for example in examples:
        del example.features.feature["label"]
    examples.append(testdata.make_example(b"junk", None))
    testdata.write_tfrecords(str(tmp_path / "unlabelled"), [e.SerializeToString() for e in examples])
    return str(tmp_path / "unlabelled" / "*")


def test_run_fn_semi_supervises_with_unlabelled_files_from_custom_config(tmp_path, tiny_cnn_path, monkeypatch):
    from tfx_transfer.trainer.domain import unlabelled as unlabelled_lib

    monkeypatch.setattr(unlabelled_lib, "MIN_UNLABELLED_ROWS", 10)
    fn_args = _fn_args(tmp_path, tiny_cnn_path, adaptation="semi_supervised", control={"kind": "none"},
                       unlabelled_files=_unlabelled_files(tmp_path), label_budget=4)
    run_fn.run_fn(fn_args)
    decision = json.loads(open(os.path.join(fn_args.model_run_dir, strategy_lib.STRATEGY_FILE)).read())
    adaptation = decision["adaptation"]
    assert adaptation["method"] == "semi_supervised" and adaptation["kept"] is True
    assert adaptation["decided_by"] == "asked for" and adaptation["semi_supervised"]["unlabelled_rows_used"] == 12
    assert set(adaptation["semi_supervised"]["setting"]) == {"space", "neighbours"}
    ranking = decision["label_next"]  # 4 of the 12 unlabelled images (the junk record was set aside)
    picked = [row["id"] for row in ranking["images"]]
    assert ranking["count"] == len(picked) == len(set(picked)) == 4
    assert set(picked) <= {f"img_{300 + i}" for i in range(12)}
    with open(os.path.join(fn_args.model_run_dir, "label_next.csv")) as f:
        assert [line.split(",")[1] for line in f.read().splitlines()[1:]] == picked
    thumbs = [row["thumbnail"] for row in ranking["images"]]  # from the unlabelled files, in model_run
    assert thumbs == [f"thumbnails/label_next/{rank:03d}.png" for rank in range(1, 5)]
    assert all(os.path.isfile(os.path.join(fn_args.model_run_dir, thumb)) for thumb in thumbs)
    assert all(set(p["classes"]) <= set(LABELS) and p["errors"] >= 1 and p["covered_by"] is None
               for p in decision["confused_pairs"])
    assert tf.saved_model.load(fn_args.serving_model_dir).signatures["serving_raw"] is not None


def test_run_fn_names_unlabelled_files_without_images(tmp_path, tiny_cnn_path):
    testdata.write_tfrecords(str(tmp_path / "unlabelled"), [testdata.make_example(b"junk", None).SerializeToString()])
    fn_args = _fn_args(tmp_path, tiny_cnn_path, control={"kind": "none"}, unlabelled_files=str(tmp_path / "unlabelled" / "*"))
    with pytest.raises(ValueError, match="unlabelled_files=.* holds no usable image \\(1 record\\(s\\) read\\)"):
        run_fn.run_fn(fn_args)
