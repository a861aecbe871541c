"""Every use of a private Keras internal, in one place (Keras 3.12).

`tests/trainer/common/test_keras_compat.py` checks each one and fails with a message naming it when a
Keras upgrade removes it or changes its meaning.

- `reset_initial_epoch(model)`: `BackupAndRestore` resumes a killed fit by setting the model's
  `_initial_epoch`, which `fit` reads before its own `initial_epoch`. Keras never clears it, so a
  second `fit` of the same model (fine-tuning after the head, or a resumed run) would start at
  the first fit's epoch; it is cleared after each fit.
- `call_inputs(layer)`: the tensors a layer was first called on. `layer.input` gives them for a
  plain layer, but a nested functional model overrides `input` with its own `keras.Input`s, so
  the tensors its outer model fed it are read from its first inbound node (`_inbound_nodes`).
- `node_outputs(layer)`: every tensor a layer produced in its model, one per call. A Keras 2
  `Sequential` saved as `.h5` is rebuilt by Keras 3 one `add` at a time, so each layer is called
  again on each rebuild: `layer.output` is its first call's, while the layer above was last called
  on a later one. The calls are read from `_inbound_nodes`.
- `KERAS2_H5_OBJECTS`: Keras 2 wrote `groups` into every `DepthwiseConv2D` config (MobileNet,
  EfficientNet and most mobile models), and Keras 3 refuses that argument, so it cannot load such
  a `.h5` at all. `Keras2DepthwiseConv2D` accepts and drops it (a depthwise convolution has no
  groups); it is registered, so an extractor saved with it as `.keras` loads again.
- `keras2_h5_config(config)`: inside a nested model (a `Sequential([base, ...])` around an
  application), Keras 3's legacy `.h5` loader hands each layer to its new deserializer, which
  refuses Keras 2's `BatchNormalization(axis=[3])` and `DepthwiseConv2D(groups=1)`, takes no
  custom objects for built-in layers, and reads a nested model's single output written as a
  list of one (`[['out_relu', 0, 0]]`) as two outputs. The config is rewritten instead: the
  axis list of one becomes its int, the groups are dropped, the list of one becomes its item.
- `inline_nested(model)`: a model that uses another model as a layer (the Keras transfer
  guide's `Sequential([base, GlobalAveragePooling2D(), Dense(n)])`) is rebuilt as one functional
  graph of copies of every layer, the nested ones included, with the same names and weights,
  so the base's stage ends can be cut at (models named in `keep` stay one layer). It replays each nested graph with
  `Functional._run_through_graph`, the method Keras' own `clone_model` uses.
- `failed_download(error)`: `keras.utils.get_file` reports a download that failed (no network,
  a firewall) as a bare `Exception("URL fetch failure on <origin>: <code> -- <reason>")`; the
  origin and reason are read back from that message, so the user gets one sentence instead.
- `keras_home()`: where `get_file` caches downloads (`$KERAS_HOME`, else `~/.keras`), from
  `keras.src.backend.config.keras_home`, which Keras 3 does not export.
"""

from __future__ import annotations

import os
import re
from typing import Any, Callable, Collection, Optional, Tuple

import keras

INITIAL_EPOCH = "keras.Model._initial_epoch (set by keras.callbacks.BackupAndRestore)"
INBOUND_NODES = "keras.Operation._inbound_nodes[0].input_tensors (the tensors a layer was called on)"
NODE_OUTPUTS = "keras.Operation._inbound_nodes[i].output_tensors (what each call of a layer produced)"
DOWNLOAD_FAILURE = "keras.utils.get_file's error message 'URL fetch failure on <origin>: <code> -- <reason>'"
_DOWNLOAD_FAILURE = re.compile(r"^URL fetch failure on (\S+?): (.*)$", re.DOTALL)


KERAS2_H5_CONFIG = "Keras 3 refusing Keras 2's BatchNormalization axis list inside a nested model's .h5 config"
RUN_THROUGH_GRAPH = "keras.src.models.functional.Functional._run_through_graph(inputs, operation_fn)"
KERAS_HOME = "keras.src.backend.config.keras_home (the download cache's parent folder)"
KERAS2_GROUPS = "Keras 3 refusing the 'groups' that Keras 2 wrote into DepthwiseConv2D configs"


@keras.saving.register_keras_serializable(package="tfx_transfer")
class Keras2DepthwiseConv2D(keras.layers.DepthwiseConv2D):
    """`DepthwiseConv2D` that accepts the `groups` Keras 2 wrote into its config, and drops it."""

    def __init__(self, *args, groups=None, **kwargs):  # pylint: disable=unused-argument
        super().__init__(*args, **kwargs)


