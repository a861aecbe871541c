"""TFX components of tfx-transfer."""

from tfx_transfer.components.bottleneck_extractor.component import BottleneckExtractor

__all__ = ["BottleneckExtractor"]
