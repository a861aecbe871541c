"""ImageFolderExampleGen executor: a TFX ExampleGen whose input source is a folder of images.

TFX's `BaseExampleGenExecutor` does the rest: it splits by hash buckets (class-folder layout)
or keeps the split folders (split-folder layout), and writes every split as gzipped
TFRecords. This executor adds the reading transform and the rejected-files report.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Dict, List

import apache_beam as beam
import tensorflow as tf
from tfx import types
from tfx.components.example_gen import base_example_gen_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from tfx_transfer.components import specs
from tfx_transfer.components.image_folder_example_gen import reading

# Private exec property (like the base class's `_beam_pipeline_args`): the report's path.
_REPORT_PATH_KEY = "_rejected_files_report"
# How many rejected paths the executor's summary log names; the report lists all of them.
_LOGGED_REJECTED_FILES = 20


def _input_config(exec_properties: Dict[str, Any]) -> example_gen_pb2.Input:
    config = example_gen_pb2.Input()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY], config)
    return config


def _output_config(exec_properties: Dict[str, Any]) -> example_gen_pb2.Output:
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
        index = base_example_gen_executor._PartitionFn(  # pylint: disable=protected-access
            key, len(self._buckets), self._buckets, self._split_config
        )
        return self._names[index]


class FixedSplitOf:
    """Every id of one input split folder belongs to that split (split-folder layout)."""

    def __init__(self, split: str):
        self._split = split

    def __call__(self, example_id: str) -> str:
        return self._split


def split_of_pattern(exec_properties: Dict[str, Any], split_pattern: str):
    """The split-naming function for the input split read with `split_pattern`."""
    input_config = _input_config(exec_properties)
    output_config = _output_config(exec_properties)
    if output_config.split_config.splits:
        return HashSplitOf(output_config.split_config)
    for split in input_config.splits:
        if split.pattern == split_pattern:
            return FixedSplitOf(split.name)
    raise ValueError(f"Pattern {split_pattern!r} is not one of the input_config's split patterns.")


def report_uri(examples: types.Artifact) -> str:
    """Where the rejected-files report of an ImageFolderExampleGen `examples` artifact lives."""
    return f"{examples.uri.rstrip('/')}/{specs.REJECTED_FILES_REPORT}"


def read_report(examples: types.Artifact) -> Dict[str, Any]:
    """The rejected-files report: {'total': n, 'counts': {split: {reason: n}}, 'files': [...]}."""
    with tf.io.gfile.GFile(report_uri(examples)) as handle:
        return json.load(handle)


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
    """Reads `<input_base>/[<split>/]<label>/<file>` into image tf.Examples.

    Non-image files are not written; each is counted (Beam counters per split and reason),
    logged, and listed in `<examples uri>/rejected_files.json`, whose counts are also set as
    the `rejected_files` custom property of the `examples` artifact.
    """

    def __init__(self, context=None):
        super().__init__(context)
        self._rejected: List[beam.PCollection] = []

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        rejected = self._rejected

        @beam.ptransform_fn
        @beam.typehints.with_input_types(beam.Pipeline)
        @beam.typehints.with_output_types(tf.train.Example)
        def ImageFolderToExample(  # pylint: disable=invalid-name
            pipeline: beam.Pipeline, exec_properties: Dict[str, Any], split_pattern: str
        ) -> beam.PCollection:
            input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY].rstrip("/")
            outputs = pipeline | "ReadImageFolder" >> reading.ReadImageFolder(
                f"{input_base}/{split_pattern}",
                depth=len(split_pattern.split("/")),
                split_of=split_of_pattern(exec_properties, split_pattern),
            )
            rejected.append(outputs[reading.REJECTED_OUTPUT])
            return outputs[reading.EXAMPLES_OUTPUT]

        return ImageFolderToExample

    def GenerateExamplesByBeam(
        self, pipeline: beam.Pipeline, exec_properties: Dict[str, Any]
    ) -> Dict[str, beam.PCollection]:
        self._rejected.clear()
        example_splits = super().GenerateExamplesByBeam(pipeline, exec_properties)
        _ = (
            tuple(self._rejected)
            | "FlattenRejected" >> beam.Flatten(pipeline=pipeline)
            | "WriteRejectedReport"
            >> reading.WriteRejectedReport(
                exec_properties[_REPORT_PATH_KEY], splits=list(example_splits)
            )
        )
        return example_splits

    def Do(
        self,
        input_dict: Dict[str, List[types.Artifact]],
        output_dict: Dict[str, List[types.Artifact]],
        exec_properties: Dict[str, Any],
    ) -> None:
        examples = artifact_utils.get_single_instance(output_dict[specs.EXAMPLES_KEY])
        exec_properties = {**exec_properties, _REPORT_PATH_KEY: report_uri(examples)}
        super().Do(input_dict, output_dict, exec_properties)

        report = read_report(examples)
        examples.set_string_custom_property(
            specs.REJECTED_FILES_PROPERTY, json.dumps(report["counts"], sort_keys=True)
        )
        if report["total"]:
            shown = [f"{r[reading.REJECTED_ID]} ({r[reading.REJECTED_REASON]})" for r in report["files"]]
            logging.warning(
                "ImageFolderExampleGen left out %d files that are not images (per split and "
                "reason: %s): %s%s. The full list is in %s.",
                report["total"],
                report["counts"],
                ", ".join(shown[:_LOGGED_REJECTED_FILES]),
                ", ..." if len(shown) > _LOGGED_REJECTED_FILES else "",
                report_uri(examples),
            )

