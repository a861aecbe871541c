"""The BottleneckExtractor's one typed config, and its encoding as exec properties.

The component encodes `ExtractorConfig` (the base source plus the Beam steps' settings) into
one JSON exec property; the executor decodes it here, and nowhere else. The build-time cache
fingerprint (weights hash, resolved image size and preprocessing, plugin version) travels
beside it, because it is derived, not configured.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict, Optional, Tuple

from tfx_transfer.components import config_codec, specs
from tfx_transfer.components.bottleneck_extractor.extraction import ExtractionConfig
from tfx_transfer.trainer.base.base_source import BaseModelSource


@dataclasses.dataclass(frozen=True)
class ExtractorConfig:
    """Everything the BottleneckExtractor is configured with."""

    source: BaseModelSource
    extraction: ExtractionConfig = ExtractionConfig()

    def to_json(self) -> str:
        return json.dumps(
            {"source": self.source.to_dict(), "extraction": dataclasses.asdict(self.extraction)}, sort_keys=True
        )

    @classmethod
    def from_json(cls, text: str, model_dir: Optional[str] = None) -> "ExtractorConfig":
        """The config of `to_json`; `model_dir` is the upstream `Model` artifact's directory, if any."""
        data = json.loads(text)
        return cls(BaseModelSource.from_dict(data["source"], model_dir), ExtractionConfig(**data["extraction"]))


def to_exec_properties(config: ExtractorConfig, fingerprint: Dict[str, Any]) -> Dict[str, Any]:
    """The exec properties of the component: the config, the fingerprint and the plugin version."""
    return {**config_codec.to_exec_properties(config), specs.FINGERPRINT_KEY: json.dumps(fingerprint, sort_keys=True)}


def from_exec_properties(
    exec_properties: Dict[str, Any], model_dir: Optional[str] = None
) -> Tuple[ExtractorConfig, Dict[str, Any]]:
    """(config, build-time fingerprint) of an execution."""
    config = ExtractorConfig.from_json(exec_properties[specs.CONFIG_KEY], model_dir)  # with the upstream's dir
    return config, json.loads(exec_properties[specs.FINGERPRINT_KEY])
