"""Input pipelines: label kinds, bottleneck and raw image datasets, and counted skipped records."""

import logging

import keras
import numpy as np
import pytest
import tensorflow as tf

import testdata
from tfx_transfer.trainer.data import datasets, records
from tfx_transfer.trainer.data import preprocessing as pp
from tfx_transfer.trainer.data.labels import LabelVocabulary
from tfx_transfer.trainer.training.augmentation import AugmentationConfig, build_augmentation

VOCAB = LabelVocabulary(("cat", "dog"))
CONFIG = pp.PreprocessingConfig(image_size=(16, 16), mode="unit")


def _write(tmp_path, examples, name="data"):
    directory = tmp_path / name
    testdata.write_tfrecords(str(directory), [e.SerializeToString() for e in examples])
    return str(directory / "*")


def _bottlenecks(n, labels=("cat", "dog"), dim=4):
    return [testdata.bottleneck_example(np.full(dim, i, np.float32), labels[i % len(labels)], f"id{i}") for i in range(n)]


def test_list_files_without_match_is_an_error(tmp_path):
    with pytest.raises(records.DataError, match="No files match"):
        records.list_files(str(tmp_path / "*.gz"))


def test_label_kind_detects_bytes_and_int64(tmp_path):
    assert records.label_kind(_write(tmp_path, _bottlenecks(2), "b"), "label") == "bytes"
    assert records.label_kind(_write(tmp_path, _bottlenecks(2, labels=(0, 1)), "i"), "label") == "int64"


def test_label_kind_without_the_label_feature_names_it(tmp_path):
    pattern = _write(tmp_path, _bottlenecks(2))
    with pytest.raises(records.DataError, match="'species'"):
        records.label_kind(pattern, "species")


DIMS = {testdata.CUT: 4}


def test_load_bottlenecks_maps_bytes_labels_in_file_order(tmp_path):
    features, scan = records.load_bottlenecks(_write(tmp_path, _bottlenecks(5)), "label", VOCAB, DIMS)
    assert list(features) == [testdata.CUT]
    values = features[testdata.CUT]
    assert values.dtype == np.float32 and scan.labels.dtype == np.int64
    np.testing.assert_array_equal(values[:, 0], [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(scan.labels, [0, 1, 0, 1, 0])
    assert list(scan.ids) == [f"id{i}" for i in range(5)]


def test_load_bottlenecks_reads_every_cut(tmp_path):
    examples = [testdata.bottleneck_example({"a": [i, i], "b": [10 * i]}, "cat") for i in range(3)]
    features, scan = records.load_bottlenecks(_write(tmp_path, examples), "label", VOCAB, {"a": 2, "b": 1})
    np.testing.assert_array_equal(features["b"][:, 0], [0, 10, 20])
    assert features["a"].shape == (3, 2) and list(scan.ids) == ["", "", ""]


def test_load_bottlenecks_takes_int64_labels_as_indices(tmp_path):
    _, scan = records.load_bottlenecks(_write(tmp_path, _bottlenecks(4, labels=(1, 0))), "label", VOCAB, DIMS)
    np.testing.assert_array_equal(scan.labels, [1, 0, 1, 0])


def test_load_bottlenecks_skips_and_counts_bad_records_by_reason(tmp_path, caplog):
    examples = _bottlenecks(4) + [
        testdata.bottleneck_example([1.0] * 4, "cow"),
        testdata.bottleneck_example([1.0] * 3, "cat"),
        testdata.bottleneck_example([1.0] * 4, None),
        testdata.bottleneck_example([1.0] * 4, 1),
    ]
    with caplog.at_level(logging.WARNING):
        features, scan = records.load_bottlenecks(_write(tmp_path, examples), "label", VOCAB, DIMS)
    assert features[testdata.CUT].shape == (4, 4) and scan.labels.shape == (4,)
    reasons = {
        records.REASON_BAD_BOTTLENECK: 1,
        pp.REASON_MISSING_LABEL: 1,
        records.REASON_UNKNOWN_LABEL: 1,
        records.REASON_WRONG_LABEL_TYPE: 1,
    }
    assert f"Skipped 4 of 8 bottleneck records, by reason: {dict(sorted(reasons.items()))}" in caplog.text


def test_seeded_shuffle_is_reproducible_and_changes_between_epochs():
    features = np.arange(20, dtype=np.float32)[:, None]

    def epochs(seed):
        keras.utils.set_random_seed(seed)
        dataset = datasets.array_dataset(features, np.zeros(20), batch_size=20, shuffle=True, seed=seed)
        return [next(iter(dataset))[0][:, 0].numpy().tolist() for _ in range(2)]

    first, second = epochs(3), epochs(3)
    assert first == second
    assert first[0] != first[1]
    assert sorted(first[0]) == list(range(20))


def test_array_dataset_batches_in_memory_bottlenecks():
    dataset = datasets.array_dataset(np.zeros((5, 3)), np.array([0, 1, 0, 1, 1]), batch_size=4, shuffle=False, seed=None)
    shapes = [(f.shape, l.dtype) for f, l in dataset.as_numpy_iterator()]
    assert shapes == [((4, 3), np.int64), ((1, 3), np.int64)]


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True])
def test_bad_batch_size_is_an_error(batch_size):
    with pytest.raises(records.DataError, match=f"batch_size={batch_size!r} is invalid; valid values are ints >= 1"):
        datasets.array_dataset(np.zeros((2, 2)), np.zeros(2), batch_size=batch_size, shuffle=False, seed=None)


