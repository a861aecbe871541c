"""Builds the frozen, pooled feature extractor of any `BaseModelSource`, and checks it at build time.

Whatever the source, the result is the same pair: a Keras model from image tensors to a pooled
feature vector, and the `PreprocessingConfig` that feeds it. `resolve_for_pipeline` is what a
component runs when the pipeline is built: the same checks, without weights, and only on what
this machine can read; it says which checks it had to leave to execution.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from typing import Any, Dict, List, Optional, Tuple

import keras
import tensorflow as tf

from tfx_transfer.trainer.base import cuts, model_files, weights_hash
from tfx_transfer.trainer.common import keras_compat
from tfx_transfer.trainer.data import preprocessing as pp
from tfx_transfer.trainer.data import storage
from tfx_transfer.trainer.base.base_source import (
    MODEL_FILE_SUFFIXES,
    CUT_AUTO,
    BaseModelError,
    BaseModelSource,
    WEIGHTS_IMAGENET,
    application_default_size,
    application_preprocessing,
    check_keras_application,
    check_weights_pin,
)


# The one cut of a SavedModel base: the whole model, wrapped in a layer of this name.
SAVED_MODEL_CUT = "saved_model"


def is_saved_model_dir(path: str) -> bool:
    return tf.io.gfile.isdir(path) and tf.io.gfile.exists(os.path.join(path, "saved_model.pb"))


def find_model_in_dir(path: str) -> str:
    """Picks the loadable model inside a `Model` artifact directory.

    Keras files (which can be fine-tuned) win over a SavedModel (feature extraction only).
    """
    candidates = [path, os.path.join(path, "Format-Serving")]
    for directory in candidates:
        if not tf.io.gfile.isdir(directory):
            continue
        for name in sorted(tf.io.gfile.listdir(directory)):
            if name.endswith(MODEL_FILE_SUFFIXES):
                return os.path.join(directory, name)
    for directory in candidates:
        if is_saved_model_dir(directory):
            return directory
    raise BaseModelError(
        f"No model found in {path!r}: expected a .keras/.h5 file or a SavedModel "
        "(saved_model.pb), directly or under Format-Serving/."
    )


def saved_model_extractor(path: str, image_size: Tuple[int, int], channels: int) -> keras.Model:
    """Wraps a SavedModel / TF Hub directory as a frozen Keras feature extractor."""
    layer = keras.layers.TFSMLayer(path, call_endpoint="serving_default", trainable=False, name=SAVED_MODEL_CUT)
    inputs = keras.Input(shape=(*image_size, channels), name="image")
    outputs = layer(inputs)
    if isinstance(outputs, dict):
        if len(outputs) != 1:
            raise BaseModelError(
                f"SavedModel {path!r} has outputs {sorted(outputs)}; a feature extractor needs "
                "exactly one."
            )
        outputs = next(iter(outputs.values()))
    return keras.Model(inputs, outputs, name="saved_model_base")


def _build_application(
    source: BaseModelSource, image_size: Tuple[int, int], weights: Optional[str]
) -> keras.Model:
    constructor = getattr(keras.applications, source.keras_application)
    try:
        return constructor(include_top=False, weights=weights, input_shape=(*image_size, 3))
    except ValueError as err:
        raise BaseModelError(
            f"{source.keras_application} cannot be built at image_size={image_size}: {err} "
            f"Its default size is {application_default_size(source.keras_application)}."
        ) from err
    except Exception as err:  # pylint: disable=broad-except  # Keras raises a bare Exception for downloads
        failed = keras_compat.failed_download(err)
        if failed is None:
            raise
        raise BaseModelError(offline_weights_message(source.keras_application, image_size, *failed)) from None


def fetch_imagenet_weights(application: str, image_size: Optional[int] = None) -> str:
    """Downloads (or finds in the Keras cache) the ImageNet weights of a Keras Application
    without its top, at `image_size` (default: its own); returns the cache folder. Raises
    BaseModelError with `offline_weights_message` when they cannot be fetched."""
    check_keras_application(application)
    size = (image_size, image_size) if image_size else application_default_size(application)
    _build_application(BaseModelSource(keras_application=application, image_size=size[0]), size, WEIGHTS_IMAGENET)
    return _weights_cache()


def _weights_cache() -> str:
    """Where Keras caches application weights."""
    return os.path.join(keras_compat.keras_home(), "models")


def offline_weights_message(application: str, image_size: Tuple[int, int], origin: str, reason: str) -> str:
    """One sentence for ImageNet weights that could not be downloaded: from where, and what to do."""
    name = origin.rsplit("/", 1)[-1]
    cache = _weights_cache()
    return (
        f"Could not download the ImageNet weights of {application} ({name}) from {origin}: this machine seems "
        f"to be offline or behind a firewall ({reason.strip()}). On a machine with a network, run "
        f"`tfx-transfer fetch-weights {application} --image-size {image_size[0]}`, then copy {name} into "
        f"{cache} here, or pass --weights /path/to/{name} (keras_application weights=PATH)."
    )


def _input_size_and_channels(model: keras.Model) -> Tuple[Optional[Tuple[int, int]], int]:
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4:
        raise BaseModelError(
            f"The base model takes inputs of shape {shape}; an image model takes "
            "(batch, height, width, channels)."
        )
    _, height, width, channels = shape
    size = (int(height), int(width)) if height and width else None
    return size, int(channels or 3)


def _saved_model_input(path: str) -> Tuple[Optional[Tuple[int, int]], int]:
    """(image size or None, channels) of a SavedModel's `serving_default` image input, as
    `model.export` and a standard Trainer write it; (None, 3) when it does not say (a TF Hub
    module without that signature, or one that takes any size)."""
    signature = tf.saved_model.load(path).signatures.get("serving_default")
    specs = list(signature.structured_input_signature[1].values()) if signature is not None else []
    if len(specs) == 1 and specs[0].dtype == tf.string:
        raise BaseModelError(
            f"The SavedModel at {path!r} serves serialized strings (tf.Examples or encoded images, as a TFX Trainer's "
            "serving model does), not image tensors, so it cannot be a base. Give the Keras model file (.keras/.h5) "
            "it was trained as, or a SavedModel exported with an image input (model.export).")
    if len(specs) != 1 or len(specs[0].shape) != 4:
        return None, 3
    _, height, width, channels = specs[0].shape
    return ((int(height), int(width)) if height and width else None), int(channels or 3)


def _check_image_size(
    requested: Optional[Tuple[int, int]], native: Optional[Tuple[int, int]]
) -> Tuple[int, int]:
    if native and requested and tuple(requested) != native:
        raise BaseModelError(
            f"image_size={tuple(requested)} does not match the model's fixed input size {native}; "
            f"leave image_size unset or use {native}."
        )
    size = requested or native
    if size is None:
        raise BaseModelError(
            "The base model accepts any image size; set image_size, e.g. image_size=224."
        )
    return tuple(size)


_BaseAndInput = Tuple[keras.Model, Tuple[int, int], str, int]  # base, image size, mode, channels


def _application_base(source: BaseModelSource, load_weights: bool, workdir: str) -> _BaseAndInput:
    """A Keras Application without its top, with weights unless only checking."""
    check_keras_application(source.keras_application)
    image_size = tuple(source.image_size or application_default_size(source.keras_application))
    weights = source.weights if load_weights else None
    if weights not in (None, WEIGHTS_IMAGENET):
        weights = storage.local_copy(weights, workdir)
    base = _build_application(source, image_size, weights)
    return base, image_size, source.preprocessing or application_preprocessing(source.keras_application), 3


def _file_base(source: BaseModelSource, workdir: str) -> _BaseAndInput:
    """The user's `.keras`/`.h5` model or SavedModel directory (`model_uri` or an upstream artifact)."""
    path = source.model_uri or find_model_in_dir(source.model_dir)
    if not tf.io.gfile.exists(path):
        raise BaseModelError(f"model_uri {path!r} does not exist; give a .keras/.h5 file or a SavedModel directory.")
    local = storage.local_copy(path, workdir)
    mode = source.preprocessing or "none"
    if is_saved_model_dir(local):
        if source.cut_layer not in (None, CUT_AUTO):
            raise BaseModelError(
                f"cut_layer={source.cut_layer!r} cannot be applied to the SavedModel at "
                f"{path!r}: a SavedModel is used whole. Use a .keras/.h5 file to cut."
            )
        native, channels = _saved_model_input(local)
        image_size = _check_image_size(source.image_size, native)
        return saved_model_extractor(local, image_size, channels), image_size, mode, channels
    if local.endswith(MODEL_FILE_SUFFIXES):
        base = cuts.enter_nested(model_files.load_model_file(local, source.allow_unsafe_model, path), source.cut_layer)
        native, channels = _input_size_and_channels(base)
        return base, _check_image_size(source.image_size, native), mode, channels
    raise BaseModelError(f"model_uri {path!r} is neither a .keras/.h5 file nor a SavedModel directory.")


