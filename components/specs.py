"""Channel and parameter keys, and the ComponentSpecs, of every tfx-transfer component.

Component, executor and tests all refer to these constants, never to string literals.
"""

from tfx.types import standard_artifacts, value_artifact
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

# ------------------------------------------------------------------ shared keys
EXAMPLES_KEY = "examples"
IMAGE_FEATURE_KEY = "image_feature"
LABEL_FEATURE_KEY = "label_feature"
ID_FEATURE_KEY = "id_feature"
BATCH_SIZE_KEY = "batch_size"
PLUGIN_VERSION_KEY = "plugin_version"

# ------------------------------------------------------------------ BottleneckExtractor
BASE_MODEL_KEY = "base_model"
BOTTLENECKS_KEY = "bottlenecks"
FEATURE_EXTRACTOR_KEY = "feature_extractor"
REJECTED_KEY = "rejected"

KERAS_APPLICATION_KEY = "keras_application"
WEIGHTS_KEY = "weights"
WEIGHTS_SHA256_KEY = "weights_sha256"
MODEL_URI_KEY = "model_uri"
CUT_LAYER_KEY = "cut_layer"
IMAGE_SIZE_KEY = "image_size"
POOLING_KEY = "pooling"
PREPROCESSING_KEY = "preprocessing"
MAX_IMAGE_PIXELS_KEY = "max_image_pixels"
ALLOW_UNSAFE_MODEL_KEY = "allow_unsafe_model"
FINGERPRINT_KEY = "fingerprint"

# Custom property on `bottlenecks` and `rejected`: JSON {split: {"in": n, "out": n, ...}}.
SPLIT_COUNTS_PROPERTY = "split_counts"


class BottleneckExtractorSpec(ComponentSpec):
    """BottleneckExtractor: raw image Examples in; bottleneck Examples and the extractor out."""

    PARAMETERS = {
        KERAS_APPLICATION_KEY: ExecutionParameter(type=str, optional=True),
        WEIGHTS_KEY: ExecutionParameter(type=str, optional=True),
        WEIGHTS_SHA256_KEY: ExecutionParameter(type=str, optional=True),
        MODEL_URI_KEY: ExecutionParameter(type=str, optional=True),
        CUT_LAYER_KEY: ExecutionParameter(type=str, optional=True),
        # JSON [height, width]; empty means the model's own input size (upstream Model only).
        IMAGE_SIZE_KEY: ExecutionParameter(type=str, optional=True),
        POOLING_KEY: ExecutionParameter(type=str),
        PREPROCESSING_KEY: ExecutionParameter(type=str, optional=True),
        IMAGE_FEATURE_KEY: ExecutionParameter(type=str),
        LABEL_FEATURE_KEY: ExecutionParameter(type=str),
        ID_FEATURE_KEY: ExecutionParameter(type=str, optional=True),
        BATCH_SIZE_KEY: ExecutionParameter(type=int),
        MAX_IMAGE_PIXELS_KEY: ExecutionParameter(type=int),
        ALLOW_UNSAFE_MODEL_KEY: ExecutionParameter(type=int),
        # JSON of everything that changes the features; part of TFX's cache key.
        FINGERPRINT_KEY: ExecutionParameter(type=str),
        PLUGIN_VERSION_KEY: ExecutionParameter(type=str),
    }
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
# "files": [{"id", "path", "split", "reason"}, ...]}, one entry per file that is not an image.
REJECTED_FILES_REPORT = "rejected_files.json"
# Custom property on `examples`: the report's counts, JSON {split: {reason: n}}.
REJECTED_FILES_PROPERTY = "rejected_files"


# ------------------------------------------------------------------ FineTuner
TRANSFORM_GRAPH_KEY = "transform_graph"
SCHEMA_KEY = "schema"
MODEL_KEY = "model"
MODEL_RUN_KEY = "model_run"

