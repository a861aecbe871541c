"""The report's first screen: three sentences, whatever the run exported and whatever is missing."""

from __future__ import annotations

import re

import pytest

from tfx_transfer.components.evaluation_report import tfma_results as tr
from tfx_transfer.components.evaluation_report import verdict

CONTROL = {"kind": "scratch", "reason": "the same architecture trained from scratch", "validation_accuracy": 0.90,
           "ensemble_validation_accuracy": 0.93}
BLESSED = tr.Validation(tr.BLESSED, False, (), ())


def _strategy(exported: str, transfer: float, **more):
    return {"exported": exported, "strategy": "feature_extraction", "cut_layer": "a+b", "transfer_accuracy": transfer,
            "validation": "5-fold cross-validation on the training data", "control": CONTROL, **more}


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def test_the_three_sentences_come_in_order_with_their_topics():
    html = verdict.verdict_html(_strategy("transfer", 0.96), {"drift": False, "verdict": "No drift: fine."}, 0.95, 179,
                                BLESSED)
    assert re.findall(r'<p class="verdict-line" data-topic="(\w+)">', html) == ["exported", "control", "drift"]
    exported, control, drift = (_text(p) for p in re.findall(r"<p [^>]*>(.*?)</p>", html))
    assert exported == ("Exported the transferred model (on the frozen base, cut at a+b). It scored accuracy 0.950 on "
                        "the Evaluator's 179 examples and was blessed.")
    assert control.startswith("Margin over the no-transfer control: +6.0 points on 5-fold cross-validation")
    assert "(0.960 against 0.900 for the same architecture trained from scratch)" in control
    assert drift == "Embedding drift, training images against the other images: No drift: fine."


def test_an_exported_average_reports_the_average_and_why():
    control = _text(verdict.control_sentence(_strategy("ensemble", 0.91)))
    assert control.startswith("Margin over the no-transfer control: +3.0 points")
    assert "the transferred model alone scored 0.910, too close to the control to tell apart" in control
    negative = _text(verdict.control_sentence(_strategy("ensemble", 0.88, negative_transfer=True)))
    assert "alone scored 0.880, below the control: negative transfer" in negative


def test_an_exported_control_says_negative_transfer():
    control = _text(verdict.control_sentence(_strategy("control", 0.85)))
    assert control == ("Negative transfer: the control (the same architecture trained from scratch) scored 0.900 on "
                       "5-fold cross-validation on the training data, the transferred model 0.850 (-5.0 points) and "
                       "their average 0.930.")
    assert _text(verdict.exported_sentence(_strategy("control", 0.85), None, None, None)).startswith(
        "Exported the no-transfer control")


@pytest.mark.parametrize("strategy, says", [
    (None, "No no-transfer control was trained"),
    ({"exported": "transfer", "transfer_accuracy": 0.9}, "No no-transfer control was trained"),
    ({"exported": "transfer", "control": {"kind": "scratch", "validation_accuracy": None}}, "could not be compared"),
])
def test_a_missing_control_is_said(strategy, says):
    assert says in verdict.control_sentence(strategy)


def test_missing_inputs_are_said_not_dropped():
    html = verdict.verdict_html(None, None, None, None, None)
    assert html.count('class="verdict-line"') == 3
    assert "which model was exported is not known" in html
    assert "No embedding drift check ran for this report." in html


def test_drift_names_what_was_compared_and_escapes():
    drift = {"drift": True, "blocks_push": True, "compared": "gs://b/x [unlabelled]", "verdict": "Drift: <both>."}
    adapted = {"adaptation": {"method": "mcc", "kept": True}}
    sentence = verdict.drift_sentence(drift, adapted)
    assert sentence.startswith('Embedding drift, training images against the unlabelled images: <span class="bad">Drift: &lt;both&gt;.')
    assert "Drift withholds the push" in sentence and "adapted to the unlabelled images with mcc and kept it." in sentence
    routed = verdict.drift_sentence(drift, {"adaptation": {"method": "align", "kept": True, "router": {"C": 0.1}}})
    assert "with align and kept it, serving it to the images a domain classifier finds like the unlabelled ones." in routed
    split = verdict.drift_sentence({"drift": False, "compared": "uri [eval]", "reason": "No drift: x. MMD² 1."}, None)
    assert "against the 'eval' split" in split and "No drift: x. MMD² 1." in split


def test_the_drift_sentence_says_semi_supervision_and_which_signal_decided():
    drift = {"drift": False, "verdict": "No drift.", "compared": "eval"}
    strategy = {"adaptation": {"method": "semi_supervised", "kept": True,
                               "decided_by": "drift check (no drift), then accuracy on the labelled validation rows"}}
    sentence = verdict.drift_sentence(drift, strategy)
    assert ("The head refitted with the unlabelled images' spread labels was kept (decided by drift check "
            "(no drift), then accuracy on the labelled validation rows).") in sentence
    strategy["adaptation"]["kept"] = False
    assert "spread labels was set aside: it did not pay (decided by" in verdict.drift_sentence(drift, strategy)
