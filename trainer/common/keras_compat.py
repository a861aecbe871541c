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
- `failed_download(error)`: `keras.utils.get_file` reports a download that failed (no network,
  a firewall) as a bare `Exception("URL fetch failure on <origin>: <code> -- <reason>")`; the
  origin and reason are read back from that message, so the user gets one sentence instead.
- `keras_home()`: where `get_file` caches downloads (`$KERAS_HOME`, else `~/.keras`), from
  `keras.src.backend.config.keras_home`, which Keras 3 does not export.
"""

from __future__ import annotations

import os
import re
from typing import Optional, Tuple

import keras

INITIAL_EPOCH = "keras.Model._initial_epoch (set by keras.callbacks.BackupAndRestore)"
INBOUND_NODES = "keras.Operation._inbound_nodes[0].input_tensors (the tensors a layer was called on)"
NODE_OUTPUTS = "keras.Operation._inbound_nodes[i].output_tensors (what each call of a layer produced)"
DOWNLOAD_FAILURE = "keras.utils.get_file's error message 'URL fetch failure on <origin>: <code> -- <reason>'"
_DOWNLOAD_FAILURE = re.compile(r"^URL fetch failure on (\S+?): (.*)$", re.DOTALL)


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
