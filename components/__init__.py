"""TFX components of tfx-transfer."""

from tfx_transfer.components.bottleneck_extractor.component import BottleneckExtractor
from tfx_transfer.components.embedding_drift.component import EmbeddingDriftValidator
from tfx_transfer.components.evaluation_report.component import EvaluationReport
from tfx_transfer.components.fine_tuner.component import FineTuner
from tfx_transfer.components.image_folder_example_gen.component import ImageFolderExampleGen
from tfx_transfer.components.pushed_baseline.component import PushedBaseline

__all__ = ["BottleneckExtractor", "EmbeddingDriftValidator", "EvaluationReport", "FineTuner", "ImageFolderExampleGen", "PushedBaseline"]
