"""Domain adaptation: the reversal's gradient, lambda's schedule, the MCC loss, and adapting in a run."""

import math

import numpy as np
import pytest
import tensorflow as tf

import testdata
from tfx_transfer.trainer.domain import adaptation
from tfx_transfer.trainer.selection import validation
from tfx_transfer.trainer.training import head as head_lib


def test_the_reversal_layer_passes_values_and_flips_gradients():
    inputs = tf.constant([[1.0, -2.0, 3.0]])
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = adaptation.reverse_gradient(inputs, 0.5)
        loss = tf.reduce_sum(outputs * tf.constant([[1.0, 2.0, 3.0]]))
    np.testing.assert_array_equal(outputs.numpy(), inputs.numpy())
    np.testing.assert_allclose(tape.gradient(loss, inputs).numpy(), [[-0.5, -1.0, -1.5]])


def test_lambda_ramps_from_zero_towards_one():
    assert adaptation.reversal_weight(0.0) == 0.0
    assert adaptation.reversal_weight(0.5) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    assert adaptation.reversal_weight(1.0) == pytest.approx(0.99990920)
    weights = [adaptation.reversal_weight(p) for p in np.linspace(0, 1, 11)]
    assert weights == sorted(weights) and len(set(weights)) == 11


def test_mcc_loss_on_a_hand_computed_batch():
    # At temperature 1 the predictions stay as they are. Rows: sure of class 0, sure of class 1, unsure.
    p = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    entropy = np.array([0.0, 0.0, math.log(2)])
    w = 1 + np.exp(-entropy)
    w = 3 * w / w.sum()  # 2, 2, 1.5 scaled to sum to 3
    confusion = (p * w[:, None]).T @ p  # diagonal w0 + w2/4, off-diagonal w2/4
    confusion = confusion / confusion.sum(axis=1, keepdims=True)
    expected = (confusion.sum() - np.trace(confusion)) / 2
    assert expected == pytest.approx((1.5 / 4) / (2 + 1.5 / 2))  # 0.136: the unsure row's confusion, row-normalised
    assert float(adaptation.mcc_loss(tf.constant(p, tf.float32), temperature=1.0)) == pytest.approx(expected, rel=1e-4)
    sure = tf.constant([[1.0, 0.0], [0.0, 1.0]])
    assert float(adaptation.mcc_loss(sure, temperature=1.0)) == pytest.approx(0.0, abs=1e-5)


_domains = testdata.shifted_domains


@pytest.mark.parametrize("method", ["dann", "mcc"])
def test_adapt_trains_a_head_that_exports_like_any(method):
    source, labels, target = _domains()
    adapted = adaptation.adapt(source, labels, target, 2, method, head_lib.HeadConfig(), seed=0, steps=200)
    probabilities = adapted.head.predict(source, verbose=0)
    assert probabilities.shape == (60, 2) and adapted.head.name == head_lib.HEAD_NAME
    assert np.mean(probabilities.argmax(1) == labels) > 0.8
    assert math.isnan(adapted.domain_accuracy_start) == (method == "mcc")


def test_adapt_names_what_it_cannot_use():
    source, labels, target = _domains()
    with pytest.raises(adaptation.AdaptationError, match="'kmm'.*valid values are \\['dann', 'mcc'\\]"):
        adaptation.adapt(source, labels, target, 2, "kmm", head_lib.HeadConfig(), 0)
    with pytest.raises(adaptation.AdaptationError, match="at least 2 unlabelled rows"):
        adaptation.adapt(source, labels, target[:1], 2, "mcc", head_lib.HeadConfig(), 0)
    with pytest.raises(adaptation.AdaptationError, match="Unknown adaptation 'yes'"):
        adaptation.check_adaptation("yes")