STRATEGY_KEY = "strategy"
NUM_CLASSES_KEY = "num_classes"
LABEL_VOCABULARY_KEY = "label_vocabulary"
HEAD_UNITS_KEY = "head_units"  # JSON list of ints
DROPOUT_KEY = "dropout"
L2_KEY = "l2"
LABEL_SMOOTHING_KEY = "label_smoothing"
CLASS_WEIGHT_KEY = "class_weight"
EPOCHS_KEY = "epochs"
LEARNING_RATE_KEY = "learning_rate"
FINE_TUNE_EPOCHS_KEY = "fine_tune_epochs"
FINE_TUNE_LEARNING_RATE_KEY = "fine_tune_learning_rate"
UNFREEZE_KEY = "unfreeze"  # JSON: int (top N layers), str (from that layer up) or float (fraction)
AUGMENTATION_KEY = "augmentation"  # JSON object of AugmentationConfig fields
SEED_KEY = "seed"
PATIENCE_KEY = "patience"
TRAIN_SPLIT_KEY = "train_split"
EVAL_SPLIT_KEY = "eval_split"

STRATEGY_FEATURE_EXTRACTION = "feature_extraction"
STRATEGY_FINE_TUNE = "fine_tune"
STRATEGY_AUTO = "auto"
STRATEGIES = (STRATEGY_FEATURE_EXTRACTION, STRATEGY_FINE_TUNE, STRATEGY_AUTO)

# Files FineTuner writes into `model_run`.
STRATEGY_FILE = "strategy.json"
HISTORY_FILE = "history.json"
CURVES_FILE = "training_curves.png"
LABELS_FILE = "labels.txt"
# The whole Keras model (base + head), next to the SavedModel, so a later pipeline can cut it.
KERAS_MODEL_FILE = "model.keras"


class FineTunerSpec(ComponentSpec):
    """FineTuner: a head on cached bottlenecks, optional fine-tuning, a serving SavedModel out."""

    PARAMETERS = {
        STRATEGY_KEY: ExecutionParameter(type=str),
        IMAGE_FEATURE_KEY: ExecutionParameter(type=str),
        LABEL_FEATURE_KEY: ExecutionParameter(type=str),
        LABEL_VOCABULARY_KEY: ExecutionParameter(type=str, optional=True),
        NUM_CLASSES_KEY: ExecutionParameter(type=int, optional=True),
        HEAD_UNITS_KEY: ExecutionParameter(type=str),
        DROPOUT_KEY: ExecutionParameter(type=float),
        L2_KEY: ExecutionParameter(type=float),
        LABEL_SMOOTHING_KEY: ExecutionParameter(type=float),
        CLASS_WEIGHT_KEY: ExecutionParameter(type=str, optional=True),
        EPOCHS_KEY: ExecutionParameter(type=int),
        LEARNING_RATE_KEY: ExecutionParameter(type=float),
        FINE_TUNE_EPOCHS_KEY: ExecutionParameter(type=int),
        FINE_TUNE_LEARNING_RATE_KEY: ExecutionParameter(type=float),
        UNFREEZE_KEY: ExecutionParameter(type=str, optional=True),
        AUGMENTATION_KEY: ExecutionParameter(type=str),
        BATCH_SIZE_KEY: ExecutionParameter(type=int),
        SEED_KEY: ExecutionParameter(type=int),
        PATIENCE_KEY: ExecutionParameter(type=int),
        TRAIN_SPLIT_KEY: ExecutionParameter(type=str),
        EVAL_SPLIT_KEY: ExecutionParameter(type=str),
        PLUGIN_VERSION_KEY: ExecutionParameter(type=str),
    }
    INPUTS = {
        BOTTLENECKS_KEY: ChannelParameter(type=standard_artifacts.Examples),
        FEATURE_EXTRACTOR_KEY: ChannelParameter(type=standard_artifacts.Model),
        EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples, optional=True),
        TRANSFORM_GRAPH_KEY: ChannelParameter(type=standard_artifacts.TransformGraph, optional=True),
        SCHEMA_KEY: ChannelParameter(type=standard_artifacts.Schema, optional=True),
    }
    OUTPUTS = {
        MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        MODEL_RUN_KEY: ChannelParameter(type=standard_artifacts.ModelRun),
    }


# ------------------------------------------------------------------ EvaluationReport
EVALUATION_KEY = "evaluation"
REPORT_KEY = "report"
TITLE_KEY = "title"
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

    PARAMETERS = {TITLE_KEY: ExecutionParameter(type=str), PLUGIN_VERSION_KEY: ExecutionParameter(type=str)}
    INPUTS = {
        EVALUATION_KEY: ChannelParameter(type=standard_artifacts.ModelEvaluation),
        MODEL_RUN_KEY: ChannelParameter(type=standard_artifacts.ModelRun),
    }
    OUTPUTS = {REPORT_KEY: ChannelParameter(type=HtmlReport)}
