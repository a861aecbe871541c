"""records.sample_vectors: the drift check reads a random sample, parsing only what it draws."""

from __future__ import annotations

import numpy as np

import testdata
from tfx_transfer.trainer.data import records


def _write(tmp_path, rows):
    serialized = [testdata.bottleneck_example(values, None, f"r{i}").SerializeToString() for i, values in enumerate(rows)]
    serialized.append(b"not an example")
    testdata.write_tfrecords(str(tmp_path), serialized)
    return str(tmp_path / "*")


def test_a_sample_of_the_vectors_with_its_set_asides_counted(tmp_path):
    rows = [np.full(3, i, dtype=float) for i in range(40)] + [np.ones(2)]  # one vector of the wrong size
    pattern = _write(tmp_path, rows)
    vectors, total, set_aside = records.sample_vectors(pattern, {testdata.CUT: 3}, max_rows=10, seed=0)
    sample = vectors[testdata.CUT]
    assert total == 42 and sample.shape[1] == 3 and len(sample) + set_aside == 10
    assert len(np.unique(sample[:, 0])) == len(sample)  # distinct rows, drawn without replacement
    again, _, _ = records.sample_vectors(pattern, {testdata.CUT: 3}, max_rows=10, seed=0)
    np.testing.assert_array_equal(again[testdata.CUT], sample)


def test_a_set_smaller_than_the_sample_is_read_whole(tmp_path):
    pattern = _write(tmp_path, [np.full(3, i, dtype=float) for i in range(5)])
    vectors, total, set_aside = records.sample_vectors(pattern, {testdata.CUT: 3}, max_rows=100, seed=1)
    assert (total, set_aside) == (6, 1)  # five vectors and the record that is not an Example
    assert sorted(vectors[testdata.CUT][:, 0].tolist()) == [0.0, 1.0, 2.0, 3.0, 4.0]