def build_feature_extractor(
    source: BaseModelSource, load_weights: bool = True
) -> Tuple[keras.Model, pp.PreprocessingConfig]:
    """Builds the frozen feature extractor of every cut of `source`, and its preprocessing.

    The model's outputs are a dict {cut layer: pooled features} (see `cuts`): one forward pass
    computes them all. With `load_weights=False` Keras Applications are built without weights:
    enough to check names, layers and sizes when the pipeline is constructed, without
    downloading anything.
    """
    with tempfile.TemporaryDirectory() as workdir:
        if source.keras_application:
            base, image_size, mode, channels = _application_base(source, load_weights, workdir)
        else:
            base, image_size, mode, channels = _file_base(source, workdir)
        config = pp.PreprocessingConfig(image_size=image_size, mode=mode, channels=channels)
        cut_list = cuts.resolve_cuts(base, source.cut_layer)
        extractor = cuts.multi_cut_extractor(base, cut_list, source.pooling)
        _probe_output_shapes(extractor, config, [base.get_layer(cut) for cut in cut_list])
    extractor.trainable = False
    return extractor, config


def feature_dims(extractor: keras.Model, config: pp.PreprocessingConfig) -> Dict[str, int]:
    """{cut: length of its bottleneck vector}; a size-agnostic extractor is run once to find them."""
    dims = {cut: tensor.shape[-1] for cut, tensor in extractor.output.items()}
    if None in dims.values():
        outputs = extractor(tf.zeros((1, *config.image_size, config.channels)), training=False)
        dims = {cut: int(outputs[cut].shape[-1]) for cut in dims}
    return {cut: int(dim) for cut, dim in dims.items()}


