"""`create_pipeline(...)`: the tfx-transfer pipeline, independent of any runner."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from tfx import v1 as tfx
from tfx.dsl.components.base import base_node

from tfx_transfer.components import BottleneckExtractor, ImageFolderExampleGen


def create_pipeline(
    pipeline_name: str,
    pipeline_root: str,
    data_root: str,
    extractor_args: Dict[str, Any],
    metadata_connection_config: Optional[Any] = None,
    beam_pipeline_args: Optional[List[str]] = None,
    enable_cache: bool = True,
) -> tfx.dsl.Pipeline:
    """Image folders -> ImageFolderExampleGen -> BottleneckExtractor.

    `extractor_args` are BottleneckExtractor's keyword arguments (the base model source, image
    size, pooling, ...).
    """
    example_gen = ImageFolderExampleGen(input_base=data_root)
    extractor = BottleneckExtractor(examples=example_gen.outputs["examples"], **extractor_args)
    components: List[base_node.BaseNode] = [example_gen, extractor]
    return tfx.dsl.Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        components=components,
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args or [],
    )
