"""`RunConfig`: the one typed configuration of a transfer-learning run, and its dict form.

The standard Trainer's `run_fn` reads it from `custom_config`, and the FineTuner encodes the
same object into its exec properties, so both check the same settings the same way and share
one set of defaults. The dict form (`to_dict` / `from_dict`) is what a user writes:

  base model (exactly one source for run_fn; FineTuner reads its base from the extractor):
    keras_application, weights, weights_sha256, model_uri, cut_layer, image_size, pooling,
    preprocessing, allow_unsafe_model                      -> base_source.BaseModelSource
  data:
    image_feature, label_feature, max_image_pixels, num_classes,
    label_vocabulary_file (a vocabulary file, one name per line),
    label_vocabulary_name (a Transform vocabulary: transform_output/transform_fn/assets/<name>)
  training:
    head          {head_units, dropout, l2, label_smoothing}            -> head.HeadConfig
    train         {epochs, learning_rate, fine_tune_epochs, fine_tune_learning_rate,
                   batch_size, patience, seed, class_weight}            -> training.TrainConfig
    augmentation  {rotation, shear, zoom, width_shift, height_shift,
                   horizontal_flip, vertical_flip}                      -> AugmentationConfig
    augmented_copies  'auto' (default) | int >= 0: augmented copies of each training image
                  the head trains on (`selection.augmented_copies`; 0: none)
    strategy      'auto' (default) | 'feature_extraction' | 'fine_tune'
    adaptation    'auto' (default) | 'none' | 'semi_supervised' | 'adapt' | 'align' | 'mcc' | 'dann': how
                  the head learns from unlabelled images, when a run has them (`domain.unlabelled`)
    unfreeze      int (top N layers) | layer name | fraction in (0, 1]; for 'fine_tune'
    strategy_thresholds  {min_examples_per_class, logme_threshold, top_fraction, deep_fraction}
    control       {kind: 'auto' | 'scratch' | 'pixels' | 'random_features' | 'none', max_params, margin}
                                                                        -> control.ControlConfig
    backup_dir    where BackupAndRestore keeps state (default model_run_dir/backup)
    drop_suspect_labels  bool (default False): train again without the training images whose
                  label looks wrong (`labelling.suspect_labels`), then export
    label_budget  int >= 1 (default 50): how many unlabelled images to list to label next
                  (`labelling.label_next`)
    memory_budget_mb  int >= 1 (default 1024): the memory the rows may take; larger data keeps a
                  subsample in memory for every selection and streams the rest to the head
                  (`data.bottleneck_stream`)
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict, Mapping, Optional, Type

from tfx_transfer.trainer.base.base_source import SOURCE_KEYS, BaseModelSource, check_source_choice
from tfx_transfer.trainer.common import checks
from tfx_transfer.trainer.data import bottleneck_stream
from tfx_transfer.trainer.data import preprocessing as pp
from tfx_transfer.trainer.domain import adaptation as adaptation_lib
from tfx_transfer.trainer.labelling import label_next
from tfx_transfer.trainer.selection import strategy as strategy_lib
from tfx_transfer.trainer.selection.control import ControlConfig
from tfx_transfer.trainer.training import head as head_lib
from tfx_transfer.trainer.training import loop
from tfx_transfer.trainer.training.augmentation import COPIES_AUTO, AugmentationConfig, CopiesSetting, check_copies


class RunConfigError(ValueError):
    """Settings of a run (custom_config, FineTuner arguments) that cannot be used."""


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything one transfer-learning run needs besides the data."""

    head: head_lib.HeadConfig = head_lib.HeadConfig()
    train: loop.TrainConfig = loop.TrainConfig()
    augmentation: AugmentationConfig = AugmentationConfig()
    augmented_copies: CopiesSetting = COPIES_AUTO
    # The base to build; None when the caller already has the extractor (FineTuner).
    source: Optional[BaseModelSource] = None
    strategy: str = strategy_lib.DEFAULT_STRATEGY
    adaptation: str = adaptation_lib.ADAPTATION_AUTO
    unfreeze: Optional[head_lib.UnfreezeSpec] = None
    strategy_thresholds: strategy_lib.StrategyThresholds = strategy_lib.StrategyThresholds()
    control: ControlConfig = ControlConfig()
    image_feature: str = "image"
    label_feature: str = "label"
    max_image_pixels: int = pp.DEFAULT_MAX_IMAGE_PIXELS
    num_classes: Optional[int] = None
    label_vocabulary_file: Optional[str] = None
    label_vocabulary_name: Optional[str] = None
    backup_dir: Optional[str] = None
    drop_suspect_labels: bool = False
    label_budget: int = label_next.DEFAULT_BUDGET
    memory_budget_mb: int = bottleneck_stream.DEFAULT_MEMORY_BUDGET_MB

    def __post_init__(self) -> None:
        strategy_lib.check_strategy(self.strategy)
        adaptation_lib.check_adaptation(self.adaptation)
        check_copies(self.augmented_copies)
        if self.unfreeze is not None:
            head_lib.check_unfreeze_spec(self.unfreeze)
        for name in ("image_feature", "label_feature"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise RunConfigError(f"{name}={getattr(self, name)!r} is invalid; valid values are feature names.")
        checks.check_int("max_image_pixels", self.max_image_pixels, 1, RunConfigError)
        if self.num_classes is not None:
            checks.check_int("num_classes", self.num_classes, 2, RunConfigError)
        label_next.check_budget(self.label_budget)
        bottleneck_stream.check_memory_budget(self.memory_budget_mb, RunConfigError)
        if not isinstance(self.drop_suspect_labels, bool):
            raise RunConfigError(f"drop_suspect_labels={self.drop_suspect_labels!r} is invalid; valid values are true "
                                 "and false.")

    def to_dict(self) -> Dict[str, Any]:
        """The JSON-able dict form (the module docstring's keys); `from_dict` reads it back."""
        values: Dict[str, Any] = self.source.to_dict() if self.source else {}
        for key in _SECTIONS:
            values[key] = dataclasses.asdict(getattr(self, key))
        values["head"]["head_units"] = list(self.head.head_units)
        values["strategy_thresholds"] = dataclasses.asdict(self.strategy_thresholds)
        for key in _OTHER_KEYS:
            values[key] = getattr(self, key)
        return values

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(
        cls, values: Mapping[str, Any], base_model_dir: Optional[str] = None, with_source: bool = True
    ) -> "RunConfig":
        """Checks a dict (or its JSON) of the module docstring's keys and builds the config.

        With `with_source`, exactly one base source must be given: `keras_application`,
        `model_uri`, or an upstream model directory `base_model_dir`. Without it (FineTuner),
        no base-model key is allowed.
        """
        values = json.loads(values) if isinstance(values, str) else dict(values or {})
        allowed = (SOURCE_KEYS if with_source else ()) + tuple(_SECTIONS) + ("strategy_thresholds",) + _OTHER_KEYS
        _check_keys("custom_config keys", values, allowed)
        source = None
        if with_source:
            check_source_choice(values.get("keras_application"), values.get("model_uri"), bool(base_model_dir))
            given = {key: values[key] for key in SOURCE_KEYS if key in values}
            own_source = values.get("keras_application") or values.get("model_uri")
            source = BaseModelSource.from_dict(given, None if own_source else base_model_dir)
        sections = {key: _section(section, values.get(key), key) for key, section in _SECTIONS.items()}
        thresholds = _section(strategy_lib.StrategyThresholds, values.get("strategy_thresholds"), "strategy_thresholds")
        others = {key: values[key] for key in _OTHER_KEYS if key in values}
        return cls(source=source, strategy_thresholds=thresholds, **sections, **others)

    @classmethod
    def from_json(cls, text: str) -> "RunConfig":
        return cls.from_dict(json.loads(text), with_source=False)


_SECTIONS: Dict[str, Type] = {
    "head": head_lib.HeadConfig,
    "train": loop.TrainConfig,
    "augmentation": AugmentationConfig,
    "control": ControlConfig,
}
_OTHER_KEYS = (
    "strategy", "adaptation", "unfreeze", "augmented_copies", "image_feature", "label_feature", "max_image_pixels", "num_classes",
    "label_vocabulary_file", "label_vocabulary_name", "backup_dir", "drop_suspect_labels", "label_budget",
    "memory_budget_mb",
)


def _check_keys(what: str, values: Mapping[str, Any], allowed) -> None:
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise RunConfigError(f"Unknown {what} {unknown}; valid keys are {sorted(allowed)}.")


def _section(cls: Type, values: Optional[Mapping[str, Any]], key: str):
    """Builds a config dataclass from a section, naming unknown fields."""
    values = dict(values or {})
    _check_keys(f"{key} keys", values, [field.name for field in dataclasses.fields(cls)])
    return cls(**values)
