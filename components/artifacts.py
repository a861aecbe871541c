"""Artifact helpers every executor shares."""

from __future__ import annotations

from typing import Dict, List, Optional

from tfx import types
from tfx.types import artifact_utils
from tfx.utils import io_utils


def optional_single(input_dict: Dict[str, List[types.Artifact]], key: str) -> Optional[types.Artifact]:
    """The one artifact of an optional input channel, or None when the channel was not given."""
    artifacts = input_dict.get(key)
    return artifact_utils.get_single_instance(artifacts) if artifacts else None


def split_patterns(artifact: types.Artifact) -> List[str]:
    """The file pattern of each of an Examples artifact's splits (TFX's split helpers)."""
    return [io_utils.all_files_pattern(artifact_utils.get_split_uri([artifact], split))
            for split in artifact_utils.decode_split_names(artifact.split_names)]
