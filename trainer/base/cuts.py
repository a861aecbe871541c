"""Where to cut a base: the default cut, the 'auto' candidate set, and one extractor for all cuts.

- **Default cut.** Like Keras' `include_top=False`, a model is never cut at its classifier: when
  its top is a classifier (a Dense layer of any activation, or a nested head model, with any
  Dropout, Activation, ReLU or Softmax layers above it stepped over), the default cut is the
  layer that feeds it, Dropout stepped over; otherwise its output. The layers are followed
  through every call Keras made of them, so a Keras 2 `Sequential` `.h5`, which Keras 3 rebuilds
  one layer at a time, is read like a functional model.
- **Nested bases.** A model that uses another model as a layer (the Keras transfer guide's
  `Sequential([base, GlobalAveragePooling2D(), Dense(n)])`) is entered: it is rebuilt as one
  graph of its layers (`keras_compat.inline_nested`), so the base's stage ends are candidates
  like those of the application itself. A nested classifier (the head of a model this plugin
  trained) and a nested model that a cut names stay whole.
- **'auto'.** Candidates the features of which are worth measuring on the user's data: the
  default cut, the vector layers between the last spatial layer and the classifier (Flatten,
  Dense), and the ends of the deepest stages: the last layer at each spatial resolution
  (`conv4_block6_out`, `block_12_add`) and the pooling layers that close a stage
  (`block4_pool`), deepest first. Which one transfers best depends on the base, the data and
  the head, so FineTuner scores them all.
- **One pass.** `multi_cut_extractor` returns one model whose outputs are a dict {cut: pooled
  vector}: one forward pass computes every cut.
- **Combined cuts.** A cut named `a+b+c` (`combined_cut`) is the concatenation of those cuts'
  pooled vectors: generic lower-layer and specific upper-layer features side by side. FineTuner
  scores it next to the single cuts; on small data it is the more robust choice.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple, Union

import keras

from tfx_transfer.trainer.base.base_source import CUT_AUTO, BaseModelError, check_cut_spec, closest
from tfx_transfer.trainer.common import keras_compat

# How many candidates 'auto' keeps at most (one forward pass computes them all).
AUTO_MAX_CANDIDATES = 6
# Joins the cuts of a combined cut's name: 'flatten+pool_2'.
COMBINED_SEPARATOR = "+"

CutSpec = Optional[Union[str, Sequence[str]]]

# Layers that only pass their input on at serving time.
_DROPOUTS = (
    keras.layers.Dropout, keras.layers.SpatialDropout1D, keras.layers.SpatialDropout2D, keras.layers.GaussianDropout,
    keras.layers.GaussianNoise, keras.layers.AlphaDropout,
)
# Layers stepped over between a classifier and the model's output: they squash its scores.
_ABOVE_CLASSIFIER = _DROPOUTS + (keras.layers.Activation, keras.layers.Softmax, keras.layers.ReLU)
# Layers that only reshape, pad or rescale the input: never candidates of their own (the mean
# colour of a Normalization layer is not a learned feature).
_NOT_CANDIDATES = _DROPOUTS + (
    keras.layers.ZeroPadding2D, keras.layers.InputLayer, keras.layers.Rescaling, keras.layers.Normalization,
    keras.layers.Resizing,
)
_STAGE_POOLS = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)


def _producer(model: keras.Model, tensor) -> Optional[keras.layers.Layer]:
    """The layer of `model` that produced `tensor` in any of its calls (None: an input)."""
    for layer in model.layers:
        if not isinstance(layer, keras.layers.InputLayer) and any(t is tensor for t in keras_compat.node_outputs(layer)):
            return layer
    return None


def _below(model: keras.Model, layer: keras.layers.Layer) -> Optional[keras.layers.Layer]:
    """The layer feeding `layer`, when one layer does (None: an input, or several layers)."""
    called_on = keras_compat.call_inputs(layer)
    return _producer(model, called_on[0]) if len(called_on) == 1 else None


def _classifier(model: keras.Model) -> Optional[keras.layers.Layer]:
    """The model's top classifier layer (see the module docstring), or None."""
    layer = model.layers[-1]
    while isinstance(layer, _ABOVE_CLASSIFIER):
        layer = _below(model, layer)
    return layer if isinstance(layer, (keras.Model, keras.layers.Dense)) else None


def _cuttable(model: keras.Model, classifier: keras.layers.Layer) -> List[str]:
    """The layers below the top that a cut could name: not inputs, input scaling or dropout."""
    top = model.layers.index(classifier)
    return [layer.name for layer in model.layers[:top] if not isinstance(layer, _NOT_CANDIDATES)]


def default_cut(model: keras.Model) -> str:
    """The layer feeding the classifier, or the model's output layer when it has none."""
    classifier = _classifier(model)
    if classifier is None:
        return model.layers[-1].name
    feeding = _below(model, classifier)
    while isinstance(feeding, _DROPOUTS):
        feeding = _below(model, feeding)
    if feeding is None:
        others = _cuttable(model, classifier)
        raise BaseModelError(
            f"{model.name!r} has no single feature layer feeding its classifier {classifier.name!r}, so it has no "
            + (f"default cut. Pass cut_layer= one of its layers: {others}." if others else
               "layer to cut at: it is the classifier alone. Pass a model with feature layers below its classifier.")
        )
    return feeding.name


