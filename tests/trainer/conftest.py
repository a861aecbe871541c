"""Fixtures of the trainer tests: the tiny CNN cut at 'flatten_1' as the base."""

import pytest

from tfx_transfer.trainer.base import base_model, cuts
from tfx_transfer.trainer.base import base_source as bs


@pytest.fixture
def tiny_source(tiny_cnn_path) -> bs.BaseModelSource:
    return bs.BaseModelSource(model_uri=tiny_cnn_path, cut_layer="flatten_1")


@pytest.fixture
def tiny_extractor(tiny_source):
    """A fresh one-cut (extractor, preprocessing config) per test: tests unfreeze and train it."""
    extractor, config = base_model.build_feature_extractor(tiny_source)
    return cuts.cut_extractor(extractor, "flatten_1"), config
