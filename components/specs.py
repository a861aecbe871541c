"""Channel and parameter keys, and the ComponentSpecs, of every tfx-transfer component.

Component, executor and tests all refer to these constants, never to string literals. Names
that `trainer/` defines (the files FineTuner writes into `model_run`, the model file beside
the SavedModel) are imported from there, so each lives once.
"""

from typing import Dict

from tfx.types import artifact as tfx_artifact
from tfx.types import standard_artifacts, value_artifact
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from tfx_transfer.trainer.data.labels import LABELS_FILE
from tfx_transfer.trainer.selection.strategy import STRATEGY_FILE
from tfx_transfer.trainer.training.export import KERAS_MODEL_FILE
from tfx_transfer.trainer.training.loop import CURVES_FILE, HISTORY_FILE

# Files of `model` and `model_run`, as `trainer/` names them.
MODEL_FILES = (KERAS_MODEL_FILE,)
MODEL_RUN_FILES = (STRATEGY_FILE, HISTORY_FILE, CURVES_FILE, LABELS_FILE)

# ------------------------------------------------------------------ shared keys
EXAMPLES_KEY = "examples"
# Every plugin component has these two exec properties: its typed config as JSON (see the
# component's `config.py`) and the plugin version, so upgrades re-run work.
CONFIG_KEY = "config"
PLUGIN_VERSION_KEY = "plugin_version"

# ------------------------------------------------------------------ BottleneckExtractor
BASE_MODEL_KEY = "base_model"
BOTTLENECKS_KEY = "bottlenecks"
FEATURE_EXTRACTOR_KEY = "feature_extractor"
REJECTED_KEY = "rejected"
# JSON of everything that changes the features; part of TFX's cache key.
FINGERPRINT_KEY = "fingerprint"

# Custom property on `bottlenecks` and `rejected`: JSON {split: {"in": n, "out": n, ...}}.
SPLIT_COUNTS_PROPERTY = "split_counts"


def config_parameters() -> Dict[str, ExecutionParameter]:
    """The exec properties every component has: its encoded config and the plugin version (`config_codec`)."""
    return {CONFIG_KEY: ExecutionParameter(type=str), PLUGIN_VERSION_KEY: ExecutionParameter(type=str)}


class BottleneckExtractorSpec(ComponentSpec):
    """BottleneckExtractor: raw image Examples in; bottleneck Examples and the extractor out."""

    PARAMETERS = {**config_parameters(), FINGERPRINT_KEY: ExecutionParameter(type=str)}
    INPUTS = {
        EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        BASE_MODEL_KEY: ChannelParameter(type=standard_artifacts.Model, optional=True),
    }
    OUTPUTS = {
        BOTTLENECKS_KEY: ChannelParameter(type=standard_artifacts.Examples),
        FEATURE_EXTRACTOR_KEY: ChannelParameter(type=standard_artifacts.Model),
        REJECTED_KEY: ChannelParameter(type=standard_artifacts.Examples),
    }


# ------------------------------------------------------------------ ImageFolderExampleGen
# (Its spec is TFX's FileBasedExampleGenSpec; these name what it adds to its `examples`.)
# A JSON file next to the Split-* folders: {"total": n, "counts": {split: {reason: n}},
# "files": [{"id", "path", "split", "reason"}, ...], "ignored": {"total": n, "files": [...]}}:
# one entry per file that is not a usable image, and per OS metadata file left unread.
REJECTED_FILES_REPORT = "rejected_files.json"
# Custom property on `examples`: the report's counts, JSON {split: {reason: n}}.
REJECTED_FILES_PROPERTY = "rejected_files"
# Custom property of ImageFolderExampleGen's `examples`: how many OS metadata files it ignored.
IGNORED_FILES_PROPERTY = "ignored_files"


# ------------------------------------------------------------------ FineTuner
TRANSFORM_GRAPH_KEY = "transform_graph"
SCHEMA_KEY = "schema"
# Bottlenecks of unlabelled images from the serving domain (a second BottleneckExtractor's).
UNLABELLED_BOTTLENECKS_KEY = "unlabelled_bottlenecks"
# Their raw examples (ExampleGen's): only the label-next list's thumbnails read them.
UNLABELLED_EXAMPLES_KEY = "unlabelled_examples"
MODEL_KEY = "model"
MODEL_RUN_KEY = "model_run"

# Custom properties on `model`.
STRATEGY_PROPERTY = "strategy"
CLASS_NAMES_PROPERTY = "class_names"


