"""Defaults of the tfx-transfer pipeline and its CLI; runners and flags override them."""

PIPELINE_NAME = "tfx-transfer"
DEMO_PIPELINE_NAME = "tfx-transfer-demo"
DEMO_WORKDIR = "demo_out"

# Component ids of the pipeline (the KFP step names, the MLMD node names of a local run).
EXAMPLE_GEN_ID = "ImageFolderExampleGen"
EXTRACTOR_ID = "BottleneckExtractor"
FINE_TUNER_ID = "FineTuner"
EVALUATOR_ID = "Evaluator"
PUSHER_ID = "Pusher"
REPORT_ID = "EvaluationReport"
BASELINE_ID = "PushedBaseline"
DRIFT_ID = "EmbeddingDriftValidator"
# With unlabelled images of the serving domain (--unlabelled-root): their example gen and extractor.
UNLABELLED_EXAMPLE_GEN_ID = "UnlabelledExampleGen"
UNLABELLED_EXTRACTOR_ID = "UnlabelledBottleneckExtractor"
# The steps that get GPUs on Kubeflow, and those that do when the pipeline has them.
HEAVY_COMPONENT_IDS = (EXTRACTOR_ID, FINE_TUNER_ID)
OPTIONAL_HEAVY_COMPONENT_IDS = (UNLABELLED_EXTRACTOR_ID,)

EXTRACTION_BATCH_SIZE = 32
ACCURACY_THRESHOLD = 0.5
CHANGE_THRESHOLD = 0.01

# The offline demo: a CNN pretrained on digits 0-4, transferred to digits 5-9.
DEMO = {
    "labels_per_class": 20,
    "source_epochs": 8,
    "batch_size": EXTRACTION_BATCH_SIZE,
    "accuracy_threshold": ACCURACY_THRESHOLD,
    # FineTuner on its defaults (and the extractor on cut_layer='auto'): what a new user gets.
    "fine_tuner": {},
}

# KFP: the image the compiled pipeline runs in, and how many GPUs each heavy step gets (the GPU
# name's default depends on the target, see kubeflow.resources.DEFAULT_GPU_TYPES).
DEFAULT_IMAGE = "gcr.io/my-project/tfx-transfer:latest"
DEFAULT_GPUS = 1

# Where `tfx-transfer run` writes when --pipeline-root is not given, and `compile`'s default.
LOCAL_PIPELINE_ROOT = "tfx_transfer_root"
KFP_PIPELINE_ROOT = "gs://my-bucket/tfx-transfer"
