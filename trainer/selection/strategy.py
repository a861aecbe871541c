"""`strategy='auto'`: feature extraction or fine-tuning, and how deep, from data size and LogME.

The classic four cases of transfer learning:

=================  =====================================  ======================================
                   similar (LogME >= threshold)           different (LogME < threshold)
=================  =====================================  ======================================
small (few/class)  feature extraction: train the head     head only; the top features are too
                   only; fine-tuning would overfit.       task-specific, so cut the base lower.
large              fine-tune the top ~15% of the layers.  fine-tune deeper: the top ~50%.
=================  =====================================  ======================================

'small' vs 'large' is the mean number of labelled examples per class against
`DEFAULT_MIN_EXAMPLES_PER_CLASS`. 'similar' vs 'different' is the LogME score of the
bottlenecks (see `logme.py`) against `DEFAULT_LOGME_THRESHOLD`.

LogME is evidence per example on one-hot targets, so its scale is absolute but depends a little
on the number of classes: features unrelated to the labels score below 0 (about -1.1 for 2
classes, -0.6 for 5, -0.3 for 10), features that separate the classes well score 0.5 to 1.5.
The default threshold 0.0 asks that the features explain clearly more than the class prior:
a residual variance per one-hot column below about 1 / (2 pi e) ~ 0.06. Every decision keeps its
reasons, with the numbers, so a user can see why and override `strategy` or the thresholds.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, Dict, List, Optional, Union

from tfx_transfer.trainer.common import checks

STRATEGY_FEATURE_EXTRACTION = "feature_extraction"
STRATEGY_FINE_TUNE = "fine_tune"
STRATEGY_AUTO = "auto"
STRATEGIES = (STRATEGY_AUTO, STRATEGY_FEATURE_EXTRACTION, STRATEGY_FINE_TUNE)
# The one default of FineTuner, run_fn and the CLI.
DEFAULT_STRATEGY = STRATEGY_AUTO

# How the head adapts to unlabelled images of the serving domain (`adaptation`); these live here,
# with the other choices of a run, so the CLI can offer them without importing TensorFlow.
ADAPTATION_NONE = "none"
ADAPTATION_DANN = "dann"
ADAPTATION_MCC = "mcc"
ADAPTATION_AUTO = "auto"
# Same-domain unlabelled images: label spreading on the cached bottlenecks (`semi_supervised`).
ADAPTATION_SEMI_SUPERVISED = "semi_supervised"
# A shifted serving domain: each domain standardised by its own statistics, labels spread (`alignment`).
ADAPTATION_ALIGN = "align"
# A shifted domain: the label-free choice among the adapted candidates, served through a domain router
# (`routing`); what 'auto' does on drift.
ADAPTATION_ADAPT = "adapt"
# How many unlabelled images a run lists to label next (`labelling.label_next`), unless told.
DEFAULT_LABEL_BUDGET = 50
ADAPTATIONS = (ADAPTATION_NONE, ADAPTATION_DANN, ADAPTATION_MCC, ADAPTATION_ALIGN, ADAPTATION_ADAPT,
               ADAPTATION_SEMI_SUPERVISED, ADAPTATION_AUTO)

# The decision's JSON in the run directory (`model_run`).
STRATEGY_FILE = "strategy.json"

DEFAULT_MIN_EXAMPLES_PER_CLASS = 100.0
DEFAULT_LOGME_THRESHOLD = 0.0
# Fractions of the base's layers unfrozen for "large and similar" and "large and different".
DEFAULT_TOP_FRACTION = 0.15
DEFAULT_DEEP_FRACTION = 0.5

UnfreezeValue = Optional[Union[int, str, float]]


class StrategyError(ValueError):
    """A strategy setting that cannot be applied."""


# What the run exported.
EXPORTED_TRANSFER = "transfer"
EXPORTED_CONTROL = "control"
EXPORTED_ENSEMBLE = "ensemble"  # the transferred model and the control, averaged (see `gate`)


@dataclasses.dataclass
class StrategyDecision:
    """What to train and why. `unfreeze` is the spec for `head.unfreeze` (None: head only).

    The run fills in the rest: the chosen cut and the scored candidates, the validation plan, the
    augmented copies the head trained on, the head, the adaptation to unlabelled images, the suspect labels, the transferred model's
    validation accuracy, the control, and which model was exported.
    """

    strategy: str
    unfreeze: UnfreezeValue
    examples_per_class: float
    logme: float
    reasons: List[str]
    cut_layer: Optional[str] = None
    validation: str = ""
    candidates: List[Dict[str, Any]] = dataclasses.field(default_factory=list)
    augmentation: Dict[str, Any] = dataclasses.field(default_factory=dict)
    # The head: {'kind': 'probe', 'C', 'accuracy_by_C'} or {'kind': 'mlp', 'units'}.
    head: Dict[str, Any] = dataclasses.field(default_factory=dict)
    adaptation: Dict[str, Any] = dataclasses.field(default_factory=dict)
    # Training images whose label looks wrong (`labelling.suspect_labels`).
    suspect_labels: Dict[str, Any] = dataclasses.field(default_factory=dict)
    # Unlabelled images to label next (`labelling.label_next`), when the run has them.
    label_next: Dict[str, Any] = dataclasses.field(default_factory=dict)
    # The pairs of classes the head's out-of-fold predictions confuse most
    # (`labelling.label_next.confused_pairs`): `tfx-transfer label-next` covers them too.
    confused_pairs: List[Dict[str, Any]] = dataclasses.field(default_factory=list)
    transfer_accuracy: float = float("nan")
    control: Optional[Dict[str, Any]] = None
    exported: str = EXPORTED_TRANSFER
    negative_transfer: bool = False

    @property
    def fine_tune(self) -> bool:
        return self.strategy == STRATEGY_FINE_TUNE

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        for key in ("logme", "transfer_accuracy"):
            data[key] = getattr(self, key) if math.isfinite(getattr(self, key)) else None
        return json.dumps(data, indent=2, sort_keys=True)


def examples_per_class(rows: int, num_classes: int) -> float:
    """The mean number of labelled examples (`rows` of them) per class."""
    return float(rows) / num_classes


def _layers_for(fraction: float, num_base_layers: int) -> int:
    return max(1, min(num_base_layers, round(fraction * num_base_layers)))


@dataclasses.dataclass(frozen=True)
class StrategyThresholds:
    """The thresholds of 'auto' (see the module docstring)."""

    min_examples_per_class: float = DEFAULT_MIN_EXAMPLES_PER_CLASS
    logme_threshold: float = DEFAULT_LOGME_THRESHOLD
    top_fraction: float = DEFAULT_TOP_FRACTION
    deep_fraction: float = DEFAULT_DEEP_FRACTION

    def __post_init__(self) -> None:
        checks.check_positive("min_examples_per_class", self.min_examples_per_class, StrategyError)
        checks.check_number("logme_threshold", self.logme_threshold, -math.inf, math.inf, error=StrategyError)
        for name in ("top_fraction", "deep_fraction"):
            value = getattr(self, name)
            if not (checks.is_number(value) and 0.0 < value <= 1.0):
                raise StrategyError(f"{name}={value!r} is out of range; valid values are in (0, 1].")


def decide_strategy(
    examples_per_class: float,
    logme: float,
    num_base_layers: int,
    fine_tunable: bool,
    thresholds: StrategyThresholds = StrategyThresholds(),
) -> StrategyDecision:
    """The 'auto' decision among the four classic cases (see the module docstring)."""
    min_examples_per_class, logme_threshold = thresholds.min_examples_per_class, thresholds.logme_threshold
    top_fraction, deep_fraction = thresholds.top_fraction, thresholds.deep_fraction
    large = examples_per_class >= min_examples_per_class
    similar = logme >= logme_threshold
    reasons = [
        f"{examples_per_class:.1f} labelled examples per class is "
        f"{'at least' if large else 'below'} the threshold of {min_examples_per_class:g}, so the "
        f"data set counts as {'large' if large else 'small'}.",
        f"LogME of the bottlenecks is {logme:.3f}, {'at or above' if similar else 'below'} the "
        f"threshold of {logme_threshold:g}, so the pretrained features count as "
        f"{'similar to' if similar else 'different from'} this task.",
    ]

    def decision(strategy: str, unfreeze: UnfreezeValue, why: str) -> StrategyDecision:
        return StrategyDecision(strategy, unfreeze, float(examples_per_class), float(logme), reasons + [why])

    if not fine_tunable:
        return decision(
            STRATEGY_FEATURE_EXTRACTION, None,
            "The base is a SavedModel, which Keras 3 cannot fine-tune, so only the head is trained.",
        )
    if not large and similar:
        return decision(
            STRATEGY_FEATURE_EXTRACTION, None,
            "Small and similar: the pretrained features already fit; training only the head avoids "
            "overfitting the few examples.",
        )
    if not large:
        return decision(
            STRATEGY_FEATURE_EXTRACTION, None,
            "Small and different: only the head is trained, because fine-tuning would overfit; the "
            "cut layer is the candidate that scored best on the training data.",
        )
    if num_base_layers < 1:
        raise StrategyError(f"num_base_layers={num_base_layers!r} is invalid; a fine-tunable base has >= 1 layer.")
    if similar:
        layers = _layers_for(top_fraction, num_base_layers)
        return decision(
            STRATEGY_FINE_TUNE, layers,
            f"Large and similar: fine-tune the top {layers} of {num_base_layers} base layers "
            f"({top_fraction:.0%}) at a small learning rate.",
        )
    layers = _layers_for(deep_fraction, num_base_layers)
    return decision(
        STRATEGY_FINE_TUNE, layers,
        f"Large and different: fine-tune deeper, the top {layers} of {num_base_layers} base layers "
        f"({deep_fraction:.0%}), to adapt the features to this task.",
    )


def check_strategy(strategy: str, fine_tunable: bool = True) -> str:
    """Validates a user's `strategy`; fine-tuning a SavedModel base is a configuration error."""
    checks.check_choice("strategy", strategy, STRATEGIES, StrategyError)
    if strategy == STRATEGY_FINE_TUNE and not fine_tunable:
        raise StrategyError(
            "strategy='fine_tune' is not possible with a SavedModel / TF Hub base: Keras 3 cannot "
            "fine-tune it. Use strategy='feature_extraction' (or 'auto'), or a .keras/.h5 base."
        )
    return strategy


def requested_strategy(
    strategy: str,
    unfreeze: UnfreezeValue,
    examples_per_class: float,
    logme: float,
    num_base_layers: int,
    fine_tunable: bool,
    thresholds: StrategyThresholds = StrategyThresholds(),
) -> StrategyDecision:
    """The decision for a user's `strategy`: 'auto' decides; an explicit choice is kept as given.

    For an explicit 'fine_tune' without `unfreeze`, the 'large and similar' depth is used.
    """
    check_strategy(strategy, fine_tunable)
    if strategy == STRATEGY_AUTO:
        return decide_strategy(examples_per_class, logme, num_base_layers, fine_tunable, thresholds)
    if strategy == STRATEGY_FEATURE_EXTRACTION:
        return StrategyDecision(strategy, None, float(examples_per_class), float(logme), ["strategy='feature_extraction' was requested."])
    depth = unfreeze if unfreeze is not None else _layers_for(thresholds.top_fraction, num_base_layers)
    return StrategyDecision(
        strategy, depth, float(examples_per_class), float(logme),
        [f"strategy='fine_tune' was requested, unfreezing {depth!r}"
         + (" (the default depth)." if unfreeze is None else ".")],
    )
