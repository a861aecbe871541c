"""Resolves every supported pretrained base into a Keras feature extractor plus its preprocessing.

Sources: a Keras Application by name, an own `.keras` / `.h5` model (optionally cut at a named
layer), a SavedModel or TF Hub directory (feature extraction only), or the directory of an
upstream TFX `Model` artifact. Whatever the source, the result is the same pair: a Keras model
from image tensors to a pooled feature vector, and the `PreprocessingConfig` that feeds it.

The extractor is saved once (`save_feature_extractor`) into the `feature_extractor` artifact and
reloaded (`load_feature_extractor`) by Beam workers and by FineTuner, so every consumer uses the
same weights even when the source was `weights=None`.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import logging
import os
import tempfile
import zipfile
from typing import Any, Dict, Iterable, List, Optional, Tuple

import keras
import tensorflow as tf

from tfx_transfer.trainer import preprocessing as pp

POOLING_CHOICES = ("avg", "max", "none")
WEIGHTS_IMAGENET = "imagenet"

EXTRACTOR_KERAS_FILE = "feature_extractor.keras"
EXTRACTOR_SAVED_MODEL_DIR = "saved_model"
EXTRACTOR_CONFIG_FILE = "feature_extractor.json"

MODEL_FILE_SUFFIXES = (".keras", ".h5", ".hdf5")

# `preprocess_input` of each Keras Application family, by the module that defines it.
_FAMILY_PREPROCESSING = {
    "mobilenet": "tf",
    "mobilenet_v2": "tf",
    "mobilenet_v3": "none",
    "inception_v3": "tf",
    "inception_resnet_v2": "tf",
    "xception": "tf",
    "nasnet": "tf",
    "resnet_v2": "tf",
    "resnet": "caffe",
    "resnet50": "caffe",
    "vgg16": "caffe",
    "vgg19": "caffe",
    "densenet": "torch",
    "efficientnet": "none",
    "efficientnet_v2": "none",
    "convnext": "none",
    "regnet": "none",
}

_DEFAULT_APPLICATION_SIZES = {
    "InceptionV3": 299,
    "InceptionResNetV2": 299,
    "Xception": 299,
    "NASNetLarge": 331,
    "EfficientNetB1": 240,
    "EfficientNetB2": 260,
    "EfficientNetB3": 300,
    "EfficientNetB4": 380,
    "EfficientNetB5": 456,
    "EfficientNetB6": 528,
    "EfficientNetB7": 600,
    "EfficientNetV2S": 384,
    "EfficientNetV2M": 480,
    "EfficientNetV2L": 480,
}


class BaseModelError(ValueError):
    """A base-model configuration a user can fix (bad name, layer, size, source or weights)."""


class UnsafeModelError(BaseModelError):
    """A model file whose loading could run code embedded in it."""


@dataclasses.dataclass(frozen=True)
class BaseModelSource:
    """Where the pretrained base comes from and how it is cut, pooled and fed.

    Exactly one of `keras_application`, `model_uri` or `model_dir` (the resolved directory of an
    upstream `Model` artifact, known only at execution time) is set.
    """

    keras_application: Optional[str] = None
    weights: Optional[str] = WEIGHTS_IMAGENET
    weights_sha256: Optional[str] = None
    model_uri: Optional[str] = None
    model_dir: Optional[str] = None
    cut_layer: Optional[str] = None
    image_size: Optional[Tuple[int, int]] = None
    pooling: str = "avg"
    preprocessing: Optional[str] = None
    allow_unsafe_model: bool = False

    def __post_init__(self) -> None:
        if self.image_size is not None:
            object.__setattr__(self, "image_size", pp.normalize_image_size(self.image_size))

    def describe(self) -> str:
        if self.keras_application:
            return f"Keras Application {self.keras_application} (weights={self.weights!r})"
        return f"model at {self.model_uri or self.model_dir}"


# ---------------------------------------------------------------------------------------------
# Argument checks (cheap; used at pipeline construction time)
# ---------------------------------------------------------------------------------------------


def keras_application_names() -> List[str]:
    """Every Keras Application constructor available in this Keras version."""
    return sorted(
        name
        for name in dir(keras.applications)
        if name[:1].isupper() and callable(getattr(keras.applications, name))
    )


def _closest(name: str, candidates: Iterable[str], n: int = 5) -> List[str]:
    candidates = list(candidates)
    close = difflib.get_close_matches(name, candidates, n=n, cutoff=0.4)
    return close or candidates[:n]


def check_source_choice(
    keras_application: Optional[str], model_uri: Optional[str], has_base_model_channel: bool
) -> None:
    """Exactly one base source must be configured."""
    chosen = [
        label
        for label, present in (
            ("keras_application", bool(keras_application)),
            ("model_uri", bool(model_uri)),
            ("base_model channel", has_base_model_channel),
        )
        if present
    ]
    if len(chosen) != 1:
        raise BaseModelError(
            "Configure exactly one base model source: keras_application='MobileNetV2', "
            "model_uri='path/to/model.keras' (with cut_layer), or the base_model channel; "
            f"got {len(chosen)}: {chosen or 'none'}."
        )


def check_pooling(pooling: Optional[str]) -> str:
    """Normalises `pooling` (None means flatten) and rejects unknown values."""
    value = "none" if pooling is None else pooling
    if value not in POOLING_CHOICES:
        raise BaseModelError(
            f"Unknown pooling {pooling!r}; valid values are 'avg', 'max' or None (flatten)."
        )
    return value


def check_preprocessing(preprocessing: Optional[str]) -> Optional[str]:
    if preprocessing is not None and preprocessing not in pp.PREPROCESSING_MODES:
        raise BaseModelError(
            f"Unknown preprocessing {preprocessing!r}; valid values are "
            f"{list(pp.PREPROCESSING_MODES)} (None picks the base model's own)."
        )
    return preprocessing


def check_keras_application(name: str) -> None:
    valid = keras_application_names()
    if name not in valid:
        raise BaseModelError(
            f"Unknown keras_application {name!r}. Closest valid names: {_closest(name, valid)}. "
            f"All: {valid}."
        )


def check_weights(weights: Optional[str]) -> None:
    if weights in (None, WEIGHTS_IMAGENET):
        return
    if not tf.io.gfile.exists(weights):
        raise BaseModelError(
            f"weights file {weights!r} does not exist; use 'imagenet', None, or a path to a "
            "local or gs:// weights file."
        )


def application_preprocessing(name: str) -> str:
    """The pixel scaling the application's own `preprocess_input` applies."""
    module = getattr(keras.applications, name).__module__.rsplit(".", 1)[-1]
    return _FAMILY_PREPROCESSING.get(module, "tf")