def enter_nested(model: keras.Model, spec: CutSpec) -> keras.Model:
    """`model` with its nested models entered (see the module docstring), but a nested classifier
    (the head of a model this plugin trained) and any model `spec` names, which stay whole. When
    their layers' names clash with the outer model's, nothing is entered."""
    keep = {spec} if isinstance(spec, str) else set(spec or ())
    classifier = _classifier(model)
    if isinstance(classifier, keras.Model):
        keep.add(classifier.name)
    try:
        return keras_compat.inline_nested(model, keep)
    except ValueError:
        return model


def _spatial_size(layer: keras.layers.Layer) -> Optional[Tuple[int, int]]:
    shape = tuple(layer.output.shape) if hasattr(layer, "output") else ()
    if len(shape) == 4 and shape[1] and shape[2]:
        return int(shape[1]), int(shape[2])
    return None


def candidate_cuts(model: keras.Model) -> Tuple[str, ...]:
    """The 'auto' candidates of `model`, deepest first (see the module docstring)."""
    top = default_cut(model)
    names = [layer.name for layer in model.layers]
    layers = model.layers[: names.index(top) + 1]
    vectors: List[str] = []
    last_at_size: Dict[Tuple[int, int], int] = {}
    pools: List[int] = []
    for index, layer in enumerate(layers):
        if isinstance(layer, _NOT_CANDIDATES) or isinstance(layer.output, (list, tuple, dict)):
            continue
        size = _spatial_size(layer)
        if size == (1, 1):  # squeeze-and-excite branches (per-channel weights), or a stage shrunk to one pixel:
            vectors = []  # not a stage end, but the vectors before it (the branches' squeezes) are not features
            continue
        if size is not None:
            last_at_size[size] = index
            if isinstance(layer, _STAGE_POOLS):
                pools.append(index)
            vectors = []  # only vector layers after the last spatial one count
        elif len(layer.output.shape) == 2:
            vectors.append(layer.name)
    stage_ends = sorted(set(last_at_size.values()) | set(pools), reverse=True)
    ordered = [top] + list(reversed(vectors)) + [layers[i].name for i in stage_ends]
    return tuple(dict.fromkeys(ordered))[:AUTO_MAX_CANDIDATES]


def resolve_cuts(model: keras.Model, spec: CutSpec) -> Tuple[str, ...]:
    """The layer names `spec` stands for in `model`, checked."""
    spec = check_cut_spec(spec)
    if spec is None:
        return (default_cut(model),)
    if spec == CUT_AUTO:
        return candidate_cuts(model)
    cuts = (spec,) if isinstance(spec, str) else tuple(spec)
    names = [layer.name for layer in model.layers]
    for cut in cuts:
        if cut not in names:
            raise BaseModelError(
                f"cut_layer {cut!r} is not a layer of {model.name!r}. Closest layer names: {closest(cut, names)}."
            )
    return cuts


def _pool(features: keras.KerasTensor, pooling: str, cut: str) -> keras.KerasTensor:
    rank = len(features.shape)
    if rank == 2:
        return features
    pools = {
        (4, "avg"): keras.layers.GlobalAveragePooling2D, (4, "max"): keras.layers.GlobalMaxPooling2D,
        (3, "avg"): keras.layers.GlobalAveragePooling1D, (3, "max"): keras.layers.GlobalMaxPooling1D,
    }
    pool = pools.get((rank, pooling), keras.layers.Flatten)
    return pool(name=f"bottleneck_pool_{cut}")(features)


def multi_cut_extractor(model: keras.Model, cuts: Sequence[str], pooling: str) -> keras.Model:
    """One model from the inputs to {cut: pooled features} for every cut."""
    outputs = {}
    for cut in cuts:
        pooled = _pool(model.get_layer(cut).output, pooling, cut)
        if any(dim == 0 for dim in pooled.shape[1:]):
            raise BaseModelError(
                f"The base's output at {cut!r} has shape {tuple(model.get_layer(cut).output.shape)}: the image is "
                "too small for this cut; use a larger image_size or a lower cut_layer."
            )
        outputs[cut] = pooled
    return keras.Model(model.inputs, outputs, name="feature_extractor")


def cut_names(extractor: keras.Model) -> Tuple[str, ...]:
    """The cuts a `multi_cut_extractor` model computes, in its output order."""
    return tuple(extractor.output)


def combined_cut(cuts: Sequence[str]) -> str:
    """The name of the cut that concatenates `cuts`' vectors, in this order."""
    return COMBINED_SEPARATOR.join(cuts)


def cut_parts(cut: str, available: Sequence[str]) -> Tuple[str, ...]:
    """The computed cuts that `cut` stands for: itself, or the parts of a combined cut."""
    if cut in available:
        return (cut,)
    parts = tuple(cut.split(COMBINED_SEPARATOR))
    if len(parts) < 2 or not all(part in available for part in parts):
        raise BaseModelError(f"The feature extractor has no cut {cut!r}; its cuts are {list(available)}.")
    return parts


def cut_extractor(extractor: keras.Model, cut: str) -> keras.Model:
    """The single-output sub-model of `extractor` for one cut, or for a combined cut the
    concatenation of its parts (it shares the layers)."""
    parts = cut_parts(cut, cut_names(extractor))
    if len(parts) == 1:
        return keras.Model(extractor.inputs, extractor.output[cut], name=f"feature_extractor_{cut}")
    combined = keras.layers.Concatenate(name="bottleneck_combined")([extractor.output[part] for part in parts])
    return keras.Model(extractor.inputs, combined, name="feature_extractor_combined")
