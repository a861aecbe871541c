"""How a component's typed config travels: one JSON exec property beside the plugin version.

Each component's `config.py` defines its config; this is the one encoding they share, so every
executor decodes the way its component encoded.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict, Type, TypeVar

from tfx_transfer.components import specs
from tfx_transfer.trainer.common.version import plugin_version

ConfigT = TypeVar("ConfigT", bound="FlatConfig")


class FlatConfig:
    """JSON round trip of a frozen dataclass whose fields are plain JSON values."""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)  # type: ignore[call-overload]

    @classmethod
    def from_json(cls: Type[ConfigT], text: str) -> ConfigT:
        return cls(**json.loads(text))


def to_exec_properties(config: Any) -> Dict[str, Any]:
    """The exec properties of a component: its config (anything with `to_json`) and the plugin version."""
    return {specs.CONFIG_KEY: config.to_json(), specs.PLUGIN_VERSION_KEY: plugin_version()}


def from_exec_properties(config_class: Type[ConfigT], exec_properties: Dict[str, Any]) -> ConfigT:
    """The config an executor was given (`config_class.from_json` of the config property)."""
    return config_class.from_json(exec_properties[specs.CONFIG_KEY])