def application_default_size(name: str) -> Tuple[int, int]:
    size = _DEFAULT_APPLICATION_SIZES.get(name, 224)
    return (size, size)


# ---------------------------------------------------------------------------------------------
# Hashing
# ---------------------------------------------------------------------------------------------


def file_sha256(path: str) -> str:
    """sha256 of a file's bytes, read through gfile so gs:// paths work."""
    digest = hashlib.sha256()
    with tf.io.gfile.GFile(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tree_sha256(path: str) -> str:
    """sha256 over a file, or over every file (name and bytes) below a directory."""
    if not tf.io.gfile.isdir(path):
        return file_sha256(path)
    digest = hashlib.sha256()
    for root, _, files in sorted(tf.io.gfile.walk(path)):
        for name in sorted(files):
            full = os.path.join(root, name)
            digest.update(os.path.relpath(full, path).encode())
            digest.update(file_sha256(full).encode())
    return digest.hexdigest()


def verify_weights_sha256(weights: str, expected: str) -> str:
    """Checks a weights file against the sha256 the user pinned; returns the actual hash."""
    actual = file_sha256(weights)
    if actual != expected.lower():
        raise BaseModelError(
            f"weights file {weights!r} has sha256 {actual}, but weights_sha256 is {expected!r}. "
            "Use the file that matches the pinned hash, or update weights_sha256."
        )
    return actual


def weights_fingerprint(source: BaseModelSource) -> str:
    """Identifies the bytes behind the base, so changed weights at the same path re-run extraction."""
    if source.keras_application:
        if source.weights in (None, WEIGHTS_IMAGENET):
            return f"{source.keras_application}:{source.weights}:keras-{keras.__version__}"
        if source.weights_sha256:
            return verify_weights_sha256(source.weights, source.weights_sha256)
        return file_sha256(source.weights)
    if source.model_uri:
        return tree_sha256(source.model_uri)
    return ""  # An upstream Model artifact: TFX keys the cache on the artifact itself.


# ---------------------------------------------------------------------------------------------
# Safety checks for model files
# ---------------------------------------------------------------------------------------------


def _code_carrying_layers(config: Any) -> List[str]:
    """Names of Lambda layers (serialised Python bytecode) anywhere in a Keras config."""
    found: List[str] = []
    if isinstance(config, dict):
        if config.get("class_name") == "Lambda":
            found.append(str(config.get("config", {}).get("name", "<unnamed>")))
        for value in config.values():
            found.extend(_code_carrying_layers(value))
    elif isinstance(config, list):
        for value in config:
            found.extend(_code_carrying_layers(value))
    return found


def _model_file_config(path: str) -> Dict[str, Any]:
    if path.endswith(".keras"):
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read("config.json"))
    import h5py  # A TensorFlow dependency.

    with h5py.File(path, "r") as f:
        raw = f.attrs.get("model_config")
    if raw is None:
        raise BaseModelError(
            f"{path!r} holds no model config (is it a weights-only file?). Pass it as `weights=` "
            "of a keras_application, or save the whole model with model.save()."
        )
    return json.loads(raw.decode() if isinstance(raw, bytes) else raw)


