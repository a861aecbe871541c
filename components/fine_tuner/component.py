"""FineTuner: trains a head on cached bottlenecks, fine-tunes the base when it pays, exports."""

from __future__ import annotations

from typing import List, Mapping, Optional, Sequence, Union

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts

from tfx_transfer.components import config_codec
from tfx_transfer.components import specs
from tfx_transfer.components.fine_tuner import config as config_lib
from tfx_transfer.components.fine_tuner import executor
from tfx_transfer.trainer.base.base_model import BaseSummary
from tfx_transfer.trainer.data import bottleneck_stream
from tfx_transfer.trainer.domain import adaptation as adaptation_lib
from tfx_transfer.trainer.labelling import label_next
from tfx_transfer.trainer.run_config import RunConfig
from tfx_transfer.trainer.selection import strategy as strategy_lib
from tfx_transfer.trainer.training import augmentation as augmentation_lib
from tfx_transfer.trainer.training import head as head_lib


def _check_against_extractor(feature_extractor: types.BaseChannel, run: RunConfig) -> List[str]:
    """Checks fine-tuning settings against what the upstream extractor learnt of its base.

    That is known when the extractor could build the base at pipeline construction (not for an
    upstream `Model` channel or a file this machine cannot read); the executor checks again.
    Returns the checks that had to be left to the executor.
    """
    producer = getattr(feature_extractor, "producer_component", None)
    summary = getattr(producer, "base_summary", None)
    if not isinstance(summary, BaseSummary):
        if run.unfreeze is None and run.strategy != strategy_lib.STRATEGY_FINE_TUNE:
            return []
        return [
            f"FineTuner: strategy={run.strategy!r} and unfreeze={run.unfreeze!r} are checked against the base when "
            "the step runs (the base is not known when the pipeline is built)."
        ]
    strategy_lib.check_strategy(run.strategy, summary.fine_tunable)
    if run.unfreeze is not None and run.strategy != strategy_lib.STRATEGY_FEATURE_EXTRACTION:
        head_lib.unfreeze_start(summary.layer_names, run.unfreeze)
    return []