def _probe_output_shapes(extractor: keras.Model, config: pp.PreprocessingConfig, cut_layers) -> None:
    """A size-agnostic base is run once on a blank image to catch cuts left with no pixels."""
    if all(None not in tuple(layer.output.shape[1:]) for layer in cut_layers):
        return
    try:
        outputs = extractor(tf.zeros((1, *config.image_size, config.channels)), training=False)
    except (ValueError, tf.errors.InvalidArgumentError) as err:
        raise BaseModelError(
            f"The base fails on {config.image_size} images ({str(err).splitlines()[0]}); the "
            "image is too small for this cut: use a larger image_size or a lower cut_layer."
        ) from err
    empty = {cut: tuple(t.shape) for cut, t in outputs.items() if 0 in tuple(t.shape)}
    if empty:
        raise BaseModelError(
            f"The base's outputs at {empty} are empty on {config.image_size} images: the image is too "
            "small for these cuts; use a larger image_size or a lower cut_layer."
        )


# Layers that scale pixels inside a model: a model starting with one scales its own input.
_OWN_SCALING = (keras.layers.Rescaling, keras.layers.Normalization)


def scaling_reason(source: BaseModelSource, extractor: keras.Model) -> str:
    """Why the extractor scales its input as it does: what `inspect` and the run summary say."""
    if source.preprocessing:
        return "as configured (preprocessing)"
    if source.keras_application:
        return f"the input scaling Keras' {source.keras_application} expects"
    first = next((layer for layer in extractor.layers if not isinstance(layer, keras.layers.InputLayer)), None)
    if isinstance(first, _OWN_SCALING):
        return f"the model's first layer, {first.name!r}, scales the pixels itself"
    return ("own models get pixel values 0-255 as they are; if yours expects [0, 1] or [-1, 1], set preprocessing "
            "to 'unit' or 'tf'")