def check_model_file_safety(path: str, allow_unsafe_model: bool) -> None:
    """Refuses model files whose config embeds Python code unless the user opted in."""
    if allow_unsafe_model:
        return
    lambdas = _code_carrying_layers(_model_file_config(path))
    if lambdas:
        raise UnsafeModelError(
            f"Model file {path!r} contains Lambda layers {lambdas}, whose loading runs Python "
            "code stored in the file. Replace them with built-in layers, or set "
            "allow_unsafe_model=True if you trust the file."
        )


# ---------------------------------------------------------------------------------------------
# Loading and cutting
# ---------------------------------------------------------------------------------------------


def _local_copy(path: str, workdir: str) -> str:
    """Models and weights on gs:// are copied locally first; Keras reads local files."""
    if "://" not in path:
        return path
    if tf.io.gfile.isdir(path):
        local = os.path.join(workdir, os.path.basename(path.rstrip("/")))
        for root, _, files in tf.io.gfile.walk(path):
            rel = os.path.relpath(root, path)
            tf.io.gfile.makedirs(os.path.join(local, rel))
            for name in files:
                tf.io.gfile.copy(os.path.join(root, name), os.path.join(local, rel, name))
        return local
    local = os.path.join(workdir, os.path.basename(path))
    tf.io.gfile.copy(path, local, overwrite=True)
    return local


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


def _load_model_file(path: str, allow_unsafe_model: bool) -> keras.Model:
    check_model_file_safety(path, allow_unsafe_model)
    return keras.saving.load_model(path, compile=False, safe_mode=not allow_unsafe_model)


def _saved_model_extractor(path: str, image_size: Tuple[int, int], channels: int) -> keras.Model:
    """Wraps a SavedModel / TF Hub directory as a frozen Keras feature extractor."""
    layer = keras.layers.TFSMLayer(path, call_endpoint="serving_default", trainable=False)
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


