"""`tfx-transfer inspect MODEL`: where a base would be cut, and how its input is scaled, before
any run.

A user who brings their own network should not have to learn its layer names first, nor find
out after a run that it was fed the wrong pixel range. The verb prints what BottleneckExtractor
would do with MODEL on defaults: its input, the scaling and why, the default cut (the layer
feeding the classifier) and the `auto` candidates, each with the shape its layer puts out and
the length of its pooled vector. A Keras Application is built without weights: nothing is
downloaded.
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional, Tuple

import keras

from tfx_transfer.trainer.base import base_model, base_source, cuts
from tfx_transfer.trainer.data import preprocessing as pp


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One `auto` candidate: the layer, its type, its output shape and its pooled vector's length."""

    name: str
    kind: str
    shape: Tuple[Optional[int], ...]
    dims: int


@dataclasses.dataclass(frozen=True)
class Inspection:
    """What `inspect` found about a base."""

    model: str
    image_size: Tuple[int, int]
    channels: int
    scaling: str
    scaling_why: str
    default_cut: str
    candidates: Tuple[Candidate, ...]


def source_for(model: str, image_size: Optional[int] = None) -> base_source.BaseModelSource:
    """The base source a `--base-model` value names: a model path, or a Keras Application built
    without weights."""
    if base_source.looks_like_model_path(model):
        return base_source.BaseModelSource(model_uri=model, image_size=image_size)
    return base_source.BaseModelSource(keras_application=model, weights=None, image_size=image_size)


def inspect_source(source: base_source.BaseModelSource) -> Tuple[Inspection, keras.Model, pp.PreprocessingConfig]:
    """What BottleneckExtractor would do with `source` (see the module docstring), with the
    extractor and its preprocessing."""
    extractor, config = base_model.build_feature_extractor(source, load_weights=False)
    dims = base_model.feature_dims(extractor, config)
    names = cuts.cut_names(extractor)
    candidates = tuple(
        Candidate(name, type(extractor.get_layer(name)).__name__, tuple(extractor.get_layer(name).output.shape), dims[name])
        for name in names)
    model = source.keras_application or source.model_uri or source.model_dir or ""
    found = Inspection(model, config.image_size, config.channels, config.mode, base_model.scaling_reason(source, extractor),
                       names[0], candidates)
    return found, extractor, config


def inspect(model: str, image_size: Optional[int] = None) -> Inspection:
    """What BottleneckExtractor would do with `model` on defaults."""
    return inspect_source(source_for(model, image_size))[0]


def lines(found: Inspection) -> List[str]:
    """The verb's printed lines."""
    width = max(len(candidate.name) for candidate in found.candidates)
    return [
        f"{found.model}: input {found.image_size[0]}x{found.image_size[1]}x{found.channels}",
        f"  scaling: {found.scaling} ({found.scaling_why})",
        f"  default cut: {found.default_cut} (the layer feeding the classifier, or the output when there is none)",
        f"  auto candidates, deepest first (FineTuner scores each and their combination):",
        *(f"    {c.name:{width}s}  {c.kind:22s} output {c.shape!s:22s} pooled to {c.dims}" for c in found.candidates),
    ]
