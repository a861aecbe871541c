"""Where a pretrained base comes from: `BaseModelSource`, its checks, and what each source implies.

Sources: a Keras Application by name, an own `.keras` / `.h5` model (optionally cut at a named
layer), a SavedModel or TF Hub directory (feature extraction only), or the directory of an
upstream TFX `Model` artifact. The checks here are cheap (no model is built); `base_model`
builds the feature extractor from a source.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import keras

from tfx_transfer.trainer.common import checks
from tfx_transfer.trainer.data import preprocessing as pp

POOLING_CHOICES = ("avg", "max", "none")
WEIGHTS_IMAGENET = "imagenet"
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


# The cut_layer that extracts a candidate set and lets FineTuner choose (see `cuts`).
CUT_AUTO = "auto"


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
    # 'auto' (the default: a candidate set, scored by FineTuner), None (only the layer feeding the
    # classifier), a layer name or a tuple of them; see `cuts`.
    cut_layer: Optional[Union[str, Tuple[str, ...]]] = CUT_AUTO
    image_size: Optional[Tuple[int, int]] = None
    pooling: str = "avg"
    preprocessing: Optional[str] = None
    allow_unsafe_model: bool = False

    def __post_init__(self) -> None:
        if self.image_size is not None:
            object.__setattr__(self, "image_size", pp.normalize_image_size(self.image_size))
        object.__setattr__(self, "cut_layer", check_cut_spec(self.cut_layer))
        object.__setattr__(self, "pooling", check_pooling(self.pooling))
        check_preprocessing(self.preprocessing)
        if not isinstance(self.allow_unsafe_model, bool):
            raise BaseModelError(
                f"allow_unsafe_model={self.allow_unsafe_model!r} is invalid; valid values are True or False."
            )

    def describe(self) -> str:
        if self.keras_application:
            return f"Keras Application {self.keras_application} (weights={self.weights!r})"
        return f"model at {self.model_uri or self.model_dir}"

    @property
    def weights_file(self) -> Optional[str]:
        """The weights file of a Keras Application source, if its weights come from one."""
        if self.keras_application and self.weights not in (None, WEIGHTS_IMAGENET):
            return self.weights
        return None

    def to_dict(self) -> Dict[str, Any]:
        """The JSON-able settings (`model_dir` is known only at execution and is left out)."""
        values = dataclasses.asdict(self)
        values.pop("model_dir")
        values["image_size"] = list(self.image_size) if self.image_size else None
        values["cut_layer"] = list(self.cut_layer) if isinstance(self.cut_layer, tuple) else self.cut_layer
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], model_dir: Optional[str] = None) -> "BaseModelSource":
        """The source of `to_dict`'s output (or a user's dict of the same keys), checked."""
        known = [field.name for field in dataclasses.fields(cls) if field.name != "model_dir"]
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise BaseModelError(f"Unknown base model settings {unknown}; valid settings are {known}.")
        return cls(model_dir=model_dir, **values)


SOURCE_KEYS = tuple(field.name for field in dataclasses.fields(BaseModelSource) if field.name != "model_dir")



def check_cut_spec(spec: Optional[Union[str, Sequence[str]]]) -> Optional[Union[str, Tuple[str, ...]]]:
    """None, 'auto', a layer name, or a non-empty list of layer names (as a tuple)."""
    if spec is None or (isinstance(spec, str) and spec):
        return spec
    if isinstance(spec, (list, tuple)) and spec and all(isinstance(name, str) and name for name in spec):
        return tuple(dict.fromkeys(spec))
    raise BaseModelError(
        f"cut_layer={spec!r} is invalid; valid values are None (the layer feeding the classifier), "
        "'auto' (candidates FineTuner chooses from), a layer name, or a list of layer names."
    )


def keras_application_names() -> List[str]:
    """Every Keras Application constructor available in this Keras version."""
    return sorted(
        name
        for name in dir(keras.applications)
        if name[:1].isupper() and callable(getattr(keras.applications, name))
    )


def closest(name: str, candidates: Iterable[str], n: int = 5) -> List[str]:
    """Up to `n` candidates close to `name`, for error messages (the first ones when none is)."""
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
    """`preprocessing` if it is None (the base's own) or one of `PREPROCESSING_MODES`."""
    if preprocessing is not None:
        checks.check_choice("preprocessing", preprocessing, pp.PREPROCESSING_MODES, BaseModelError)
    return preprocessing


def check_keras_application(name: str) -> None:
    valid = keras_application_names()
    if name not in valid:
        raise BaseModelError(
            f"Unknown keras_application {name!r}. Closest valid names: {closest(name, valid)}. "
            f"All: {valid}."
        )


def check_weights_pin(source: BaseModelSource) -> None:
    """A pinned sha256 only makes sense for weights read from a file."""
    if source.weights_sha256 and not source.weights_file:
        raise BaseModelError(
            f"weights_sha256 is set but weights={source.weights!r} is not a weights file; "
            "pin a hash only for weights read from a local or gs:// file."
        )


def application_preprocessing(name: str) -> str:
    """The pixel scaling the application's own `preprocess_input` applies."""
    module = getattr(keras.applications, name).__module__.rsplit(".", 1)[-1]
    return _FAMILY_PREPROCESSING.get(module, "tf")


def application_default_size(name: str) -> Tuple[int, int]:
    size = _DEFAULT_APPLICATION_SIZES.get(name, 224)
    return (size, size)


def looks_like_model_path(base: str) -> bool:
    """Whether a CLI `--base-model` names a model file or directory rather than an application."""
    return os.sep in base or "://" in base or base.endswith(MODEL_FILE_SUFFIXES) or os.path.exists(base)