def cut_model(model: keras.Model, cut_layer: Optional[str]) -> keras.Model:
    """The sub-model from the inputs up to `cut_layer` (the whole model when None)."""
    if not cut_layer:
        return model
    names = [layer.name for layer in model.layers]
    if cut_layer not in names:
        raise BaseModelError(
            f"cut_layer {cut_layer!r} is not a layer of {model.name!r}. Closest layer names: "
            f"{_closest(cut_layer, names)}."
        )
    return keras.Model(model.inputs, model.get_layer(cut_layer).output, name=f"{model.name}_cut")


def _pool(features: keras.KerasTensor, pooling: str) -> keras.KerasTensor:
    rank = len(features.shape)
    if rank == 2:
        return features
    if rank == 4 and pooling == "avg":
        return keras.layers.GlobalAveragePooling2D(name="bottleneck_pool")(features)
    if rank == 4 and pooling == "max":
        return keras.layers.GlobalMaxPooling2D(name="bottleneck_pool")(features)
    if rank == 3 and pooling == "avg":
        return keras.layers.GlobalAveragePooling1D(name="bottleneck_pool")(features)
    if rank == 3 and pooling == "max":
        return keras.layers.GlobalMaxPooling1D(name="bottleneck_pool")(features)
    return keras.layers.Flatten(name="bottleneck_flatten")(features)


def _with_pooling(base: keras.Model, pooling: str) -> keras.Model:
    outputs = _pool(base.outputs[0], pooling)
    if any(dim == 0 for dim in outputs.shape[1:]):
        raise BaseModelError(
            f"The base's output at {base.layers[-1].name!r} has shape {tuple(base.outputs[0].shape)}:"
            " the image is too small for this cut; use a larger image_size or a lower cut_layer."
        )
    return keras.Model(base.inputs, outputs, name="feature_extractor")


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


def build_feature_extractor(
    source: BaseModelSource, load_weights: bool = True
) -> Tuple[keras.Model, pp.PreprocessingConfig]:
    """Builds the frozen, pooled feature extractor and its preprocessing for any source.

    With `load_weights=False` Keras Applications are built without weights: enough to check
    names, layers and sizes when the pipeline is constructed, without downloading anything.
    """
    pooling = check_pooling(source.pooling)
    preprocessing = check_preprocessing(source.preprocessing)
    with tempfile.TemporaryDirectory() as workdir:
        if source.keras_application:
            check_keras_application(source.keras_application)
            image_size = tuple(source.image_size or application_default_size(source.keras_application))
            weights = source.weights if load_weights else None
            if weights not in (None, WEIGHTS_IMAGENET):
                weights = _local_copy(weights, workdir)
            base = _build_application(source, image_size, weights)
            mode = preprocessing or application_preprocessing(source.keras_application)
            channels = 3
        else:
            path = source.model_uri or find_model_in_dir(source.model_dir)
            if not tf.io.gfile.exists(path):
                raise BaseModelError(f"model_uri {path!r} does not exist.")
            local = _local_copy(path, workdir)
            mode = preprocessing or "none"
            if is_saved_model_dir(local):
                if source.cut_layer:
                    raise BaseModelError(
                        f"cut_layer={source.cut_layer!r} cannot be applied to the SavedModel at "
                        f"{path!r}: a SavedModel is used whole. Use a .keras/.h5 file to cut."
                    )
                image_size = _check_image_size(source.image_size, None)
                base = _saved_model_extractor(local, image_size, 3)
                channels = 3
            elif local.endswith(MODEL_FILE_SUFFIXES):
                base = _load_model_file(local, source.allow_unsafe_model)
                native, channels = _input_size_and_channels(base)
                image_size = _check_image_size(source.image_size, native)
            else:
                raise BaseModelError(
                    f"model_uri {path!r} is neither a .keras/.h5 file nor a SavedModel directory."
                )
        base = cut_model(base, source.cut_layer)
        config = pp.PreprocessingConfig(image_size=image_size, mode=mode, channels=channels)
        _probe_output_shape(base, config)
        extractor = _with_pooling(base, pooling)
    extractor.trainable = False
    return extractor, config