class FineTuner(base_component.BaseComponent):
    """Trains a classifier head on `bottlenecks`, optionally fine-tunes the top of the base.

    Everything it selects is measured on the training data only (see `trainer.transfer`): it
    scores every cut the extractor computed, and their combination, and takes the best; fits the head (by default a
    cross-validated logistic-regression probe, trained to convergence at any data size; a Keras
    MLP with `head_units`); for large data sets under `strategy='auto'` tries fine-tuning the
    top of the base on the raw `examples` (BatchNorm kept in inference mode, `augmentation` on
    training batches only) and keeps it when it wins on the validation rows; and trains a
    no-transfer control on the same rows; when the control beats the transferred model
    ("negative transfer", said in `strategy.json`), the control is exported, or the two
    averaged when that average also reaches the control on the validation rows. The settings are one
    `trainer.run_config.RunConfig`, the object the standard Trainer's `run_fn` reads from
    `custom_config`.

    Args:
      bottlenecks: the BottleneckExtractor's `bottlenecks`.
      feature_extractor: the BottleneckExtractor's `feature_extractor`.
      examples: the raw image Examples the bottlenecks came from; needed to fine-tune, and read
        for the thumbnails of the suspect labels in the report.
      transform_graph: Transform's output; its label vocabulary fixes the class order.
      schema: the data schema (accepted for pipeline symmetry; not read).
      unlabelled_bottlenecks: bottlenecks of unlabelled images from the serving domain (a second
        BottleneckExtractor's, `labelled=False`, with the same base and cuts; every split is
        read); the head learns from them as `adaptation` says, and the run lists which of them
        to label next (`label_budget`).
      unlabelled_examples: the raw Examples `unlabelled_bottlenecks` came from (the unlabelled
        ExampleGen's); read only for the thumbnails of the label-next list in the report.
      strategy: 'auto' (decide from the data), 'feature_extraction' (head only) or 'fine_tune'.
      label_feature: the label feature: bytes names, or int64 indices of a Transform vocabulary.
      image_feature: the encoded image feature of `examples`.
      label_vocabulary: the Transform vocabulary file name of the labels (default: label_feature).
      num_classes: when set, checked against the label vocabulary.
      head_units: sizes of the head's hidden Dense layers; () is the default probe head.
      dropout: dropout rate before each Dense layer of the head, in [0, 1).
      l2: L2 regularisation of the head's kernels, >= 0.
      label_smoothing: label smoothing of the loss, in [0, 1).
      class_weight: 'balanced' weighs classes by n / (C * count), or None.
      epochs: the most epochs of a Keras MLP head (at least enough for 500 steps).
      learning_rate: Adam's learning rate in phase 1.
      fine_tune_epochs: the most epochs of phase 2.
      fine_tune_learning_rate: Adam's learning rate in phase 2, typically 10-100x smaller.
      unfreeze: what phase 2 trains: an int (the top N base layers), a layer name (from it up)
        or a fraction in (0, 1] of the base's layers; None lets the strategy decide.
      augmentation: `AugmentationConfig` fields (rotation, shear, zoom, width_shift,
        height_shift, horizontal_flip, vertical_flip) applied to phase 2's training batches,
        and to the head's augmented copies when any is on.
      augmented_copies: augmented copies of each training image, run through the frozen cut,
        that the head also trains on: 'auto' (up to 10 per image, fewer for large data sets;
        mild rotation, zoom and shifts unless `augmentation` names others; dropped when the
        validation rows score the head better without them) or an int >= 0 (0: none).
      adaptation: how the head uses `unlabelled_bottlenecks`: 'auto' (without drift, refitted
        with labels spread along a k-NN graph when that beats the labelled-only head on the
        validation rows; with drift, as 'adapt'), 'adapt' (the unadapted head, MCC, per-domain
        standardisation or that with spread labels, whichever has the highest soft
        neighbourhood density on the unlabelled rows above a floor on the labelled ones, served
        through a domain router: inputs like the unlabelled images get the adapted head, inputs
        like the labelled ones the unadapted head), 'semi_supervised', 'align', 'mcc' (Minimum
        Class Confusion), 'dann' (a domain classifier behind a gradient-reversal layer) or
        'none'. Without unlabelled bottlenecks it does nothing.
      label_budget: how many of the unlabelled images (`unlabelled_bottlenecks`) to list to
        label next, in `model_run`'s label_next.csv (an int >= 1; default 50): the most typical
        image of each uncovered cluster while labels are few, the least sure image of each
        cluster once there are 10 or more per class.
      memory_budget_mb: the memory the bottleneck rows may take (an int >= 1; default 1024). Rows
        that need more (at about 32 bytes per feature value) are checked in full, a uniform
        subsample that fits is kept in memory for every selection (cut, C, gate, labelling), and
        the probe head is then refitted on every row streamed from the files.
      drop_suspect_labels: train again without the training images whose label looks wrong
        (confident learning on out-of-fold probabilities; every class keeps two or more), then
        export; the gate and the validation plan see the kept images only. Default False: the
        suspects are listed in `model_run`'s suspect_labels.csv and the run trains on them.
      strategy_thresholds: `StrategyThresholds` fields of 'auto'.
      batch_size: training batch size.
      seed: seed of initialisers, dropout, shuffles and augmentation.
      patience: epochs without a better validation loss before early stopping.
      train_split: the split trained on; validation rows are carved from it (or cross-validated).
      validation_split: the data's own validation split, used for every selection instead of
        carved rows; None uses a split named validation/val/valid/dev when there is one. The
        Evaluator's split (eval/test) is never read.
      control: the no-transfer control: 'auto' (the better, on the validation rows, of a
        logistic regression on pixels and one on the features of the same architecture with
        untrained weights), 'scratch' (the architecture trained from scratch on each fold, the
        costliest), 'pixels', 'random_features', or 'none' (no control, no negative-transfer gate).
      control_max_params: the largest base (in parameters) whose untrained features
        control='auto' computes; larger bases get the pixel control alone.
      control_margin: how much the transferred model must beat the control by, in validation
        accuracy, to stay the exported model; otherwise the control (or, when it reaches the
        control plus this margin, the average of both) is exported. 0.0: a tie keeps the
        transferred model.

    Outputs:
      model: a Format-Serving SavedModel with `serving_default` (serialized tf.Example) and
        `serving_raw` (image bytes); TFMA and Pusher consume it unchanged.
      model_run: strategy.json, history.json, training_curves.png, labels.txt, TensorBoard logs.
    """

    SPEC_CLASS = specs.FineTunerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        bottlenecks: types.BaseChannel,
        feature_extractor: types.BaseChannel,
        examples: Optional[types.BaseChannel] = None,
        transform_graph: Optional[types.BaseChannel] = None,
        schema: Optional[types.BaseChannel] = None,
        unlabelled_bottlenecks: Optional[types.BaseChannel] = None,
        unlabelled_examples: Optional[types.BaseChannel] = None,
        strategy: str = strategy_lib.DEFAULT_STRATEGY,
        label_feature: str = "label",
        image_feature: str = "image",
        label_vocabulary: Optional[str] = None,
        num_classes: Optional[int] = None,
        head_units: Sequence[int] = (),
        dropout: float = 0.2,
        l2: float = 0.0,
        label_smoothing: float = 0.0,
        class_weight: Optional[str] = None,
        epochs: int = 20,
        learning_rate: float = 1e-3,
        fine_tune_epochs: int = 10,
        fine_tune_learning_rate: float = 1e-5,
        unfreeze: Optional[head_lib.UnfreezeSpec] = None,
        augmentation: Optional[Mapping[str, Union[float, bool]]] = None,
        augmented_copies: Union[str, int] = augmentation_lib.COPIES_AUTO,
        adaptation: str = adaptation_lib.ADAPTATION_AUTO,
        drop_suspect_labels: bool = False,
        label_budget: int = label_next.DEFAULT_BUDGET,
        memory_budget_mb: int = bottleneck_stream.DEFAULT_MEMORY_BUDGET_MB,
        strategy_thresholds: Optional[Mapping[str, float]] = None,
        batch_size: int = 32,
        seed: int = 0,
        patience: int = 5,
        train_split: str = "train",
        validation_split: Optional[str] = None,
        control: str = "auto",
        control_max_params: int = 2_000_000,
        control_margin: float = 0.0,
    ):
        run = RunConfig.from_dict(
            {
                "head": {"head_units": head_units, "dropout": dropout, "l2": l2, "label_smoothing": label_smoothing},
                "train": {
                    "epochs": epochs, "learning_rate": learning_rate, "fine_tune_epochs": fine_tune_epochs,
                    "fine_tune_learning_rate": fine_tune_learning_rate, "batch_size": batch_size,
                    "patience": patience, "seed": seed, "class_weight": class_weight,
                },
                "augmentation": dict(augmentation or {}),
                "strategy_thresholds": dict(strategy_thresholds or {}),
                "control": {"kind": control, "max_params": control_max_params, "margin": control_margin},
                "strategy": strategy, "unfreeze": unfreeze, "augmented_copies": augmented_copies,
                "adaptation": adaptation, "drop_suspect_labels": drop_suspect_labels, "label_budget": label_budget,
                "memory_budget_mb": memory_budget_mb,
                "image_feature": image_feature,
                "label_feature": label_feature, "num_classes": num_classes,
                "label_vocabulary_name": label_vocabulary or label_feature,
            },
            with_source=False,
        )
        if run.strategy == strategy_lib.STRATEGY_FINE_TUNE and examples is None:
            raise ValueError(
                "strategy='fine_tune' trains on raw images: pass the raw `examples` channel "
                "(e.g. ExampleGen's or Transform's output), or use strategy='feature_extraction'."
            )
        # Checks this machine could not run; the executor runs them.
        self.skipped_checks: List[str] = _check_against_extractor(feature_extractor, run)
        self.config = config_lib.FineTunerConfig(run, train_split, validation_split)
        super().__init__(
            spec=specs.FineTunerSpec(
                bottlenecks=bottlenecks,
                feature_extractor=feature_extractor,
                examples=examples,
                transform_graph=transform_graph,
                schema=schema,
                unlabelled_bottlenecks=unlabelled_bottlenecks,
                unlabelled_examples=unlabelled_examples,
                **config_codec.to_exec_properties(self.config),
                model=types.Channel(type=standard_artifacts.Model),
                model_run=types.Channel(type=standard_artifacts.ModelRun),
            )
        )
