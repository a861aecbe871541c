"""Artifact helpers every executor shares."""

from __future__ import annotations

from typing import Dict, List, Optional

from tfx import types
from tfx.types import artifact_utils


def optional_single(input_dict: Dict[str, List[types.Artifact]], key: str) -> Optional[types.Artifact]:
    """The one artifact of an optional input channel, or None when the channel was not given."""
    artifacts = input_dict.get(key)
    return artifact_utils.get_single_instance(artifacts) if artifacts else None