def _probe_output_shape(base: keras.Model, config: pp.PreprocessingConfig) -> None:
    """A size-agnostic base is run once on a blank image to catch cuts left with no pixels."""
    if None not in tuple(base.outputs[0].shape[1:]):
        return
    try:
        output = base(tf.zeros((1, *config.image_size, config.channels)), training=False)
    except (ValueError, tf.errors.InvalidArgumentError) as err:
        raise BaseModelError(
            f"The base fails on {config.image_size} images ({str(err).splitlines()[0]}); the "
            "image is too small for this cut: use a larger image_size or a lower cut_layer."
        ) from err
    if 0 in tuple(output.shape):
        raise BaseModelError(
            f"The base's output at the cut has shape {tuple(output.shape)} on {config.image_size} "
            "images: the image is too small for this cut; use a larger image_size or a lower "
            "cut_layer."
        )


# ---------------------------------------------------------------------------------------------
# The feature_extractor artifact
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FeatureExtractorInfo:
    """What FineTuner needs to know about a saved feature extractor."""

    preprocessing: pp.PreprocessingConfig
    feature_dim: int
    fine_tunable: bool
    source: str
    cut_layer: Optional[str]
    fingerprint: Dict[str, Any]

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data["preprocessing"] = json.loads(self.preprocessing.to_json())
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "FeatureExtractorInfo":
        data = json.loads(text)
        data["preprocessing"] = pp.PreprocessingConfig.from_json(json.dumps(data["preprocessing"]))
        return cls(**data)


def _uses_saved_model(model: keras.Model) -> bool:
    return any(isinstance(layer, keras.layers.TFSMLayer) for layer in model.layers)


def is_fine_tunable(model: keras.Model) -> bool:
    """Whether the extractor's layers can be unfrozen: Keras 3 cannot train a wrapped SavedModel."""
    return not _uses_saved_model(model)


def save_feature_extractor(
    model: keras.Model, info: FeatureExtractorInfo, directory: str, saved_model_source: str = ""
) -> None:
    """Writes the extractor and its info into `directory` (a local or gs:// artifact URI).

    A SavedModel-based extractor cannot be a `.keras` file, so its SavedModel is copied instead
    and rebuilt from `info` on load.
    """
    tf.io.gfile.makedirs(directory)
    with tf.io.gfile.GFile(os.path.join(directory, EXTRACTOR_CONFIG_FILE), "w") as f:
        f.write(info.to_json())
    if saved_model_source:
        target = os.path.join(directory, EXTRACTOR_SAVED_MODEL_DIR)
        for root, _, files in tf.io.gfile.walk(saved_model_source):
            rel = os.path.relpath(root, saved_model_source)
            tf.io.gfile.makedirs(os.path.join(target, rel))
            for name in files:
                tf.io.gfile.copy(os.path.join(root, name), os.path.join(target, rel, name), True)
        return
    with tempfile.TemporaryDirectory() as workdir:
        local = os.path.join(workdir, EXTRACTOR_KERAS_FILE)
        model.save(local)
        tf.io.gfile.copy(local, os.path.join(directory, EXTRACTOR_KERAS_FILE), overwrite=True)


def load_feature_extractor_info(directory: str) -> FeatureExtractorInfo:
    with tf.io.gfile.GFile(os.path.join(directory, EXTRACTOR_CONFIG_FILE)) as f:
        return FeatureExtractorInfo.from_json(f.read())


