"""The negative-transfer gate: transfer, the control, or both averaged, from out-of-fold probabilities."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tfx_transfer.trainer.selection import control, gate
from tfx_transfer.trainer.selection import strategy as strategy_lib

LABELS = np.array([0, 1, 0, 1, 0, 1, 0, 1, 0, 1])


def _probabilities(correct_rows, confidence=0.9):
    """Two-class probabilities that are right (with `confidence`) on exactly `correct_rows`."""
    right = np.where(np.isin(np.arange(len(LABELS)), correct_rows), confidence, 1.0 - confidence)
    probabilities = np.empty((len(LABELS), 2))
    probabilities[np.arange(len(LABELS)), LABELS] = right
    probabilities[np.arange(len(LABELS)), 1 - LABELS] = 1.0 - right
    return probabilities


def _control(probabilities):
    accuracy = float(np.mean(probabilities.argmax(1) == LABELS)) if probabilities is not None else float("nan")
    return control.ControlResult("pixels", accuracy, 1.0, 10, "a test control", None, probabilities)


def test_the_transferred_model_stays_when_it_reaches_the_control():
    verdict = gate.judge(_probabilities(range(8)), _control(_probabilities(range(8))), LABELS, 0.0, "the rows")
    assert verdict.exported == strategy_lib.EXPORTED_TRANSFER and not verdict.negative_transfer
    assert verdict.reason == "The transferred model (0.800) matched the no-transfer control (a test control: 0.800) on the rows."
    ahead = gate.judge(_probabilities(range(10)), _control(_probabilities(range(6))), LABELS, 0.0, "the rows")
    assert ahead.reason == "The transferred model (1.000) beat the no-transfer control (a test control: 0.600) on the rows."


def test_a_lead_within_the_noise_of_the_comparison_exports_the_average():
    # Transfer is right on rows 0-8, the control on 0-6 and 9: a lead of one row in ten, against a
    # paired standard error of 0.18.
    transfer, control_probabilities = _probabilities(range(9), 0.9), _probabilities([0, 1, 2, 3, 4, 5, 6, 9], 0.6)
    noise = gate.paired_standard_error(transfer, control_probabilities, LABELS)
    assert noise == pytest.approx(np.std([0] * 7 + [1, 1, -1], ddof=1) / np.sqrt(10))
    verdict = gate.judge(transfer, _control(control_probabilities), LABELS, 0.0, "the rows")
    assert verdict.exported == strategy_lib.EXPORTED_ENSEMBLE and not verdict.negative_transfer
    assert verdict.ensemble_accuracy == 0.9
    assert f"by less than 2 paired standard errors (2 x {100 * noise:.1f} points)" in verdict.reason
    # A lead of 0.2 against a standard error of 0.133 clears one standard error but not the two asked for.
    one_error = gate.judge(_probabilities(range(10)), _control(_probabilities(range(8))), LABELS, 0.0, "the rows")
    assert one_error.exported == strategy_lib.EXPORTED_ENSEMBLE
    clear = gate.judge(_probabilities(range(10)), _control(_probabilities(range(6))), LABELS, 0.0, "the rows")
    assert clear.exported == strategy_lib.EXPORTED_TRANSFER  # a lead of 0.4 against 2 x 0.163


def test_a_control_lead_within_what_the_average_recovers_exports_the_average():
    weak = _probabilities(range(7), confidence=0.6)  # right on 0-6 (unsurely), wrong on 7-9
    verdict = gate.judge(weak, _control(_probabilities(range(1, 10), confidence=0.9)), LABELS, 0.0, "the rows")
    assert verdict.exported == strategy_lib.EXPORTED_ENSEMBLE and verdict.negative_transfer
    assert verdict.ensemble_accuracy == 0.9
    assert verdict.reason.startswith("Negative transfer: the control (a test control) beat the transferred model by 20.0 points")


def test_a_clear_control_lead_exports_the_control():
    surely_wrong = _probabilities(range(5), confidence=0.99)  # wrong on rows 5-9, and sure of it
    verdict = gate.judge(surely_wrong, _control(_probabilities(range(10), confidence=0.6)), LABELS, 0.0, "the rows")
    assert verdict.exported == strategy_lib.EXPORTED_CONTROL and verdict.negative_transfer
    assert verdict.ensemble_accuracy == 0.5
    assert "so the control is the exported model" in verdict.reason


def test_the_margin_is_what_the_transferred_model_must_lead_by():
    same = _probabilities(range(8))
    verdict = gate.judge(same, _control(same), LABELS, 0.1, "the rows")
    assert verdict.exported == strategy_lib.EXPORTED_CONTROL
    assert "came within the 10.0-point control_margin of the transferred model" in verdict.reason


def test_a_control_without_validation_cannot_gate():
    verdict = gate.judge(_probabilities(range(8)), _control(None), LABELS, 0.0, "the rows")
    assert verdict.exported == strategy_lib.EXPORTED_TRANSFER and not verdict.negative_transfer
    assert verdict.reason == "The no-transfer control could not be compared (a test control)."


def test_the_exported_average_serves_the_mean_of_both_models():
    inputs = keras.Input((4,))
    first = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="a")(inputs))
    second = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="b")(inputs))
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    result = control.ControlResult("scratch", 0.9, 1.0, 1, "c", second)
    verdict = gate.Verdict(strategy_lib.EXPORTED_ENSEMBLE, "why", 0.9)
    averaged = gate.exported_model(verdict, first, result)
    np.testing.assert_allclose(averaged(x).numpy(), (first(x).numpy() + second(x).numpy()) / 2, atol=1e-6)
    assert gate.exported_model(gate.Verdict(strategy_lib.EXPORTED_CONTROL, "why"), first, result) is second
    assert gate.exported_model(gate.Verdict(strategy_lib.EXPORTED_TRANSFER, "why"), first, result) is first


def test_a_model_adapted_to_a_shifted_domain_is_never_averaged_with_the_source_only_control():
    # Unshifted, this exports the average (see above); adapted to a serving domain, the adapted model stays.
    transfer, control_probabilities = _probabilities(range(9), 0.9), _probabilities([0, 1, 2, 3, 4, 5, 6, 9], 0.6)
    verdict = gate.judge(transfer, _control(control_probabilities), LABELS, 0.0, "the rows", serving_shift=True)
    assert verdict.exported == strategy_lib.EXPORTED_TRANSFER and not verdict.negative_transfer
    assert verdict.reason.startswith("The model adapted to the serving domain is the exported model (0.900 adapted vs "
                                     "0.800 for the control (a test control) on the rows)")
    # A control lead within the noise does not undo the adaptation either.
    weak = _probabilities(range(7), confidence=0.6)
    within = gate.judge(weak, _control(_probabilities(range(1, 10))), LABELS, 0.0, "the rows", serving_shift=True)
    assert within.exported == strategy_lib.EXPORTED_TRANSFER


def test_a_clear_control_lead_gives_up_the_adaptation_and_says_so():
    verdict = gate.judge(_probabilities(range(2)), _control(_probabilities(range(10))), LABELS, 0.0, "the rows",
                         serving_shift=True)
    assert verdict.exported == strategy_lib.EXPORTED_CONTROL and verdict.negative_transfer
    assert "the adaptation to the serving domain is given up" in verdict.reason
