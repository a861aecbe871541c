"""Plain-Keras model code of tfx-transfer: base models, preprocessing, heads, training, export.

Nothing here depends on TFX artifacts, so it can be used and tested without a pipeline.
"""
