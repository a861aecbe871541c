"""The FineTuner's one typed config, and its encoding as exec properties.

The run itself is `trainer.run_config.RunConfig`, the object the standard Trainer's `run_fn`
reads from `custom_config`; FineTuner adds only which splits to read. The component encodes it
into one JSON exec property with `config_codec`, and the executor decodes it there.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Optional, Sequence, Tuple

from tfx_transfer.trainer.run_config import RunConfig


# Split names read as the data's own validation split (never the Evaluator's `eval`/`test`).
VALIDATION_SPLITS = ("validation", "val", "valid", "dev")


@dataclasses.dataclass(frozen=True)
class FineTunerConfig:
    """Everything the FineTuner is configured with."""

    run: RunConfig = RunConfig()
    train_split: str = "train"
    # The data's own validation split; None uses one named like VALIDATION_SPLITS when the
    # bottlenecks have it, else carves validation rows from `train_split`.
    validation_split: Optional[str] = None

    def __post_init__(self) -> None:
        if self.run.source is not None:
            raise ValueError("FineTuner reads its base from the feature_extractor input; the run config names none.")
        for name in ("train_split", "validation_split"):
            value = getattr(self, name)
            if (value is not None or name == "train_split") and (not isinstance(value, str) or not value):
                raise ValueError(f"{name}={value!r} is invalid; valid values are split names, e.g. 'train'.")

    def splits(self, available: Sequence[str]) -> Tuple[str, ...]:
        """(train split, and the validation split when there is one) among the `available` ones."""
        if self.validation_split is not None:
            return (self.train_split, self.validation_split)
        found = [name for name in VALIDATION_SPLITS if name in available]
        return (self.train_split, found[0]) if found else (self.train_split,)

    def to_json(self) -> str:
        return json.dumps(
            {"run": self.run.to_dict(), "train_split": self.train_split, "validation_split": self.validation_split},
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> "FineTunerConfig":
        data = json.loads(text)
        return cls(RunConfig.from_dict(data["run"], with_source=False), data["train_split"], data["validation_split"])
