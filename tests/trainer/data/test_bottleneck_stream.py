"""bottleneck_stream: the graph-parsed checking pass agrees with records', the subsample, the stream."""

import numpy as np
import pytest

import testdata
from tfx_transfer.trainer import training_data as training_data_lib
from tfx_transfer.trainer.data import bottleneck_stream as bs
from tfx_transfer.trainer.data import preprocessing as pp
from tfx_transfer.trainer.data import records
from tfx_transfer.trainer.data.labels import LabelVocabulary

VOCAB = LabelVocabulary(("cat", "dog"))
DIMS = {testdata.CUT: 4}


def _write(tmp_path, serialized, name="data"):
    directory = tmp_path / name
    testdata.write_tfrecords(str(directory), serialized)
    return str(directory / "*")


def _good(n, labels=("cat", "dog"), start=0):
    return [testdata.bottleneck_example(np.full(4, start + i, np.float32), labels[i % len(labels)], f"id{start + i}")
            for i in range(n)]


def _mixed():
    """Good records with one of every bad kind among them (one of them is not an Example at all)."""
    bad = [
        testdata.bottleneck_example([1.0] * 4, "cow", "unknown"),
        testdata.bottleneck_example([1.0] * 3, "cat", "short"),
        testdata.bottleneck_example([1.0] * 4, None, "unlabelled"),
        testdata.bottleneck_example([1.0] * 4, 1, "int_label"),
    ]
    two = testdata.bottleneck_example([1.0] * 4, "cat", "two_labels")
    two.features.feature["label"].bytes_list.value.append(b"dog")
    serialized = [e.SerializeToString() for e in _good(5) + bad + [two] + _good(3, start=5)]
    return serialized[:7] + [b"\x08\x96\x01not an example"] + serialized[7:]


def test_scan_of_every_record_agrees_with_the_python_checking_pass(tmp_path):
    pattern = _write(tmp_path, _mixed())
    features, scan = records.load_bottlenecks(pattern, "label", VOCAB, DIMS)
    total = len(scan.keep)
    assert total == 14
    graph = bs.scan_bottlenecks(pattern, "label", VOCAB, DIMS, np.ones(total, dtype=bool))
    np.testing.assert_array_equal(graph.keep, scan.keep)
    assert graph.reasons == scan.reasons
    assert scan.reasons == {records.REASON_UNKNOWN_LABEL: 1, records.REASON_BAD_BOTTLENECK: 1, pp.REASON_MISSING_LABEL: 1,
                            records.REASON_WRONG_LABEL_TYPE: 1, records.REASON_MULTIPLE_LABELS: 1,
                            records.REASON_UNPARSEABLE: 1}
    np.testing.assert_array_equal(graph.labels, scan.labels)
    assert list(graph.ids) == list(scan.ids)
    np.testing.assert_array_equal(graph.features[testdata.CUT], features[testdata.CUT])
    np.testing.assert_array_equal(graph.record_labels[graph.keep], scan.labels)
    assert (graph.record_labels[~graph.keep] == -1).all()


def test_scan_in_batches_takes_only_the_flagged_usable_records(tmp_path, monkeypatch):
    monkeypatch.setattr(bs, "PARSE_BATCH", 4)  # several batches, one of them refused by TF
    pattern = _write(tmp_path, _mixed())
    take = np.zeros(14, dtype=bool)
    take[[0, 5, 12, 13]] = True  # record 5 is set aside: not taken
    scan = bs.scan_bottlenecks(pattern, "label", VOCAB, DIMS, take)
    assert list(scan.ids) == ["id0", "id6", "id7"]
    np.testing.assert_array_equal(scan.features[testdata.CUT][:, 0], [0, 6, 7])
    np.testing.assert_array_equal(scan.labels, [0, 1, 0])
    np.testing.assert_array_equal(scan.taken, [0, 12, 13])
    assert scan.keep.sum() == 8


def test_scan_without_labels_checks_sizes_only(tmp_path):
    pattern = _write(tmp_path, [e.SerializeToString() for e in _good(3) + [testdata.bottleneck_example([1.0] * 3, None)]])
    scan = bs.scan_bottlenecks(pattern, None, None, DIMS, np.ones(4, dtype=bool))
    assert scan.keep.tolist() == [True, True, True, False] and scan.reasons == {records.REASON_BAD_BOTTLENECK: 1}
    assert list(scan.ids) == ["id0", "id1", "id2"] and scan.features[testdata.CUT].shape == (3, 4)


def test_scan_notices_files_that_changed_size(tmp_path):
    pattern = _write(tmp_path, [e.SerializeToString() for e in _good(3)])
    with pytest.raises(records.DataError, match="changed while they were read"):
        bs.scan_bottlenecks(pattern, "label", VOCAB, DIMS, np.ones(5, dtype=bool))


