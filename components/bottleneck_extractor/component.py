"""BottleneckExtractor: runs a frozen pretrained base over every example once, with Beam."""

from __future__ import annotations

import json
from typing import Optional, Sequence, Union

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts

from tfx_transfer.components import specs
from tfx_transfer.components.bottleneck_extractor import executor
from tfx_transfer.trainer import base_model as bm
from tfx_transfer.trainer import preprocessing as pp
from tfx_transfer.trainer.version import plugin_version


def _positive(name: str, value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return value


class BottleneckExtractor(base_beam_component.BaseBeamComponent):
    """Writes pooled bottleneck features of every example as an `Examples` artifact.

    Configure exactly one base: `keras_application` (+ `weights`), `model_uri` (+ `cut_layer`),
    or the `base_model` channel (+ `cut_layer`). Configuration errors are raised here, when the
    pipeline is built. The cache fingerprint (weights bytes, cut layer, image size,
    preprocessing, pooling, plugin version) is an exec property, so TFX re-runs extraction when
    any of them changes and only then.

    Outputs: `bottlenecks` (Examples, same splits: `bottleneck` float list, the label, the id),
    `feature_extractor` (Model: the cut, pooled base and its preprocessing) and `rejected`
    (Examples: every example not processed, with a `reason`).
    """

    SPEC_CLASS = specs.BottleneckExtractorSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        base_model: Optional[types.BaseChannel] = None,
        keras_application: Optional[str] = None,
        weights: Optional[str] = bm.WEIGHTS_IMAGENET,
        weights_sha256: Optional[str] = None,
        model_uri: Optional[str] = None,
        cut_layer: Optional[str] = None,
        image_size: Optional[Union[int, Sequence[int]]] = None,
        pooling: Optional[str] = "avg",
        preprocessing: Optional[str] = None,
        image_feature: str = "image",
        label_feature: str = "label",
        id_feature: Optional[str] = "id",
        batch_size: int = 32,
        max_image_pixels: int = pp.DEFAULT_MAX_IMAGE_PIXELS,
        allow_unsafe_model: bool = False,
    ):
        bm.check_source_choice(keras_application, model_uri, base_model is not None)
        source = bm.BaseModelSource(
            keras_application=keras_application,
            weights=weights,
            weights_sha256=weights_sha256,
            model_uri=model_uri,
            cut_layer=cut_layer,
            image_size=pp.normalize_image_size(image_size) if image_size is not None else None,
            pooling=bm.check_pooling(pooling),
            preprocessing=preprocessing,
            allow_unsafe_model=allow_unsafe_model,
        )
        config, fingerprint = bm.resolve_and_fingerprint(source, plugin_version())
        spec = specs.BottleneckExtractorSpec(
            examples=examples,
            base_model=base_model,
            keras_application=keras_application,
            weights=weights,
            weights_sha256=weights_sha256,
            model_uri=model_uri,
            cut_layer=cut_layer,
            image_size=json.dumps(fingerprint["image_size"]),
            pooling=source.pooling,
            preprocessing=config.mode if config else preprocessing,
            image_feature=image_feature,
            label_feature=label_feature,
            id_feature=id_feature or "",
            batch_size=_positive("batch_size", batch_size),
            max_image_pixels=_positive("max_image_pixels", max_image_pixels),
            allow_unsafe_model=int(bool(allow_unsafe_model)),
            fingerprint=json.dumps(fingerprint, sort_keys=True),
            plugin_version=fingerprint["plugin_version"],
            bottlenecks=types.Channel(type=standard_artifacts.Examples),
            feature_extractor=types.Channel(type=standard_artifacts.Model),
            rejected=types.Channel(type=standard_artifacts.Examples),
        )
        super().__init__(spec=spec)