def load_feature_extractor(directory: str) -> Tuple[keras.Model, FeatureExtractorInfo]:
    """Reloads what `save_feature_extractor` wrote. The model is the one the extractor ran."""
    info = load_feature_extractor_info(directory)
    saved_model = os.path.join(directory, EXTRACTOR_SAVED_MODEL_DIR)
    with tempfile.TemporaryDirectory() as workdir:
        if tf.io.gfile.exists(saved_model):
            local = _local_copy(saved_model, workdir)
            base = _saved_model_extractor(
                local, info.preprocessing.image_size, info.preprocessing.channels
            )
            model = _with_pooling(base, info.fingerprint.get("pooling", "avg"))
        else:
            local = _local_copy(os.path.join(directory, EXTRACTOR_KERAS_FILE), workdir)
            # Written by this plugin after the user's file passed the safety check.
            model = keras.saving.load_model(local, compile=False, safe_mode=False)
    model.trainable = False
    return model, info


def saved_model_source_path(source: BaseModelSource) -> str:
    """The SavedModel directory behind `source`, or '' when the base is a Keras model."""
    if source.keras_application:
        return ""
    path = source.model_uri or find_model_in_dir(source.model_dir)
    return path if is_saved_model_dir(path) else ""


def feature_dim(extractor: keras.Model, config: pp.PreprocessingConfig) -> int:
    """Length of the bottleneck vector; a size-agnostic extractor is run once to find it."""
    dim = extractor.outputs[0].shape[-1]
    if dim is None:
        dim = extractor(tf.zeros((1, *config.image_size, config.channels)), training=False).shape[-1]
    return int(dim)


def describe_model(model: keras.Model) -> str:
    return f"{model.name}: input {tuple(model.inputs[0].shape)} -> features {tuple(model.outputs[0].shape)}"


def log_extractor(model: keras.Model, info: FeatureExtractorInfo) -> None:
    logging.info("Feature extractor %s; preprocessing %s", describe_model(model), info.preprocessing)


# ---------------------------------------------------------------------------------------------
# Construction-time validation and the cache fingerprint
# ---------------------------------------------------------------------------------------------


def resolve_and_fingerprint(
    source: BaseModelSource, plugin_version: str
) -> Tuple[Optional[pp.PreprocessingConfig], Dict[str, Any]]:
    """Checks a configured source and returns its preprocessing and cache fingerprint.

    The fingerprint holds everything that changes the bottleneck features: the hash of the
    weights bytes, the cut layer, image size, preprocessing, pooling and the plugin version. For
    an upstream `Model` artifact (`model_dir` unknown until execution) preprocessing is None and
    the artifact itself keys TFX's cache.
    """
    if source.weights_sha256 and (not source.keras_application or source.weights in (None, WEIGHTS_IMAGENET)):
        raise BaseModelError(
            f"weights_sha256 is set but weights={source.weights!r} is not a weights file; "
            "pin a hash only for weights read from a local or gs:// file."
        )
    if source.keras_application:
        check_keras_application(source.keras_application)
        check_weights(source.weights)
    if source.model_uri and not tf.io.gfile.exists(source.model_uri):
        raise BaseModelError(
            f"model_uri {source.model_uri!r} does not exist; give a .keras/.h5 file or a "
            "SavedModel directory (local or gs://)."
        )
    pooling = check_pooling(source.pooling)
    check_preprocessing(source.preprocessing)
    config: Optional[pp.PreprocessingConfig] = None
    if source.keras_application or source.model_uri:
        _, config = build_feature_extractor(source, load_weights=False)
    fingerprint = {
        "source": source.keras_application or ("model_uri" if source.model_uri else "base_model"),
        "weights_sha256": weights_fingerprint(source),
        "cut_layer": source.cut_layer or "",
        "image_size": list(config.image_size if config else (source.image_size or ())),
        "preprocessing": config.mode if config else (source.preprocessing or ""),
        "channels": config.channels if config else 0,
        "pooling": pooling,
        "plugin_version": plugin_version,
    }
    return config, fingerprint
