"""Augmented copies for the head: settings, row alignment, honest folds, and the keep-or-drop rule."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import testdata
from tfx_transfer.trainer.data import labels as labels_lib, raw_images
from tfx_transfer.trainer.data import preprocessing as pp
from tfx_transfer.trainer.run_config import RunConfig
from tfx_transfer.trainer.selection import augmented_copies, probe
from tfx_transfer.trainer.selection import cut_scores, validation
from tfx_transfer.trainer.training import augmentation

LABELS = ("cat", "dog", "fox")


@pytest.mark.parametrize("value", [-1, 1.5, "many", True, None])
def test_bad_copy_settings_name_the_value_and_the_valid_ones(value):
    with pytest.raises(augmentation.AugmentationError) as error:
        RunConfig(augmented_copies=value)
    assert f"augmented_copies={value!r} is invalid" in str(error.value)
    assert "'auto' or an int >= 0" in str(error.value)


def test_auto_makes_fewer_copies_as_the_data_grows():
    assert augmentation.planned_copies("auto", 50) == augmentation.MAX_COPIES
    assert augmentation.planned_copies("auto", 2000) == 2
    assert augmentation.planned_copies("auto", augmentation.MAX_AUGMENTED_IMAGES + 1) == 0
    assert augmentation.planned_copies(3, 10_000) == 3  # a number given is a number used
    assert RunConfig.from_dict({"augmented_copies": 4}, with_source=False).augmented_copies == 4


def test_the_run_s_own_augmentation_replaces_the_default_transforms():
    assert augmentation.copies_transforms(augmentation.AugmentationConfig()) == augmentation.DEFAULT_TRANSFORMS
    own = augmentation.AugmentationConfig(horizontal_flip=True)
    assert augmentation.copies_transforms(own) == own
    assert not augmentation.DEFAULT_TRANSFORMS.horizontal_flip and not augmentation.DEFAULT_TRANSFORMS.vertical_flip


def test_training_rows_bring_their_own_copies_and_nothing_else():
    features = np.arange(12, dtype=float).reshape(4, 3)
    labels = np.array([0, 1, 0, 1])
    copies = np.stack([features + 100, features + 200])
    matrix, targets = probe.with_copies(features, labels, np.array([1, 3]), copies)
    expected = np.concatenate([features[[1, 3]], features[[1, 3]] + 100, features[[1, 3]] + 200])
    np.testing.assert_array_equal(matrix, expected)
    assert targets.tolist() == [1, 1, 1, 1, 1, 1]
    plain, plain_targets = probe.with_copies(features, labels, np.array([0, 2]), None)
    np.testing.assert_array_equal(plain, features[[0, 2]])
    assert plain_targets.tolist() == [0, 0]
    with pytest.raises(ValueError, match="do not match"):
        probe.with_copies(features, labels, np.array([0]), copies[:, :3])


def _raw(tmp_path, n=12):
    examples = testdata.class_examples(n, labels=LABELS, seed=0)
    testdata.write_tfrecords(str(tmp_path / "train"), [e.SerializeToString() for e in examples])
    images = [e.features.feature["image"].bytes_list.value[0] for e in examples]
    ids = np.array([e.features.feature["id"].bytes_list.value[0].decode() for e in examples], dtype=object)
    return raw_images.RawExamples(str(tmp_path / "train" / "*")), images, ids


def test_copies_line_up_with_the_rows_they_were_made_from(tmp_path, tiny_extractor):
    cut_model, pp_config = tiny_extractor
    raw, images, ids = _raw(tmp_path)
    config = RunConfig()
    vocabulary = labels_lib.LabelVocabulary.from_labels(LABELS)
    scanned = raw_images.scan_examples(raw, config, vocabulary)
    order = np.array([5, 0, 11, 3, 7, 1, 9, 2, 10, 4, 8, 6])  # the bottleneck rows are in another order than the files
    plain = augmented_copies.augmented_features(cut_model, scanned, config, vocabulary, pp_config, ids[order], 2, None)
    expected = cut_model(tf.stack([pp.preprocess_image_bytes(images[i], pp_config) for i in order])).numpy()
    assert plain.shape == (2, len(order), expected.shape[1])
    np.testing.assert_allclose(plain[0], expected, atol=1e-5)
    np.testing.assert_allclose(plain[1], expected, atol=1e-5)

    transforms = augmentation.build_augmentation(augmentation.DEFAULT_TRANSFORMS, seed=0)
    copies = augmented_copies.augmented_features(cut_model, scanned, config, vocabulary, pp_config, ids[order], 2, transforms)
    assert copies.shape == plain.shape
    assert not np.allclose(copies[0], copies[1])  # each copy is a new draw of the transforms
    assert not np.allclose(copies[0], expected)
    missing = np.array(list(ids[:3]) + ["not_in_the_files"], dtype=object)
    assert augmented_copies.augmented_features(cut_model, scanned, config, vocabulary, pp_config, missing, 1, None) is None


def _score(accuracy: float) -> cut_scores.CutScore:
    return cut_scores.CutScore("cut", 4, accuracy, accuracy, 0.0, 1.0, 0.0, chosen=True)


@pytest.mark.parametrize(
    "setting, with_copies, kept",
    [
        ("auto", 0.86, True),   # 0.90 without leads by less than a standard error of 0.86 on 50 rows (0.049)
        ("auto", 0.80, False),  # a lead of 0.10: more than a standard error (0.057)
        (2, 0.80, True),        # a number given is used whatever validation says
    ],
)
def test_auto_drops_the_copies_only_when_validation_says_they_hurt(monkeypatch, tmp_path, setting, with_copies, kept):
    labels = np.repeat(np.arange(5), 10)
    features = np.random.default_rng(0).normal(size=(50, 4))
    plan = validation.make_plan(labels, seed=0)
    made = np.zeros((augmentation.planned_copies(setting, 50), 50, 4))
    monkeypatch.setattr(augmented_copies, "augmented_features", lambda *args: made)
    monkeypatch.setattr(probe, "cross_validate", lambda *args, **kwargs: (10.0, with_copies, {}))
    monkeypatch.setattr(raw_images, "scan_examples", lambda *args: None)
    config = RunConfig(augmented_copies=setting)
    outcome = augmented_copies.augment(
        None, _score(0.90), {"cut": features}, labels, np.arange(50), plan, 5, raw_images.RawExamples("unused"), config,
        None, None,
    )
    assert (outcome.copies is made) is kept
    assert outcome.C == (10.0 if kept else 1.0)
    assert outcome.record["kept"] is kept and outcome.record["without_copies"] == 0.90
    assert outcome.record["copies"] == (made.shape[0] if kept else 0)
    assert ("a lead of more than one standard error" in outcome.reason) is (not kept)


def test_no_raw_images_or_no_copies_means_the_images_as_they_are():
    labels = np.repeat(np.arange(2), 5)
    plan = validation.make_plan(labels, seed=0)
    args = (None, _score(0.9), {"cut": np.zeros((10, 2))}, labels, np.arange(10), plan, 2)
    outcome = augmented_copies.augment(*args, None, RunConfig(), None, None)
    assert outcome.copies is None and outcome.record == {"copies": 0} and "raw examples were not given" in outcome.reason
    outcome = augmented_copies.augment(*args, raw_images.RawExamples("unused"), RunConfig(augmented_copies=0), None, None)
    assert outcome.copies is None and "augmented_copies=0" in outcome.reason
