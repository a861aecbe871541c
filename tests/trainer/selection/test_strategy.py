"""strategy='auto': the four classic cases, SavedModel bases, explicit strategies and errors."""

import json

import numpy as np
import pytest

from tfx_transfer.trainer.selection import strategy as strategy_lib
from tfx_transfer.trainer.selection.logme import logme_score
from tfx_transfer.trainer.selection.strategy import StrategyError, StrategyThresholds, decide_strategy, requested_strategy


@pytest.mark.parametrize(
    "per_class, logme, expected, unfreeze, phrase",
    [
        (20, 0.8, "feature_extraction", None, "Small and similar"),
        (500, 0.8, "fine_tune", 15, "Large and similar"),
        (20, -0.5, "feature_extraction", None, "Small and different"),
        (500, -0.5, "fine_tune", 50, "Large and different"),
    ],
)
def test_four_classic_cases(per_class, logme, expected, unfreeze, phrase):
    decision = decide_strategy(per_class, logme, num_base_layers=100, fine_tunable=True)
    assert decision.strategy == expected
    assert decision.unfreeze == unfreeze
    reasons = " ".join(decision.reasons)
    assert phrase in reasons
    assert f"{per_class:.1f} labelled examples per class" in reasons
    assert f"LogME of the bottlenecks is {logme:.3f}" in reasons


def test_saved_model_base_is_always_feature_extraction():
    decision = decide_strategy(1000, -1.0, num_base_layers=0, fine_tunable=False)
    assert decision.strategy == "feature_extraction" and decision.unfreeze is None
    assert "SavedModel" in decision.reasons[-1]


def test_thresholds_are_configurable():
    decision = decide_strategy(50, 0.8, 10, True, StrategyThresholds(min_examples_per_class=40, logme_threshold=1.0))
    assert decision.strategy == "fine_tune" and decision.unfreeze == 5


def test_decision_json_round_trips():
    decision = decide_strategy(20, 0.8, 10, True)
    data = json.loads(decision.to_json())
    assert {k: data[k] for k in ("strategy", "unfreeze", "examples_per_class", "logme", "reasons")} == {
        "strategy": "feature_extraction", "unfreeze": None, "examples_per_class": 20.0,
        "logme": 0.8, "reasons": decision.reasons,
    }
    assert (data["transfer_accuracy"], data["exported"], data["negative_transfer"]) == (None, "transfer", False)


def _synthetic_bottlenecks(per_class, num_classes=3, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(num_classes), per_class)
    features = rng.normal(size=(num_classes, dim))[labels] * 3 + rng.normal(size=(labels.size, dim))
    return features, labels


@pytest.mark.parametrize("per_class, expected", [(10, "feature_extraction"), (200, "fine_tune")])
def test_auto_decision_on_synthetic_bottlenecks(per_class, expected):
    features, labels = _synthetic_bottlenecks(per_class)
    decision = requested_strategy(
        "auto", None, strategy_lib.examples_per_class(len(labels), 3), logme_score(features, labels, 3),
        num_base_layers=20, fine_tunable=True,
    )
    assert decision.logme > strategy_lib.DEFAULT_LOGME_THRESHOLD
    assert decision.strategy == expected
    assert decision.unfreeze == (None if expected == "feature_extraction" else 3)


def test_explicit_strategies_are_kept():
    extraction = requested_strategy("feature_extraction", None, 1000, float("nan"), 10, True)
    assert extraction.strategy == "feature_extraction"
    assert json.loads(extraction.to_json())["logme"] is None
    tuned = requested_strategy("fine_tune", "conv5", 5, 0.0, 10, True)
    assert (tuned.strategy, tuned.unfreeze) == ("fine_tune", "conv5")


def test_unknown_strategy_is_an_error():
    with pytest.raises(StrategyError, match="Unknown strategy 'finetune'; valid values are \\['auto', 'feature_extraction', 'fine_tune'\\]"):
        strategy_lib.check_strategy("finetune")


def test_fine_tuning_a_saved_model_base_is_an_error():
    with pytest.raises(StrategyError, match="strategy='fine_tune' is not possible with a SavedModel"):
        requested_strategy("fine_tune", 3, 500, 1.0, 10, fine_tunable=False)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(min_examples_per_class=0), "min_examples_per_class=0"),
        (dict(top_fraction=1.5), "top_fraction=1.5 is out of range"),
        (dict(logme_threshold=float("inf")), "logme_threshold=inf"),
    ],
)
def test_bad_thresholds_are_errors(kwargs, match):
    with pytest.raises(StrategyError, match=match):
        StrategyThresholds(**kwargs)
