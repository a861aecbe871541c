"""ImageFolderExampleGen executor: a TFX ExampleGen whose input source is a folder of images.

TFX's `BaseExampleGenExecutor` does the rest: it splits by hash buckets (class-folder layout),
keeps the split folders (split-folder layout) or the one `unlabelled` split (unlabelled
layout), and writes every split as gzipped TFRecords. This executor checks the folder again
(the build-time checks may have been skipped on a machine that could not read it), adds the
reading transform and the rejected-files report.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Dict, List

import apache_beam as beam
import tensorflow as tf
from tfx import types
from tfx.components.example_gen import base_example_gen_executor
from tfx.types import artifact_utils, standard_component_specs

from tfx_transfer.components import specs
from tfx_transfer.components.image_folder_example_gen import reading, split_configs, splits
from tfx_transfer.components.image_folder_example_gen import report as report_lib
from tfx_transfer.trainer.data import storage

# Private exec property (like the base class's `_beam_pipeline_args`): the report's path.
_REPORT_PATH_KEY = "_rejected_files_report"
# How many rejected paths the executor's summary log names; the report lists all of them.
_LOGGED_REJECTED_FILES = 20


def report_path(examples: types.Artifact) -> str:
    """Where the rejected-files report of an ImageFolderExampleGen `examples` artifact lives."""
    return report_lib.report_path(examples.uri)


def read_report(examples: types.Artifact) -> Dict[str, Any]:
    """The rejected-files report: {'total': n, 'counts': {split: {reason: n}}, 'files': [...], 'ignored': {...}}."""
    return storage.read_json(report_path(examples))


def _log_rejected(report: Dict[str, Any], path: str) -> None:
    if report["ignored"]["total"]:
        logging.info("ImageFolderExampleGen ignored %d operating-system metadata files (hidden files, "
                     "__MACOSX, Thumbs.db, desktop.ini); they are listed in %s.", report["ignored"]["total"], path)
    if not report["total"]:
        return
    shown = [f"{r[reading.REJECTED_ID]} ({r[reading.REJECTED_REASON]})" for r in report["files"]]
    logging.warning(
        "ImageFolderExampleGen left out %d files that are not images (per split and reason: %s): "
        "%s%s. The full list is in %s.",
        report["total"],
        report["counts"],
        ", ".join(shown[:_LOGGED_REJECTED_FILES]),
        ", ..." if len(shown) > _LOGGED_REJECTED_FILES else "",
        path,
    )


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
    """Reads `<input_base>/[<split>/]<label>/<file>`, or every file below input_base (unlabelled
    layout, pattern `reading.ANY_DEPTH_PATTERN`: no label), into image tf.Examples.

    Non-image files are not written; each is counted (Beam counters per split and reason),
    logged, and listed in `<examples uri>/rejected_files.json`, whose counts are also set as
    the `rejected_files` custom property of the `examples` artifact. Operating-system metadata
    files are not read; the report lists them as `ignored`, and their number is the
    `ignored_files` custom property.
    """

    def __init__(self, context=None):
        super().__init__(context)
        self._set_aside: Dict[str, List[beam.PCollection]] = {reading.REJECTED_OUTPUT: [], reading.IGNORED_OUTPUT: []}

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        set_aside = self._set_aside

        @beam.ptransform_fn
        @beam.typehints.with_input_types(beam.Pipeline)
        @beam.typehints.with_output_types(tf.train.Example)
        def ImageFolderToExample(  # pylint: disable=invalid-name
            pipeline: beam.Pipeline, exec_properties: Dict[str, Any], split_pattern: str
        ) -> beam.PCollection:
            input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY].rstrip("/")
            split_of = splits.split_of_pattern(exec_properties, split_pattern)
            if split_pattern == reading.ANY_DEPTH_PATTERN:
                read = reading.ReadUnlabelledFolder(input_base, split_of=split_of)
            else:
                read = reading.ReadImageFolder(
                    f"{input_base}/{split_pattern}", depth=len(split_pattern.split("/")), split_of=split_of
                )
            outputs = pipeline | "ReadImageFolder" >> read
            for name, collections in set_aside.items():
                collections.append(outputs[name])
            return outputs[reading.EXAMPLES_OUTPUT]

        return ImageFolderToExample

    def GenerateExamplesByBeam(
        self, pipeline: beam.Pipeline, exec_properties: Dict[str, Any]
    ) -> Dict[str, beam.PCollection]:
        for collections in self._set_aside.values():
            collections.clear()
        example_splits = super().GenerateExamplesByBeam(pipeline, exec_properties)
        set_aside = {
            name: tuple(collections) | f"Flatten{name.capitalize()}" >> beam.Flatten(pipeline=pipeline)
            for name, collections in self._set_aside.items()
        }
        _ = set_aside | "WriteRejectedReport" >> reading.WriteRejectedReport(
            exec_properties[_REPORT_PATH_KEY], splits=list(example_splits))
        return example_splits

    def Do(
        self,
        input_dict: Dict[str, List[types.Artifact]],
        output_dict: Dict[str, List[types.Artifact]],
        exec_properties: Dict[str, Any],
    ) -> None:
        split_configs.check_compiled_layout(
            exec_properties[standard_component_specs.INPUT_BASE_KEY], splits.input_config(exec_properties)
        )
        examples = artifact_utils.get_single_instance(output_dict[specs.EXAMPLES_KEY])
        super().Do(input_dict, output_dict, {**exec_properties, _REPORT_PATH_KEY: report_path(examples)})
        report = read_report(examples)
        examples.set_string_custom_property(specs.REJECTED_FILES_PROPERTY, json.dumps(report["counts"], sort_keys=True))
        examples.set_int_custom_property(specs.IGNORED_FILES_PROPERTY, report["ignored"]["total"])
        _log_rejected(report, report_path(examples))
