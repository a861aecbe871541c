"""BottleneckExtractor executor: turns artifacts into paths, then runs the Beam extraction."""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Dict, List, Optional

import apache_beam as beam
from tfx import types
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils
from tfx.utils import io_utils

from tfx_transfer.components import specs
from tfx_transfer.components.bottleneck_extractor import config as config_lib
from tfx_transfer.components.bottleneck_extractor import extraction
from tfx_transfer.trainer.base import feature_extractor
from tfx_transfer.trainer.data import record_counts

_EXAMPLES_FILE_PREFIX = "data_tfrecord"


class AllExamplesRejectedError(RuntimeError):
    """A split produced no bottlenecks at all: the data or its feature names are wrong."""


def _check_tf_example_payload(examples: types.Artifact) -> None:
    payload_format = examples_utils.get_payload_format(examples)
    if payload_format != example_gen_pb2.FORMAT_TF_EXAMPLE:
        raise ValueError(
            f"BottleneckExtractor reads tf.Example payloads; {examples.uri} holds "
            f"{examples_utils.get_payload_format_string(examples)}. Use FORMAT_TF_EXAMPLE."
        )


def _check_counts(counts: Dict[str, Dict[str, int]], rejected_uri: str) -> None:
    """Every example is accounted for, and no split lost all of its examples."""
    for split, count in counts.items():
        if count["examples_in"] != count["examples_out"] + count["examples_rejected"]:
            raise RuntimeError(
                f"Split {split!r}: {count['examples_in']} examples in but {count['examples_out']} "
                f"out + {count['examples_rejected']} rejected; please report this bug."
            )
        if count["examples_in"] and not count["examples_out"]:
            reasons = {k: v for k, v in count.items() if k.startswith("rejected_")}
            raise AllExamplesRejectedError(
                f"All {count['examples_in']} examples of split {split!r} were rejected "
                f"({reasons}). Check image_feature/label_feature names and the image bytes; "
                f"the rejected examples, each with a 'reason', are in {rejected_uri}."
            )


def _split_pattern(examples: types.Artifact, split: str) -> str:
    return io_utils.all_files_pattern(artifact_utils.get_split_uri([examples], split))


def _write_split(
    pipeline: beam.Pipeline, extractor_dir: str, config: extraction.ExtractionConfig, split: str,
    examples: types.Artifact, bottlenecks: types.Artifact, rejected: types.Artifact, total: Optional[int],
) -> None:
    """Reads one split of `examples` and writes its bottlenecks and rejected examples."""
    input_pattern = _split_pattern(examples, split)
    outputs = (
        pipeline
        | f"ReadExamples[{split}]" >> beam.io.ReadFromTFRecord(input_pattern)
        | f"ExtractBottlenecks[{split}]" >> extraction.ExtractBottlenecks(extractor_dir, config, split, total)
    )
    for label, artifact, key in (("WriteBottlenecks", bottlenecks, "bottlenecks"), ("WriteRejected", rejected, "rejected")):
        prefix = os.path.join(artifact_utils.get_split_uri([artifact], split), _EXAMPLES_FILE_PREFIX)
        _ = outputs[key] | f"{label}[{split}]" >> beam.io.WriteToTFRecord(prefix, file_name_suffix=".gz")


class Executor(base_beam_executor.BaseBeamExecutor):
    """Saves the cut, pooled base into `feature_extractor`, then extracts every split with Beam."""

    def Do(
        self,
        input_dict: Dict[str, List[types.Artifact]],
        output_dict: Dict[str, List[types.Artifact]],
        exec_properties: Dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        examples = artifact_utils.get_single_instance(input_dict[specs.EXAMPLES_KEY])
        _check_tf_example_payload(examples)
        bottlenecks = artifact_utils.get_single_instance(output_dict[specs.BOTTLENECKS_KEY])
        rejected = artifact_utils.get_single_instance(output_dict[specs.REJECTED_KEY])
        extractor = artifact_utils.get_single_instance(output_dict[specs.FEATURE_EXTRACTOR_KEY])
        base_models = input_dict.get(specs.BASE_MODEL_KEY)
        config, fingerprint = config_lib.from_exec_properties(
            exec_properties, artifact_utils.get_single_uri(base_models) if base_models else None
        )
        splits = artifact_utils.decode_split_names(examples.split_names)
        feature_extractor.build_and_save(config.source, fingerprint, extractor.uri)
        totals = {split: record_counts.estimate_records(_split_pattern(examples, split)) for split in splits}  # for the ETA
        for output in (bottlenecks, rejected):
            output.split_names = artifact_utils.encode_split_names(splits)
            examples_utils.set_payload_format(output, example_gen_pb2.FORMAT_TF_EXAMPLE)
        pipeline = self._make_beam_pipeline()
        for split in splits:
            _write_split(pipeline, extractor.uri, config.extraction, split, examples, bottlenecks, rejected, totals[split])
        result = pipeline.run()
        result.wait_until_finish()

        counts = extraction.split_counts(result, splits)
        logging.info("BottleneckExtractor counts per split: %s", counts)
        for output in (bottlenecks, rejected):
            output.set_string_custom_property(specs.SPLIT_COUNTS_PROPERTY, json.dumps(counts, sort_keys=True))
        _check_counts(counts, rejected.uri)
