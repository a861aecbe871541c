"""Which output split an image file belongs to, for the counters and the rejected-files report.

The ExampleGen itself makes the splits; these name them for files that never become examples
(non-images), so the report attributes each to the split it would have landed in.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List

import tensorflow as tf
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from tfx_transfer.components import tfx_compat
from tfx_transfer.components.image_folder_example_gen import reading

SplitOf = Callable[[str], str]


def input_config(exec_properties: Dict[str, Any]) -> example_gen_pb2.Input:
    config = example_gen_pb2.Input()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY], config)
    return config


def output_config(exec_properties: Dict[str, Any]) -> example_gen_pb2.Output:
    config = example_gen_pb2.Output()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], config)
    return config


class HashSplitOf:
    """The output split TFX's hash partition puts an image id in (class-folder layout).

    It calls the same partition function as `BaseExampleGenExecutor` on an example holding
    only the id feature, which is exactly the partition key when `partition_feature_name` is
    the id, so rejected files are attributed to the split they would have landed in.
    """

    def __init__(self, split_config: example_gen_pb2.SplitConfig):
        if split_config.partition_feature_name != reading.ID_FEATURE:
            raise ValueError(
                f"ImageFolderExampleGen partitions by the {reading.ID_FEATURE!r} feature; the "
                f"output_config partitions by {split_config.partition_feature_name!r}."
            )
        self._split_config = split_config
        self._names = [split.name for split in split_config.splits]
        self._buckets: List[int] = []
        for split in split_config.splits:
            self._buckets.append((self._buckets[-1] if self._buckets else 0) + split.hash_buckets)

    def __call__(self, example_id: str) -> str:
        key = tf.train.Example()
        key.features.feature[reading.ID_FEATURE].bytes_list.value.append(example_id.encode("utf-8"))
        return self._names[tfx_compat.hash_partition(key, self._buckets, self._split_config)]


class FixedSplitOf:
    """Every id of one input split belongs to that split (split-folder and unlabelled layouts)."""

    def __init__(self, split: str):
        self._split = split

    def __call__(self, example_id: str) -> str:
        return self._split


def split_of_pattern(exec_properties: Dict[str, Any], split_pattern: str) -> SplitOf:
    """The split-naming function for the input split read with `split_pattern`."""
    outputs = output_config(exec_properties)
    if outputs.split_config.splits:
        return HashSplitOf(outputs.split_config)
    for split in input_config(exec_properties).splits:
        if split.pattern == split_pattern:
            return FixedSplitOf(split.name)
    raise ValueError(f"Pattern {split_pattern!r} is not one of the input_config's split patterns.")
