"""Defaults of the tfx-transfer pipeline and its CLI; runners and flags override them."""

PIPELINE_NAME = "tfx-transfer"
DEMO_WORKDIR = "demo_out"

# Base network of the extraction-only demo: small and offline (no weights download).
DEMO_KERAS_APPLICATION = "MobileNetV2"
DEMO_IMAGE_SIZE = 32
EXTRACTION_BATCH_SIZE = 32
