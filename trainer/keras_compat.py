"""Every use of a private Keras internal, in one place (Keras 3.12).

`tests/trainer/test_keras_compat.py` checks each one and fails with a message naming it when a
Keras upgrade removes it or changes its meaning.

- `reset_initial_epoch(model)`: `BackupAndRestore` resumes a killed fit by setting the model's
  `_initial_epoch`, which `fit` reads before its own `initial_epoch`. Keras never clears it, so a
  second `fit` of the same model (fine-tuning after the head, or a resumed run) would start at
  the first fit's epoch; it is cleared after each fit.
- `call_inputs(layer)`: the tensors a layer was first called on. `layer.input` gives them for a
  plain layer, but a nested functional model overrides `input` with its own `keras.Input`s, so
  the tensors its outer model fed it are read from its first inbound node (`_inbound_nodes`).
"""

from __future__ import annotations

import keras

INITIAL_EPOCH = "keras.Model._initial_epoch (set by keras.callbacks.BackupAndRestore)"
INBOUND_NODES = "keras.Operation._inbound_nodes[0].input_tensors (the tensors a layer was called on)"


def reset_initial_epoch(model: keras.Model) -> None:
    """Forgets the epoch a BackupAndRestore resume set, so a later `fit` starts where it is told."""
    model._initial_epoch = None  # pylint: disable=protected-access


def call_inputs(layer: keras.layers.Layer) -> list:
    """The tensors `layer` (a plain layer or a nested model) was first called on, in its outer model."""
    return list(layer._inbound_nodes[0].input_tensors)  # pylint: disable=protected-access
