"""The FineTuner's one typed config, and its encoding as exec properties.

The run itself is `trainer.run_config.RunConfig`, the object the standard Trainer's `run_fn`
reads from `custom_config`; FineTuner adds only which splits to read. The component encodes it
into one JSON exec property with `config_codec`, and the executor decodes it there.
"""

from __future__ import annotations

import dataclasses
import json

from tfx_transfer.trainer.run_config import RunConfig


@dataclasses.dataclass(frozen=True)
class FineTunerConfig:
    """Everything the FineTuner is configured with."""

    run: RunConfig = RunConfig()
    train_split: str = "train"
    eval_split: str = "eval"

    def __post_init__(self) -> None:
        if self.run.source is not None:
            raise ValueError("FineTuner reads its base from the feature_extractor input; the run config names none.")
        for name in ("train_split", "eval_split"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"{name}={getattr(self, name)!r} is invalid; valid values are split names, e.g. 'train'.")

    def to_json(self) -> str:
        return json.dumps(
            {"run": self.run.to_dict(), "train_split": self.train_split, "eval_split": self.eval_split}, sort_keys=True
        )

    @classmethod
    def from_json(cls, text: str) -> "FineTunerConfig":
        data = json.loads(text)
        return cls(RunConfig.from_dict(data["run"], with_source=False), data["train_split"], data["eval_split"])
