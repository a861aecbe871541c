"""The negative-transfer gate: the transferred model, the no-transfer control, or the two averaged.

The three are scored on the same validation rows of the training data, from out-of-fold
probabilities (`validation.out_of_fold`), so no model is trained again to compare them:

- the transferred model stays the exported model when its validation accuracy is at least the
  control's plus `ControlConfig.margin`, and its lead is at least `LEAD_STANDARD_ERRORS` (two)
  paired standard errors of the two accuracies on those rows, a one-sided test at about 2.5 %;
- when it reaches the margin but leads by less than that, validation cannot tell the two apart:
  the average of both models' probabilities is exported when it also reaches the control plus
  the margin, else the transferred model. The average hedges, and the costs are lopsided: an
  average of two models rarely scores far below the better one, while a transferred model kept
  on noise can score far below the control. In `bench/recipe_parity.py`'s gate task, leads of
  1-2 of 50 validation rows kept transferred models that lost 3-6 points to the control on test,
  with one standard error as the bar (seed 8 of 10) as with none (3 of 10); and the control's
  out-of-fold accuracy understates it (90.8 % against 92.6 % on test there, for the control
  trained from scratch, which gains most from the rows a fold holds out);
- otherwise the control beat it: negative transfer. On a few dozen validation rows one row can
  decide that, so before the transferred model is given up, the average of both models'
  probabilities is scored on the same rows. It is exported when it also reaches the control's
  accuracy plus the margin: the pretrained features still count, and the control's view is
  added. Otherwise the control alone is exported.

So a model that the control beats on the validation rows is never exported.

A model adapted to a shifted serving domain (`serving_shift`) is judged differently: the
validation rows are labelled images of the *source* domain, and the control never saw a serving
image. Averaging with it would pull the adapted model back toward the source domain, and a
control that merely matches it on source rows says nothing about the serving domain. So no
average is exported; the control replaces the adapted model only when it leads by the margin
and `LEAD_STANDARD_ERRORS` paired standard errors on the labelled rows (a base so unsuited that
it loses even where it was trained), and the reason says the adaptation was given up.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional

import keras
import numpy as np

from tfx_transfer.trainer.selection import control as control_lib
from tfx_transfer.trainer.selection import strategy as strategy_lib
from tfx_transfer.trainer.selection import validation

ENSEMBLE_MODEL_NAME = "transfer_and_control"
_TIE = 1e-9  # accuracies are ratios of row counts: a lead equal to the bar clears it
# How many paired standard errors the transferred model must lead the control by to be exported alone.
LEAD_STANDARD_ERRORS = 2.0


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Which model to export (`strategy.EXPORTED_*`), and why, in a sentence."""

    exported: str
    reason: str
    ensemble_accuracy: float = float("nan")
    negative_transfer: bool = False


def paired_standard_error(first: Optional[np.ndarray], second: Optional[np.ndarray], labels: np.ndarray) -> float:
    """The standard error of the difference of two models' accuracies on the same validation rows
    (each row: right minus right); NaN when they share fewer than two validated rows."""
    if first is None or second is None or first.shape != second.shape:
        return float("nan")
    rows = ~(np.isnan(first).any(axis=1) | np.isnan(second).any(axis=1))
    if rows.sum() < 2:
        return float("nan")
    truth = np.asarray(labels)[rows]
    difference = (first[rows].argmax(axis=1) == truth).astype(float) - (second[rows].argmax(axis=1) == truth)
    return float(np.std(difference, ddof=1) / np.sqrt(len(difference)))