# custom_objects for loading a Keras 2 `.h5` (see the module docstring).
KERAS2_H5_OBJECTS = {"DepthwiseConv2D": Keras2DepthwiseConv2D}


def keras_home() -> str:
    """The folder `keras.utils.get_file` caches under (`models/` holds application weights)."""
    from keras.src.backend import config  # pylint: disable=import-outside-toplevel

    return os.path.expanduser(config.keras_home())


def failed_download(error: BaseException) -> Optional[Tuple[str, str]]:
    """(origin URL, reason) when `error` is `keras.utils.get_file`'s failed download, else None."""
    match = _DOWNLOAD_FAILURE.match(str(error)) if type(error) is Exception else None  # pylint: disable=unidiomatic-typecheck
    return (match.group(1), match.group(2)) if match else None


def reset_initial_epoch(model: keras.Model) -> None:
    """Forgets the epoch a BackupAndRestore resume set, so a later `fit` starts where it is told."""
    model._initial_epoch = None  # pylint: disable=protected-access


def call_inputs(layer: keras.layers.Layer) -> list:
    """The tensors `layer` (a plain layer or a nested model) was first called on, in its outer model."""
    return list(layer._inbound_nodes[0].input_tensors)  # pylint: disable=protected-access


def node_outputs(layer: keras.layers.Layer) -> list:
    """Every tensor `layer` produced in its outer model, one per call (see the module docstring)."""
    return [tensor for node in layer._inbound_nodes for tensor in node.output_tensors]  # pylint: disable=protected-access


def _keras2_layer_fixes(config: dict, nested: bool) -> bool:
    """Rewrites one layer's config (see `keras2_h5_config`); True when it changed it."""
    layer = config.get("config") if isinstance(config.get("config"), dict) else {}
    changed = False
    axis = layer.get("axis")
    if config.get("class_name") == "BatchNormalization" and isinstance(axis, list) and len(axis) == 1:
        layer["axis"], changed = axis[0], True
    if config.get("class_name") == "DepthwiseConv2D" and "groups" in layer:
        del layer["groups"]
        changed = True
    if nested and config.get("class_name") in ("Functional", "Model"):
        for key in ("input_layers", "output_layers"):
            ends = layer.get(key)
            if isinstance(ends, list) and len(ends) == 1 and isinstance(ends[0], list):
                layer[key], changed = ends[0], True
    return changed


def keras2_h5_config(config: Any, nested: bool = False) -> bool:
    """Rewrites, in place, the values of a Keras 2 `.h5` model config that Keras 3 refuses inside
    a nested model (see the module docstring); True when it changed any."""
    if isinstance(config, list):
        return any([keras2_h5_config(child, nested) for child in config])
    if not isinstance(config, dict):
        return False
    changed = _keras2_layer_fixes(config, nested)
    return any([keras2_h5_config(child, True) for child in config.values()]) or changed


def _functional_class() -> type:
    from keras.src.models.functional import Functional  # pylint: disable=import-outside-toplevel

    return Functional


def inline_nested(model: keras.Model, keep: Collection[str] = ()) -> keras.Model:
    """`model` as one functional graph in which no model is used as a layer, but those named in
    `keep`, which stay one layer each (see the module docstring); `model` itself when it has no
    other. Raises ValueError when the copies cannot form one model (two layers of one name in
    the outer and a nested model)."""
    if not any(isinstance(layer, keras.Model) and layer.name not in keep for layer in model.layers):
        return model
    functional = _functional_class()
    copies = []

    def operation(op) -> Callable:
        if op is not model and isinstance(op, keras.Model) and op.name in keep:
            pass  # copied whole below
        elif isinstance(op, keras.Sequential):
            def run_sequential(inputs, *_, **__):
                for layer in op.layers:
                    inputs = operation(layer)(inputs)
                return inputs
            return run_sequential
        elif isinstance(op, functional):
            return lambda *args, **__: op._run_through_graph(  # pylint: disable=protected-access
                args[0] if len(args) == 1 else args, operation_fn=operation)
        copy = op.__class__.from_config(op.get_config())
        copies.append((op, copy))
        return copy

    inputs = [keras.Input(shape=tuple(t.shape[1:]), dtype=t.dtype) for t in model.inputs]
    outputs = operation(model)(inputs[0] if len(inputs) == 1 else inputs)
    flat = keras.Model(inputs, outputs, name=model.name)
    for layer, copy in copies:
        copy.set_weights(layer.get_weights())
    return flat
