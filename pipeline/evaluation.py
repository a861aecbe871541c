"""The Evaluator's TFMA configuration: what is computed and what blesses a model."""

from __future__ import annotations

import tensorflow_model_analysis as tfma

from tfx_transfer.pipeline import transform

ACCURACY_METRIC = "sparse_categorical_accuracy"
# The split the Evaluator reports on, by preference; FineTuner never reads these.
EVALUATION_SPLITS = ("eval", "test", "evaluation", "testing")


def evaluation_split(splits) -> str:
    """The Evaluator's split among the ExampleGen's output splits: `eval`, else `test`, ..."""
    for name in EVALUATION_SPLITS:
        if name in splits:
            return name
    raise ValueError(
        f"The data has splits {sorted(splits)} and none to evaluate on; name one of them "
        f"{' or '.join(EVALUATION_SPLITS)} (e.g. a test/ folder, or split_ratios with an 'eval' split)."
    )


def eval_config(num_classes: int, accuracy_threshold: float, change_threshold: float) -> tfma.EvalConfig:
    """Accuracy, per-class precision/recall, one-vs-rest AUC, confusion matrix and calibration.

    The label is its integer index in the Transform vocabulary, so the multi-class metrics line
    up with the model's `probabilities`. A model is blessed when its accuracy is at least
    `accuracy_threshold` and not more than `change_threshold` below the last blessed model's.
    """
    accuracy = tfma.MetricConfig(
        class_name="SparseCategoricalAccuracy",
        threshold=tfma.MetricThreshold(
            value_threshold=tfma.GenericValueThreshold(lower_bound={"value": accuracy_threshold}),
            change_threshold=tfma.GenericChangeThreshold(
                direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -change_threshold}
            ),
        ),
    )
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name="serving_default", label_key=transform.LABEL_KEY, prediction_key="probabilities"
            )
        ],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    accuracy,
                    tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
                ]
            ),
            # One-vs-rest per class: binarize the multi-class output by class id.
            tfma.MetricsSpec(
                binarize=tfma.BinarizationOptions(class_ids={"values": list(range(num_classes))}),
                metrics=[
                    tfma.MetricConfig(class_name=name) for name in ("Precision", "Recall", "AUC", "CalibrationPlot")
                ],
            ),
        ],
    )
