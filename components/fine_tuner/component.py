"""FineTuner: trains a head on cached bottlenecks, fine-tunes the base when it pays, exports."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Mapping, Optional, Sequence, Union

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts

from tfx_transfer.components import specs
from tfx_transfer.components.bottleneck_extractor.component import BottleneckExtractor
from tfx_transfer.components.bottleneck_extractor.executor import source_from_exec_properties
from tfx_transfer.components.fine_tuner import executor
from tfx_transfer.trainer import augmentation as augmentation_lib
from tfx_transfer.trainer import base_model as bm
from tfx_transfer.trainer import head as head_lib
from tfx_transfer.trainer.version import plugin_version

UnfreezeSpec = Union[int, str, float]


def _check_int(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return value


def _check_rate(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}.")
    return float(value)


def _check_unfreeze(unfreeze: Optional[UnfreezeSpec]) -> Optional[UnfreezeSpec]:
    if unfreeze is None:
        return None
    ok = (
        (isinstance(unfreeze, int) and not isinstance(unfreeze, bool) and unfreeze >= 1)
        or (isinstance(unfreeze, str) and unfreeze)
        or (isinstance(unfreeze, float) and 0.0 < unfreeze <= 1.0)
    )
    if not ok:
        raise head_lib.UnfreezeError(
            f"unfreeze={unfreeze!r} is invalid; use an int >= 1 (top N layers), a layer name, or a "
            "fraction in (0, 1]."
        )
    return unfreeze


def augmentation_config(
    augmentation: Optional[Mapping[str, Union[float, bool]]]
) -> augmentation_lib.AugmentationConfig:
    """The validated augmentation settings; unknown option names are named in the error."""
    options = dict(augmentation or {})
    valid = [field.name for field in dataclasses.fields(augmentation_lib.AugmentationConfig)]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise augmentation_lib.AugmentationError(
            f"Unknown augmentation options {unknown}; valid options are {valid}."
        )
    return augmentation_lib.AugmentationConfig(**options)


def _check_against_extractor(
    feature_extractor: types.BaseChannel, strategy: str, unfreeze: Optional[UnfreezeSpec]
) -> None:
    """Checks fine-tuning settings against the upstream base, when it is known at build time."""
    producer = getattr(feature_extractor, "producer_component", None)
    if not isinstance(producer, BottleneckExtractor):
        return
    source = source_from_exec_properties(producer.exec_properties, None)
    if not (source.keras_application or source.model_uri):
        return  # A base_model channel: checked when FineTuner runs.
    if strategy == specs.STRATEGY_FINE_TUNE and bm.saved_model_source_path(source):
        raise ValueError(
            f"strategy='fine_tune' cannot train the SavedModel/TF Hub base at {source.model_uri!r}: "
            "Keras 3 cannot fine-tune a legacy SavedModel. Use strategy='feature_extraction', or "
            "a .keras/.h5 base."
        )
    if unfreeze is not None and strategy != specs.STRATEGY_FEATURE_EXTRACTION:
        model, _ = bm.build_feature_extractor(source, load_weights=False)
        head_lib.unfreeze_start(head_lib.base_layers(model), unfreeze)


class FineTuner(base_component.BaseComponent):
    """Trains a classifier head on `bottlenecks`, optionally fine-tunes the top of the base.

    Phase 1 trains a Dense head on the cached bottleneck features (seconds, no GPU needed).
    Phase 2 (`strategy='fine_tune'`, or `'auto'` when it decides so) rebuilds base + head from
    `feature_extractor`, unfreezes `unfreeze` (top-N layers, a layer name, or a fraction) with
    BatchNorm kept in inference mode, and trains on the raw `examples` at
    `fine_tune_learning_rate`, with `augmentation` on training batches only.

    Outputs: `model` (Format-Serving SavedModel with `serving_default` on serialized
    tf.Example and `serving_raw` on image bytes; TFMA and Pusher consume it unchanged) and
    `model_run` (strategy.json, history.json, training_curves.png, TensorBoard logs).
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
        strategy: str = specs.STRATEGY_FEATURE_EXTRACTION,
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
        unfreeze: Optional[UnfreezeSpec] = None,
        augmentation: Optional[Mapping[str, Union[float, bool]]] = None,
        batch_size: int = 32,
        seed: int = 0,
        patience: int = 5,
        train_split: str = "train",
        eval_split: str = "eval",
    ):
        if strategy not in specs.STRATEGIES:
            raise ValueError(f"Unknown strategy {strategy!r}; valid values are {list(specs.STRATEGIES)}.")
        if strategy == specs.STRATEGY_FINE_TUNE and examples is None:
            raise ValueError(
                "strategy='fine_tune' trains on raw images: pass the raw `examples` channel "
                "(e.g. ExampleGen's or Transform's output), or use strategy='feature_extraction'."
            )
        if num_classes is not None:
            _check_int("num_classes", num_classes, 2)
        if class_weight not in (None, "balanced"):
            raise ValueError(f"Unknown class_weight {class_weight!r}; valid values are 'balanced' or None.")
        head_config = head_lib.HeadConfig(
            head_units=tuple(head_units), dropout=dropout, l2=l2, label_smoothing=label_smoothing
        )
        augmentation_config(augmentation)
        unfreeze = _check_unfreeze(unfreeze)
        _check_against_extractor(feature_extractor, strategy, unfreeze)
        spec = specs.FineTunerSpec(
            bottlenecks=bottlenecks,
            feature_extractor=feature_extractor,
            examples=examples,
            transform_graph=transform_graph,
            schema=schema,
            strategy=strategy,
            image_feature=image_feature,
            label_feature=label_feature,
            label_vocabulary=label_vocabulary or label_feature,
            num_classes=num_classes,
            head_units=json.dumps(list(head_config.head_units)),
            dropout=float(head_config.dropout),
            l2=float(head_config.l2),
            label_smoothing=float(head_config.label_smoothing),
            class_weight=class_weight or "",
            epochs=_check_int("epochs", epochs, 1),
            learning_rate=_check_rate("learning_rate", learning_rate),
            fine_tune_epochs=_check_int("fine_tune_epochs", fine_tune_epochs, 0),
            fine_tune_learning_rate=_check_rate("fine_tune_learning_rate", fine_tune_learning_rate),
            unfreeze=json.dumps(unfreeze) if unfreeze is not None else "",
            augmentation=json.dumps(dict(augmentation or {}), sort_keys=True),
            batch_size=_check_int("batch_size", batch_size, 1),
            seed=_check_int("seed", seed, 0),
            patience=_check_int("patience", patience, 0),
            train_split=train_split,
            eval_split=eval_split,
            plugin_version=plugin_version(),
            model=types.Channel(type=standard_artifacts.Model),
            model_run=types.Channel(type=standard_artifacts.ModelRun),
        )
        super().__init__(spec=spec)