def _raw_examples():
    good = [
        testdata.make_example(testdata.png_bytes(20, 24, seed=1), "cat"),
        testdata.make_example(testdata.jpeg_bytes(18, 30, seed=2), "dog"),
        testdata.make_example(testdata.png_bytes(10, 10, channels=1, seed=3), "dog"),
    ]
    bad = [
        testdata.make_example(None, "cat"),
        testdata.make_example(b"", "cat"),
        testdata.make_example(b"not an image at all", "dog"),
        testdata.make_example(testdata.png_bytes(seed=4), None),
        testdata.make_example(testdata.png_bytes(seed=5), "cow"),
    ]
    return good[:2] + bad + good[2:]


def test_scan_raw_examples_counts_each_reason(tmp_path):
    pattern = _write(tmp_path, _raw_examples())
    assert records.scan_raw_records(pattern, "image", "label", VOCAB).reasons == {
        pp.REASON_MISSING_IMAGE: 1,
        pp.REASON_EMPTY_IMAGE: 1,
        pp.REASON_UNKNOWN_FORMAT: 1,
        pp.REASON_MISSING_LABEL: 1,
        records.REASON_UNKNOWN_LABEL: 1,
    }


def test_raw_image_dataset_keeps_exactly_the_good_records_preprocessed(tmp_path, caplog):
    examples = _raw_examples()
    pattern = _write(tmp_path, examples)
    with caplog.at_level(logging.WARNING):
        dataset = datasets.raw_image_dataset(pattern, "image", "label", VOCAB, CONFIG, batch_size=2, shuffle=False, seed=0)
        batches = list(dataset.as_numpy_iterator())
    assert "Skipped 5 of 8 raw image records" in caplog.text
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    assert images.shape == (3, 16, 16, 3) and images.dtype == np.float32
    np.testing.assert_array_equal(labels, [0, 1, 1])
    good_images = [examples[i].features.feature["image"].bytes_list.value[0] for i in (0, 1, 7)]
    expected = np.stack([pp.preprocess_image_bytes(tf.constant(b), CONFIG).numpy() for b in good_images])
    np.testing.assert_allclose(images, expected, atol=1e-6)


def test_raw_image_dataset_applies_augmentation_only_when_given(tmp_path):
    pattern = _write(tmp_path, testdata.labelled_examples(4))
    augmentation = build_augmentation(AugmentationConfig(horizontal_flip=True, rotation=30), seed=0)
    common = dict(preprocessing_config=CONFIG, batch_size=4, shuffle=False, seed=0)
    plain = next(iter(datasets.raw_image_dataset(pattern, "image", "label", VOCAB, **common)))[0].numpy()
    augmented_ds = datasets.raw_image_dataset(pattern, "image", "label", VOCAB, augmentation=augmentation, **common)
    augmented = next(iter(augmented_ds))[0].numpy()
    assert augmented.shape == plain.shape
    assert not np.allclose(augmented, plain)


def test_image_that_passes_the_header_check_but_fails_to_decode_is_skipped(tmp_path):
    truncated = testdata.png_bytes(20, 24, seed=9)[:60]  # a valid PNG header, a broken body
    examples = [
        testdata.make_example(testdata.png_bytes(seed=1), "cat"),
        testdata.make_example(truncated, "dog"),
        testdata.make_example(testdata.png_bytes(seed=2), "dog"),
    ]
    pattern = _write(tmp_path, examples)
    assert records.scan_raw_records(pattern, "image", "label", VOCAB).reasons == {}
    dataset = datasets.raw_image_dataset(pattern, "image", "label", VOCAB, CONFIG, batch_size=8, shuffle=False, seed=0)
    (images, labels), = dataset.as_numpy_iterator()
    np.testing.assert_array_equal(labels, [0, 1])
