"""`bench/feed_ceiling.py`'s two Python-driven readers carry every record through (a smoke test; no figure is checked)."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import tensorflow as tf

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "bench"))

import extract_throughput  # noqa: E402  pylint: disable=wrong-import-position
import feed_ceiling  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    data = str(tmp_path_factory.mktemp("feed") / "data_37")
    return extract_throughput._write_data(data, 37)  # 4 shards of 10, 9, 9, 9: partial batches included


@pytest.mark.parametrize("threads", [1, 2])
def test_python_reader_decodes_every_record(records, threads):
    assert feed_ceiling.python_reader(records, threads)["rows"] == 37


def test_tf_data_with_python_outputs_decodes_every_record(records):
    assert feed_ceiling.tf_data_python_out(records)["rows"] == 37


def test_the_output_example_carries_the_vector_and_the_label():
    example = tf.train.Example.FromString(feed_ceiling._output_example(np.array([0.5, -1.0], np.float32), b"7"))
    assert list(example.features.feature["bottleneck/mean_colour"].float_list.value) == [0.5, -1.0]
    assert list(example.features.feature["label"].bytes_list.value) == [b"7"]
