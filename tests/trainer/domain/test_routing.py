"""The domain router: its weights, the mix, and the routed Keras head."""

import os

import keras
import numpy as np
import pytest

import testdata
from tfx_transfer.trainer.base import model_safety
from tfx_transfer.trainer.domain import routing
from tfx_transfer.trainer.selection import probe
from tfx_transfer.trainer.training import head as head_lib


def _heads():
    """A probe fitted on the source, one fitted on the target with the labels swapped (right on
    neither domain but its own), and the three domains' rows."""
    source, labels, target = testdata.shifted_domains(shift=6.0)
    config = head_lib.HeadConfig()
    on_source = probe.fit_probe(source, labels, 1.0, 0, 2)
    on_target = probe.fit_probe(target, 1 - labels, 1.0, 0, 2)
    heads = [probe.probe_head(fit, 2, config, 0) for fit in (on_source, on_target)]
    return source, labels, target, (on_source, on_target), heads, config


def test_the_router_weights_the_unlabelled_domain_near_one_and_the_labelled_near_zero():
    source, _, target, _, _, _ = _heads()
    router = routing.fit_router(source, target, 0)
    assert router.weights(source).mean() < 0.2 and router.weights(target).mean() > 0.8


def test_the_prior_correction_keeps_weights_balanced_whatever_the_set_sizes():
    rng = np.random.default_rng(0)
    same = rng.normal(size=(1000, 4))
    router = routing.fit_router(same[:40], same[40:], 0)  # one domain, 24 times as many unlabelled rows
    held_out = rng.normal(size=(500, 4))
    assert abs(router.weights(held_out).mean() - 0.5) < 0.1  # uncorrected, the prior alone gives 0.96


def test_mix_takes_each_rows_weight_of_the_adapted_probabilities():
    unadapted, adapted = np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([[0.0, 1.0], [0.0, 1.0]])
    np.testing.assert_allclose(routing.mix(unadapted, adapted, np.array([0.0, 0.25])), [[1.0, 0.0], [0.75, 0.25]])
    with pytest.raises(ValueError, match=r"shapes \(2, 2\) and \(2, 2\) with 3 weight"):
        routing.mix(unadapted, adapted, np.zeros(3))


def test_the_routed_head_serves_each_domain_its_own_head_and_saves(tmp_path):
    source, labels, target, fits, heads, config = _heads()
    router = routing.fit_router(source, target, 0)
    routed = routing.routed_head(*heads, router, 2, config, 0)
    assert routed.name == head_lib.HEAD_NAME and routed.inputs[0].name == head_lib.HEAD_INPUT_NAME
    rows = np.concatenate([source, target]).astype(np.float32)
    served = routed.predict(rows, verbose=0)
    want = routing.mix(fits[0].probabilities(rows), fits[1].probabilities(rows), router.weights(rows))
    np.testing.assert_allclose(served, want, atol=1e-5)
    truth = np.concatenate([labels, 1 - labels])  # each head is right only on its own domain
    alone = [(fit.probabilities(rows).argmax(1) == truth).mean() for fit in fits]
    assert (served.argmax(1) == truth).mean() > max(alone) + 0.3
    path = os.path.join(tmp_path, "routed.keras")
    routed.save(path)
    model_safety.check_model_file_safety(path, allow_unsafe_model=False)  # built-in layers only: reusable as a base
    np.testing.assert_allclose(keras.models.load_model(path).predict(rows, verbose=0), served, atol=1e-6)
