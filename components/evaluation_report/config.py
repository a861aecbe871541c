"""The EvaluationReport's one typed config, and its encoding as exec properties.

The component builds `ReportConfig` from its arguments, which checks them when the pipeline is
defined rather than when the step runs, and encodes it into one JSON exec property beside the
plugin version (so a plugin upgrade re-runs the step); the executor decodes it here, and
nowhere else.
"""

from __future__ import annotations

import dataclasses

from tfx_transfer.components.config_codec import FlatConfig

DEFAULT_TITLE = "tfx-transfer evaluation"


@dataclasses.dataclass(frozen=True)
class ReportConfig(FlatConfig):
    """Everything the EvaluationReport is configured with."""

    title: str = DEFAULT_TITLE
    # The split of `examples` the Evaluator reported on, named in the report's Data row ('' unknown).
    evaluated_split: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.title, str) or not self.title:
            raise ValueError(f"title={self.title!r} is invalid; valid values are non-empty strings.")
        if not isinstance(self.evaluated_split, str):
            raise ValueError(f"evaluated_split={self.evaluated_split!r} is invalid; valid values are split names.")