def is_fine_tunable(model: keras.Model) -> bool:
    """Whether the extractor's layers can be unfrozen: Keras 3 cannot train a wrapped SavedModel."""
    return not any(isinstance(layer, keras.layers.TFSMLayer) for layer in model.layers)


def base_layer_names(model: keras.Model) -> Tuple[str, ...]:
    """The layers bottom to top, without the input: what `unfreeze` counts (of a one-cut extractor)."""
    return tuple(layer.name for layer in model.layers if not isinstance(layer, keras.layers.InputLayer))


def saved_model_source_path(source: BaseModelSource) -> str:
    """The SavedModel directory behind `source`, or '' when the base is a Keras model."""
    if source.keras_application:
        return ""
    path = source.model_uri or find_model_in_dir(source.model_dir)
    return path if is_saved_model_dir(path) else ""


# ---------------------------------------------------------------------------------------------
# Construction time: the checks, and the cache fingerprint
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BaseSummary:
    """What is known about a base when the pipeline is built, for downstream checks.

    `layer_names` are those `unfreeze` counts for the first (deepest) cut.
    """

    preprocessing: pp.PreprocessingConfig
    layer_names: Tuple[str, ...]
    fine_tunable: bool
    cuts: Tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Resolution:
    """A source checked at build time: its cache fingerprint, what was built, what was left out.

    `summary` is None when the base could not be built here (an upstream `Model` channel, or a
    model file this machine cannot read); `skipped` names each check left to execution.
    """

    fingerprint: Dict[str, Any]
    summary: Optional[BaseSummary]
    skipped: Tuple[str, ...] = ()


def _check_readable(path: str, what: str, valid: str, skipped: List[str]) -> bool:
    """True when `path` can be read here; a missing path is an error, an unreachable one is noted."""
    status = storage.path_status(path)
    if status.state == storage.MISSING:
        raise BaseModelError(f"{what} {path!r} does not exist; {valid}")
    if not status.reachable:
        skipped.append(status.skipped(what))
    return status.reachable


def _cut_spec_json(spec: cuts.CutSpec) -> object:
    return list(spec) if isinstance(spec, tuple) else (spec or "")


def resolve_for_pipeline(source: BaseModelSource, plugin_version: str) -> Resolution:
    """Checks a configured source when the pipeline is built; returns its fingerprint and summary.

    The fingerprint holds everything that changes the bottleneck features: the hash of the
    weights bytes, the cut layer, image size, preprocessing, pooling and the plugin version.
    A Keras Application is built without weights (nothing is downloaded). Files this machine
    cannot read (a `gs://` path without credentials, say) are not checked or hashed here; the
    executor does both before it extracts.
    """
    check_weights_pin(source)
    skipped: List[str] = []
    readable = True
    if source.keras_application:
        check_keras_application(source.keras_application)
        if source.weights_file:
            readable = _check_readable(
                source.weights_file, "weights file",
                "use 'imagenet', None, or a path to a local or gs:// weights file.", skipped,
            )
    elif source.model_uri:
        readable = _check_readable(
            source.model_uri, "model_uri",
            "give a .keras/.h5 file or a SavedModel directory (local or gs://).", skipped,
        )
    summary: Optional[BaseSummary] = None
    if source.keras_application or (source.model_uri and readable):
        model, config = build_feature_extractor(source, load_weights=False)
        names = cuts.cut_names(model)
        first = cuts.cut_extractor(model, names[0])
        summary = BaseSummary(config, base_layer_names(first), is_fine_tunable(model), names)
    config = summary.preprocessing if summary else None
    fingerprint = {
        "source": source.keras_application or ("model_uri" if source.model_uri else "base_model"),
        "weights_sha256": weights_hash.weights_fingerprint(source) if readable else weights_hash.unread_fingerprint(source),
        "cut_layer": list(summary.cuts) if summary else _cut_spec_json(source.cut_layer),
        "image_size": list(config.image_size if config else (source.image_size or ())),
        "preprocessing": config.mode if config else (source.preprocessing or ""),
        "channels": config.channels if config else 0,
        "pooling": source.pooling,
        "plugin_version": plugin_version,
    }
    return Resolution(fingerprint, summary, tuple(skipped))
