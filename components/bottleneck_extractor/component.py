"""BottleneckExtractor: runs a frozen pretrained base over every example once, with Beam."""

from __future__ import annotations

from typing import List, Optional, Sequence, Union

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts

from tfx_transfer.components import specs
from tfx_transfer.components.bottleneck_extractor import config as config_lib
from tfx_transfer.components.bottleneck_extractor import executor
from tfx_transfer.components.bottleneck_extractor.extraction import ExtractionConfig
from tfx_transfer.trainer.base import base_model as bm
from tfx_transfer.trainer.base import base_source
from tfx_transfer.trainer.base.base_source import CUT_AUTO
from tfx_transfer.trainer.common.version import plugin_version
from tfx_transfer.trainer.data import preprocessing as pp


class BottleneckExtractor(base_beam_component.BaseBeamComponent):
    """Writes pooled bottleneck features of every example as an `Examples` artifact.

    Configure exactly one base: `keras_application` (+ `weights`), `model_uri` (+ `cut_layer`),
    or the `base_model` channel (+ `cut_layer`). Configuration errors are raised here, when the
    pipeline is built, for everything this machine can read; what it cannot read (a `gs://`
    model without credentials) is listed in `skipped_checks` and checked when the step runs.
    The cache fingerprint (weights bytes, cut layer, image size, preprocessing, pooling, plugin
    version) is an exec property, so TFX re-runs extraction when any of them changes and only
    then.

    Args:
      examples: raw image Examples (an `image` bytes feature and a label), e.g. ExampleGen's or
        Transform's output.
      base_model: an upstream `Model` artifact to use as the base (a Trainer's, an Importer's, or
        an earlier FineTuner's), instead of `keras_application` or `model_uri`.
      keras_application: a Keras Application name, e.g. 'MobileNetV2', built without its top.
      weights: for `keras_application`: 'imagenet', None (random), or a local/gs:// weights file.
      weights_sha256: the sha256 a weights file must have; verified before it is used.
      model_uri: a `.keras`/`.h5` model file or a SavedModel / TF Hub directory (local or gs://).
      cut_layer: where to cut the base: 'auto' (the default: a candidate set, the layer feeding
        the classifier and the ends of the deepest stages, all computed in one pass, from which
        FineTuner picks the one that scores best on the training data), a layer name, a list of
        layer names, or None (only the layer feeding the classifier, or the model's output when
        it has no classifier; never the classifier's output).
      image_size: an int or (height, width); None takes the model's own input size (the
        application's default size for `keras_application`).
      pooling: 'avg', 'max' or None (flatten) for a cut with spatial dimensions.
      preprocessing: one of `preprocessing.PREPROCESSING_MODES`; None uses the base's own
        (an application's `preprocess_input`, 'none' for model files).
      image_feature: the name of the encoded image feature of `examples`.
      label_feature: the name of the label feature, carried into the bottlenecks.
      id_feature: a feature carried into the bottlenecks to identify each example, or None.
      labelled: False for unlabelled images (e.g. the serving domain's, for FineTuner's
        `unlabelled_bottlenecks`): examples without a label are then extracted, not set aside.
      batch_size: images per RunInference batch.
      max_image_pixels: images whose header declares more pixels are set aside unread.
      allow_unsafe_model: load model files whose Lambda layers run stored Python code.

    Outputs:
      bottlenecks: Examples with the same splits: a `bottleneck/<cut>` float list per cut, the
        label, the id.
      feature_extractor: Model: the cut, pooled base and its `feature_extractor.json`.
      rejected: Examples: every example not processed, with a `reason`.
    """

    SPEC_CLASS = specs.BottleneckExtractorSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        base_model: Optional[types.BaseChannel] = None,
        keras_application: Optional[str] = None,
        weights: Optional[str] = base_source.WEIGHTS_IMAGENET,
        weights_sha256: Optional[str] = None,
        model_uri: Optional[str] = None,
        cut_layer: Optional[Union[str, Sequence[str]]] = CUT_AUTO,
        image_size: Optional[Union[int, Sequence[int]]] = None,
        pooling: Optional[str] = "avg",
        preprocessing: Optional[str] = None,
        image_feature: str = "image",
        label_feature: str = "label",
        id_feature: Optional[str] = "id",
        labelled: bool = True,
        batch_size: int = 32,
        max_image_pixels: int = pp.DEFAULT_MAX_IMAGE_PIXELS,
        allow_unsafe_model: bool = False,
    ):
        base_source.check_source_choice(keras_application, model_uri, base_model is not None)
        config = config_lib.ExtractorConfig(
            source=base_source.BaseModelSource(
                keras_application=keras_application, weights=weights, weights_sha256=weights_sha256,
                model_uri=model_uri, cut_layer=cut_layer, image_size=image_size, pooling=pooling,
                preprocessing=preprocessing, allow_unsafe_model=allow_unsafe_model,
            ),
            extraction=ExtractionConfig(
                image_feature=image_feature, label_feature=label_feature, id_feature=id_feature,
                batch_size=batch_size, max_image_pixels=max_image_pixels, labelled=labelled,
            ),
        )
        resolution = bm.resolve_for_pipeline(config.source, plugin_version())
        self.config = config
        # What the build-time checks learnt about the base (None if it could not be built here),
        # for FineTuner's checks; and the checks this machine could not run.
        self.base_summary: Optional[bm.BaseSummary] = resolution.summary
        self.skipped_checks: List[str] = list(resolution.skipped)
        super().__init__(
            spec=specs.BottleneckExtractorSpec(
                examples=examples,
                base_model=base_model,
                **config_lib.to_exec_properties(config, resolution.fingerprint),
                bottlenecks=types.Channel(type=standard_artifacts.Examples),
                feature_extractor=types.Channel(type=standard_artifacts.Model),
                rejected=types.Channel(type=standard_artifacts.Examples),
            )
        )