class FineTunerSpec(ComponentSpec):
    """FineTuner: a head on cached bottlenecks, optional fine-tuning, a serving SavedModel out."""

    PARAMETERS = config_parameters()
    INPUTS = {
        BOTTLENECKS_KEY: ChannelParameter(type=standard_artifacts.Examples),
        FEATURE_EXTRACTOR_KEY: ChannelParameter(type=standard_artifacts.Model),
        EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples, optional=True),
        TRANSFORM_GRAPH_KEY: ChannelParameter(type=standard_artifacts.TransformGraph, optional=True),
        SCHEMA_KEY: ChannelParameter(type=standard_artifacts.Schema, optional=True),
        UNLABELLED_BOTTLENECKS_KEY: ChannelParameter(type=standard_artifacts.Examples, optional=True),
        UNLABELLED_EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples, optional=True),
    }
    OUTPUTS = {
        MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        MODEL_RUN_KEY: ChannelParameter(type=standard_artifacts.ModelRun),
    }


# ------------------------------------------------------------------ PushedBaseline
BASELINE_MODEL_KEY = "baseline_model"
# Custom properties on `baseline_model`.
BASELINE_SOURCE_PROPERTY = "baseline_source"
BASELINE_IS_CANDIDATE_PROPERTY = "baseline_is_candidate"


class PushedBaselineSpec(ComponentSpec):
    """PushedBaseline: the candidate model in, the Evaluator's baseline model out."""

    PARAMETERS = config_parameters()
    INPUTS = {MODEL_KEY: ChannelParameter(type=standard_artifacts.Model)}
    OUTPUTS = {BASELINE_MODEL_KEY: ChannelParameter(type=standard_artifacts.Model)}


# ------------------------------------------------------------------ EmbeddingDriftValidator
OTHER_BOTTLENECKS_KEY = "other_bottlenecks"
DRIFT_KEY = "drift"
DRIFT_FILE = "drift.json"  # in the `drift` artifact's folder
# An InfraBlessing for the standard Pusher's `infra_blessing`: its `blessed` custom property is 0
# when drift was found and the validator was asked to block the push, else 1.
DRIFT_BLESSING_KEY = "blessing"
BLESSED_PROPERTY = "blessed"


class EmbeddingDrift(tfx_artifact.Artifact):
    """The figures and verdict of an embedding drift check: `drift.json` in the artifact's folder."""

    TYPE_NAME = "tfx_transfer.EmbeddingDrift"


# ------------------------------------------------------------------ EvaluationReport
EVALUATION_KEY = "evaluation"
# EvaluationReport's optional inputs besides `examples` (what the Evaluator read) and `rejected`
# (the BottleneckExtractor's): the ImageFolderExampleGen's `examples`, with its rejected files.
SOURCE_EXAMPLES_KEY = "source_examples"
REPORT_KEY = "report"
REPORT_FILE = "report.html"  # The local copy next to summary.json.


class HtmlReport(value_artifact.ValueArtifact):
    """A self-contained HTML page stored as the artifact's file itself (its URI is the page).

    Kubeflow Pipelines' UI renders artifacts of type `system.HTML` by reading the file at their
    URI, so the page is not put in a directory as most TFX artifacts are.
    """

    TYPE_NAME = "system.HTML"

    def encode(self, value: str) -> bytes:
        return value.encode("utf-8")

    def decode(self, serialized_value: bytes) -> str:
        return serialized_value.decode("utf-8")


class EvaluationReportSpec(ComponentSpec):
    """EvaluationReport: TFMA results + FineTuner's model_run in, one HTML report out."""

    PARAMETERS = config_parameters()
    INPUTS = {
        EVALUATION_KEY: ChannelParameter(type=standard_artifacts.ModelEvaluation),
        MODEL_RUN_KEY: ChannelParameter(type=standard_artifacts.ModelRun),
        EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples, optional=True),
        SOURCE_EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples, optional=True),
        REJECTED_KEY: ChannelParameter(type=standard_artifacts.Examples, optional=True),
        DRIFT_KEY: ChannelParameter(type=EmbeddingDrift, optional=True),
    }
    OUTPUTS = {REPORT_KEY: ChannelParameter(type=HtmlReport)}


class EmbeddingDriftValidatorSpec(ComponentSpec):
    """EmbeddingDriftValidator: two sets of bottlenecks in, their drift figures and verdict out."""

    PARAMETERS = config_parameters()
    INPUTS = {
        BOTTLENECKS_KEY: ChannelParameter(type=standard_artifacts.Examples),
        FEATURE_EXTRACTOR_KEY: ChannelParameter(type=standard_artifacts.Model),
        OTHER_BOTTLENECKS_KEY: ChannelParameter(type=standard_artifacts.Examples, optional=True),
    }
    OUTPUTS = {
        DRIFT_KEY: ChannelParameter(type=EmbeddingDrift),
        DRIFT_BLESSING_KEY: ChannelParameter(type=standard_artifacts.InfraBlessing),
    }
