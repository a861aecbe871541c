"""The EvaluationReport's one typed config, and its encoding as exec properties.

The component builds `ReportConfig` from its arguments, which checks them when the pipeline is
defined rather than when the step runs, and encodes it into one JSON exec property beside the
plugin version (so a plugin upgrade re-runs the step); the executor decodes it here, and
nowhere else.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict

from tfx_transfer.components import specs
from tfx_transfer.trainer.version import plugin_version

DEFAULT_TITLE = "tfx-transfer evaluation"


@dataclasses.dataclass(frozen=True)
class ReportConfig:
    """Everything the EvaluationReport is configured with."""

    title: str = DEFAULT_TITLE

    def __post_init__(self) -> None:
        if not isinstance(self.title, str) or not self.title:
            raise ValueError(f"title={self.title!r} is invalid; valid values are non-empty strings.")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ReportConfig":
        return cls(**json.loads(text))


def to_exec_properties(config: ReportConfig) -> Dict[str, Any]:
    """The exec properties of the component: the config and the plugin version."""
    return {specs.CONFIG_KEY: config.to_json(), specs.PLUGIN_VERSION_KEY: plugin_version()}


def from_exec_properties(exec_properties: Dict[str, Any]) -> ReportConfig:
    return ReportConfig.from_json(exec_properties[specs.CONFIG_KEY])
