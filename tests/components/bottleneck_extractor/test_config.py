"""The BottleneckExtractor's typed config survives its trip through exec properties."""

from __future__ import annotations

import json

import pytest

from tfx_transfer.components import specs
from tfx_transfer.components.bottleneck_extractor import config as config_lib
from tfx_transfer.components.bottleneck_extractor.extraction import ExtractionConfig
from tfx_transfer.trainer.base import base_source as bs
from tfx_transfer.trainer.common.version import plugin_version


def test_round_trip_through_exec_properties():
    config = config_lib.ExtractorConfig(
        bs.BaseModelSource(model_uri="m.keras", cut_layer="flatten_1", image_size=64, pooling="max", allow_unsafe_model=True),
        ExtractionConfig(image_feature="img", label_feature="y", id_feature=None, batch_size=4, max_image_pixels=100),
    )
    fingerprint = {"weights_sha256": "ab", "plugin_version": "9.9"}
    props = config_lib.to_exec_properties(config, fingerprint)
    assert set(props) == {specs.CONFIG_KEY, specs.FINGERPRINT_KEY, specs.PLUGIN_VERSION_KEY}
    assert props[specs.PLUGIN_VERSION_KEY] == plugin_version()
    decoded, decoded_fingerprint = config_lib.from_exec_properties(props)
    assert (decoded, decoded_fingerprint) == (config, fingerprint)
    with_upstream, _ = config_lib.from_exec_properties(props, model_dir="/models/7")
    assert with_upstream.source.model_dir == "/models/7"
    assert "model_dir" not in json.loads(props[specs.CONFIG_KEY])["source"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"batch_size": 0}, "batch_size=0 is invalid"),
        ({"max_image_pixels": -1}, "max_image_pixels=-1 is invalid"),
        ({"image_feature": ""}, "image_feature='' is invalid"),
        ({"id_feature": 3}, "id_feature=3 is invalid"),
    ],
)
def test_extraction_settings_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ExtractionConfig(**kwargs)
