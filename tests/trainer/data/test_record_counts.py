"""record_counts: exact counts, and the estimate the extractor's progress lines use."""

import os

import numpy as np
import tensorflow as tf

import testdata
from tfx_transfer.trainer.data import record_counts


def _records(n: int, seed: int = 0):
    """Records of random floats: they compress about as little as real bottlenecks or JPEG bytes."""
    values = np.random.default_rng(seed).normal(size=(n, 50))
    return [testdata.bottleneck_example(row, "cat", f"id{seed + i}").SerializeToString() for i, row in enumerate(values)]


def test_a_small_single_file_is_counted_exactly_by_the_estimate(tmp_path):
    testdata.write_tfrecords(str(tmp_path / "gz"), _records(37))
    assert record_counts.estimate_records(str(tmp_path / "gz" / "*")) == 37
    plain = tmp_path / "plain"
    plain.mkdir()
    with tf.io.TFRecordWriter(str(plain / "data.tfrecord")) as writer:
        for record in _records(11):
            writer.write(record)
    assert record_counts.estimate_records(str(plain / "*")) == 11


def test_the_estimate_scales_a_sample_by_the_bytes_on_disk(tmp_path):
    for shard in range(4):
        testdata.write_tfrecords(str(tmp_path / "data"), _records(500, seed=1000 * shard), name=f"part-{shard}.gz")
    assert len(os.listdir(tmp_path / "data")) == 4
    estimate = record_counts.estimate_records(str(tmp_path / "data" / "*"), sample=200)
    assert record_counts.count_records(str(tmp_path / "data" / "*")) == 2000
    assert 1800 <= estimate <= 2200 and estimate != 200


def test_nothing_to_estimate_is_none(tmp_path):
    assert record_counts.estimate_records(str(tmp_path / "none" / "*")) is None
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "data.gz").write_bytes(b"\x1f\x8b" + b"not gzip at all" * 10)
    assert record_counts.estimate_records(str(broken / "*")) is None
