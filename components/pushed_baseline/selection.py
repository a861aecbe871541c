"""Which pushed model is the baseline: plain paths, no artifacts.

TFX's filesystem Pusher writes each blessed model to `<push destination>/<unix time>/`, copying
`saved_model.pb` last, so a version folder with `saved_model.pb` is a complete push. The
baseline is the newest complete push whose files differ from the candidate's: a model is
never compared with a copy of itself.
"""

from __future__ import annotations

import os
from typing import List, Optional

import tensorflow as tf

from tfx_transfer.trainer.base import weights_hash

SAVED_MODEL_FILE = "saved_model.pb"


def pushed_versions(push_destination: str) -> List[str]:
    """The complete pushes under `push_destination`, newest first (an absent folder has none)."""
    if not tf.io.gfile.isdir(push_destination):
        return []
    versions = [name.rstrip("/") for name in tf.io.gfile.listdir(push_destination)]
    complete = [
        name for name in versions
        if name.isdigit() and tf.io.gfile.exists(os.path.join(push_destination, name, SAVED_MODEL_FILE))
    ]
    return [os.path.join(push_destination, name) for name in sorted(complete, key=int, reverse=True)]


def latest_other_than(push_destination: str, candidate_dir: str) -> Optional[str]:
    """The newest pushed model folder whose contents are not the candidate's, or None."""
    candidate = weights_hash.tree_sha256(candidate_dir)
    for version in pushed_versions(push_destination):
        if weights_hash.tree_sha256(version) != candidate:
            return version
    return None
