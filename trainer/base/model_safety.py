"""Refuses model files whose loading would run Python code stored in them.

A `.keras` or `.h5` file with Lambda layers carries serialised bytecode; Keras runs it on load.
Such files are refused unless the user sets `allow_unsafe_model=True` for a file they trust.
"""

from __future__ import annotations

import json
import zipfile
from typing import Any, Dict, List

from tfx_transfer.trainer.base.base_source import BaseModelError


class UnsafeModelError(BaseModelError):
    """A model file whose loading could run code embedded in it."""


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
