"""streamed_head.refit: minibatch Adam over a stream reaches the in-memory probe's solution."""

import numpy as np
import pytest
import tensorflow as tf
from sklearn.linear_model import LogisticRegression

from tfx_transfer.trainer.selection import probe, streamed_head
from tfx_transfer.trainer.training import head as head_lib


def _blobs(classes: int, rows: int = 300, dim: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, rows)
    centres = rng.normal(size=(classes, dim)) * 1.5
    return (centres[labels] + rng.normal(size=(rows, dim)) * 2.0 + 5.0).astype(np.float32), labels


def _batches(features, labels, batch_size):
    return tf.data.Dataset.from_tensor_slices((features, labels.astype(np.int64))).shuffle(len(labels), seed=0).batch(batch_size)


@pytest.mark.parametrize("classes", [2, 3])
def test_refit_moves_a_subsample_probe_to_the_probe_on_every_row(classes, monkeypatch):
    monkeypatch.setattr(streamed_head, "STREAM_BATCH", 32)
    monkeypatch.setattr(streamed_head, "STREAM_EPOCHS", 150)
    features, labels = _blobs(classes)
    C, config = 0.05, head_lib.HeadConfig()
    subsample = probe.fit_probe(features[:30], labels[:30], C, 0, classes)
    # The optimum on every row, in the head's (the subsample's) standardisation.
    standardized = (features - subsample.mean) / np.sqrt(subsample.variance)
    target = LogisticRegression(C=C, max_iter=5000, tol=1e-10).fit(standardized, labels).predict_proba(standardized)
    head = probe.probe_head(subsample, classes, config, seed=0)
    before = head.predict(features, verbose=0)
    record = streamed_head.refit(head, _batches(features, labels, 32), len(labels), C, classes, seed=0)
    after = head.predict(features, verbose=0)
    assert np.abs(after - target).mean() < 0.5 * np.abs(before - target).mean()
    assert np.abs(after - target).max() < 0.02
    assert record["rows"] == 300 and record["epochs"] == 150 and len(record["objective_by_epoch"]) == 150
    assert record["objective_by_epoch"][-1] < record["objective_by_epoch"][0]
    assert [layer.name for layer in head.layers] == [layer.name for layer in probe.probe_head(
        subsample, classes, config, seed=0).layers]


def test_only_a_probe_head_is_refitted():
    mlp = head_lib.build_head(6, 3, head_lib.HeadConfig(head_units=(4,)), seed=0, standardize=(np.zeros(6), np.ones(6)))
    with pytest.raises(ValueError, match="head_dense_0"):
        streamed_head.refit(mlp, _batches(*_blobs(3), 32), 300, 1.0, 3, seed=0)