def test_label_values_match_the_records_with_one_label(tmp_path, monkeypatch):
    monkeypatch.setattr(bs, "PARSE_BATCH", 5)
    values = bs.label_values(_write(tmp_path, _mixed()), "label")
    assert values == [b"cat", b"dog", b"cat", b"dog", b"cat", b"cow", b"cat", b"cat", b"dog", b"cat"]
    ints = bs.label_values(_write(tmp_path, [e.SerializeToString() for e in _good(3, labels=(2, 0))], "ints"), "label")
    assert ints == [2, 0, 2]


def test_rows_within_budget_and_the_subsample_mask():
    assert bs.rows_within_budget(1, 8) == 2**20 // (8 * bs.WORKING_SET_BYTES_PER_VALUE)
    assert bs.rows_within_budget(1, 10**9) == 1
    mask = bs.subsample_mask(100, 30, seed=3)
    assert mask.sum() == 30 and mask.shape == (100,)
    np.testing.assert_array_equal(mask, bs.subsample_mask(100, 30, seed=3))
    assert not np.array_equal(mask, bs.subsample_mask(100, 30, seed=4))
    assert bs.subsample_mask(5, 30, seed=0).all()


def _two_cut_examples(n, start=0):
    return [testdata.bottleneck_example({"a": [start + i, 0.5], "b": [-(start + i)]}, ("cat", "dog")[i % 2], f"r{start + i}")
            for i in range(n)]


def test_a_tiny_budget_streams_every_row_and_holds_a_subsample(tmp_path):
    train = _write(tmp_path, [e.SerializeToString() for e in _two_cut_examples(30)], "train")
    val = _write(tmp_path, [e.SerializeToString() for e in _two_cut_examples(10, start=100)], "val")
    dims = {"a": 2, "b": 1}
    budget_rows = bs.rows_within_budget(1, 3)
    assert budget_rows > 40  # 1 MiB holds every row of this data: the default path
    whole = training_data_lib.load_training_data([train, val], ["train", "validation"], "label", VOCAB, dims, 1, seed=0)
    assert whole.stream is None and len(whole.labels) == 40 and whole.validation_rows == 10

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bs, "WORKING_SET_BYTES_PER_VALUE", 2**20 // 36)  # 1 MiB now holds 12 rows of 3 values
        data = training_data_lib.load_training_data([train, val], ["train", "validation"], "label", VOCAB, dims, 1, seed=0)
    assert data.stream is not None and data.stream.rows == 40
    assert len(data.labels) == 9 + 3 and data.validation_rows == 3  # 12 * 30 // 40 and 12 * 10 // 40
    assert data.train_rows == 30 and whole.train_rows == 30  # 9 of the 12 rows held, of 40 streamed
    np.testing.assert_array_equal(data.features["b"][:, 0], -data.features["a"][:, 0])
    ids = [int(i[1:]) for i in data.ids]
    assert all(i < 30 for i in ids[:9]) and all(i >= 100 for i in ids[9:])

    batches = list(bs.stream_batches(data.stream, ["a", "b"], batch_size=7, seed=0).as_numpy_iterator())
    features = np.concatenate([f for f, _ in batches])
    labels = np.concatenate([y for _, y in batches])
    assert features.shape == (40, 3)
    assert sorted(features[:, 0].tolist()) == list(range(30)) + list(range(100, 110))
    np.testing.assert_array_equal(features[:, 2], -features[:, 0])
    np.testing.assert_array_equal(labels, features[:, 0].astype(int) % 2)

    fewer = data.without(np.array([0, 10]))
    assert fewer.stream.rows == 38 and len(fewer.labels) == 10 and fewer.validation_rows == 2
    dropped = {ids[0], ids[10]}
    streamed = np.concatenate([f for f, _ in bs.stream_batches(fewer.stream, ["a"], 64, 0).as_numpy_iterator()])
    assert not dropped & set(streamed[:, 0].astype(int).tolist()) and len(streamed) == 38


def test_unlabelled_rows_beyond_the_budget_are_subsampled(tmp_path, monkeypatch):
    pattern = _write(tmp_path, [e.SerializeToString() for e in _good(20)])
    every = training_data_lib.load_unlabelled([pattern], "here", DIMS, 1, seed=0)
    assert len(every["unlabelled_ids"]) == 20
    monkeypatch.setattr(bs, "WORKING_SET_BYTES_PER_VALUE", 2**20 // 20)  # 5 rows of 4 values
    some = training_data_lib.load_unlabelled([pattern], "here", DIMS, 1, seed=0)
    assert len(some["unlabelled_ids"]) == 5 and some["unlabelled"][testdata.CUT].shape == (5, 4)
    rows = [int(i[2:]) for i in some["unlabelled_ids"]]
    np.testing.assert_array_equal(some["unlabelled"][testdata.CUT][:, 0], rows)