def judge(
    transfer_probabilities: Optional[np.ndarray], result: control_lib.ControlResult, labels: np.ndarray,
    margin: float, validation_text: str, serving_shift: bool = False,
) -> Verdict:
    """The gate of the module docstring, on out-of-fold probabilities of the same rows."""
    transfer = validation.validated_accuracy(transfer_probabilities, labels)
    control = result.accuracy
    if not (math.isfinite(transfer) and math.isfinite(control)):
        return Verdict(strategy_lib.EXPORTED_TRANSFER, f"The no-transfer control could not be compared ({result.reason}).")
    ensemble = _ensemble_accuracy(transfer_probabilities, result.validation_probabilities, labels)
    noise = paired_standard_error(transfer_probabilities, result.validation_probabilities, labels)
    if serving_shift:
        return _judge_shifted(transfer, control, noise, margin, result, validation_text)
    said = (f"The transferred model ({transfer:.3f}) {'beat' if transfer > control else 'matched'} the no-transfer "
            f"control ({result.reason}: {control:.3f}) on {validation_text}")
    if transfer >= control + margin and _clear_lead(transfer - control, noise):
        return Verdict(strategy_lib.EXPORTED_TRANSFER, f"{said}.", ensemble)
    within = f"by less than {LEAD_STANDARD_ERRORS:g} paired standard errors ({LEAD_STANDARD_ERRORS:g} x {100 * noise:.1f} points)"
    if transfer >= control + margin:
        if math.isfinite(ensemble) and ensemble >= control + margin:
            return Verdict(
                strategy_lib.EXPORTED_ENSEMBLE,
                f"{said}, {within}: validation cannot tell them apart, so the average of both (which scored "
                f"{ensemble:.3f}) is the exported model.",
                ensemble,
            )
        return Verdict(strategy_lib.EXPORTED_TRANSFER, f"{said}, {within}; the average of both scored {ensemble:.3f}.",
                       ensemble)
    lead = (f"beat the transferred model by {100 * (control - transfer):.1f} points" if control > transfer
            else f"came within the {100 * margin:.1f}-point control_margin of the transferred model")
    said = f"Negative transfer: the control ({result.reason}) {lead} on {validation_text} ({control:.3f} vs {transfer:.3f})"
    if math.isfinite(ensemble) and ensemble >= control + margin:
        return Verdict(
            strategy_lib.EXPORTED_ENSEMBLE,
            f"{said}; the average of both models scored {ensemble:.3f} on the same rows, so that average is the "
            "exported model. Try another base, a lower cut_layer, or more labels.",
            ensemble, negative_transfer=True,
        )
    return Verdict(
        strategy_lib.EXPORTED_CONTROL,
        f"{said}, and the average of both models scored {ensemble:.3f}, so the control is the exported model. Try "
        "another base, a lower cut_layer, or more labels.",
        ensemble, negative_transfer=True,
    )


def _judge_shifted(transfer: float, control: float, noise: float, margin: float, result: control_lib.ControlResult,
                   validation_text: str) -> Verdict:
    """The gate for a model adapted to a shifted serving domain (see the module docstring)."""
    figures = f"{transfer:.3f} adapted vs {control:.3f} for the control ({result.reason}) on {validation_text}"
    if control >= transfer + margin and control > transfer and _clear_lead(control - transfer, noise):
        return Verdict(
            strategy_lib.EXPORTED_CONTROL,
            f"Negative transfer even on the labelled images: {figures}, a lead of more than {LEAD_STANDARD_ERRORS:g} "
            "paired standard errors, so the control is the exported model and the adaptation to the serving domain "
            "is given up. Try another base or a lower cut_layer.", negative_transfer=True)
    return Verdict(
        strategy_lib.EXPORTED_TRANSFER,
        f"The model adapted to the serving domain is the exported model ({figures}): the labelled rows are of the "
        "source domain and the control never saw a serving image, so neither it nor an average with it replaces "
        "the adaptation without a clear lead.")


def _clear_lead(lead: float, noise: float) -> bool:
    """Whether the transferred model's lead clears `LEAD_STANDARD_ERRORS` paired standard errors; with no
    standard error (fewer than two shared rows) there is nothing to test, and the lead stands."""
    return not math.isfinite(noise) or lead + _TIE >= LEAD_STANDARD_ERRORS * noise


def _ensemble_accuracy(transfer: Optional[np.ndarray], control: Optional[np.ndarray], labels: np.ndarray) -> float:
    """Validation accuracy of the averaged probabilities, on the rows both models validated."""
    if transfer is None or control is None or transfer.shape != control.shape:
        return float("nan")
    return validation.validated_accuracy((transfer + control) / 2.0, labels)


def ensemble_model(transfer: keras.Model, control: keras.Model) -> keras.Model:
    """image -> the mean of both models' probabilities; both read the same preprocessed image."""
    inputs = keras.Input(tuple(transfer.inputs[0].shape[1:]), name="image")
    averaged = keras.layers.Average(name="mean_probabilities")([transfer(inputs), control(inputs)])
    return keras.Model(inputs, averaged, name=ENSEMBLE_MODEL_NAME)


def exported_model(verdict: Verdict, transfer: keras.Model, result: control_lib.ControlResult) -> keras.Model:
    """The model the verdict names."""
    if verdict.exported == strategy_lib.EXPORTED_CONTROL:
        return result.model
    if verdict.exported == strategy_lib.EXPORTED_ENSEMBLE:
        return ensemble_model(transfer, result.model)
    return transfer
