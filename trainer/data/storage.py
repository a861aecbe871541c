"""Files through `tf.io.gfile`, so local paths and `gs://` (or any TF filesystem) work the same.

Also answers the question construction-time checks ask first: can this machine read the path at
all? A pipeline compiled on a CI machine for `gs://` data and weights cannot read them, and that
must not stop the compile; the same checks then run when the step executes.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import tempfile
from typing import Any, Mapping, Optional, Sequence

import keras
import tensorflow as tf

PRESENT = "present"
MISSING = "missing"
UNREACHABLE = "unreachable"


@dataclasses.dataclass(frozen=True)
class PathStatus:
    """Whether `path` exists, is known not to exist, or cannot be looked at from here (and why)."""

    path: str
    state: str
    reason: str = ""

    @property
    def reachable(self) -> bool:
        return self.state != UNREACHABLE

    def skipped(self, what: str) -> str:
        """The sentence a construction-time check records when it could not look at `path`."""
        return f"{what}: {self.path} cannot be read from this machine ({self.reason}); checked when the step runs."


def is_remote(path: str) -> bool:
    """A path with a URL scheme (`gs://`, `s3://`, ...), read through a TF filesystem plugin."""
    return "://" in path


def path_status(path: str) -> PathStatus:
    """Looks `path` up once. Local paths are always reachable; a remote filesystem that errors
    (no credentials, no network) makes the path unreachable rather than missing."""
    try:
        exists = tf.io.gfile.exists(path)
    except (tf.errors.OpError, OSError) as err:
        if not is_remote(path):
            raise
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        return PathStatus(path, UNREACHABLE, f"{type(err).__name__}: {reason}")
    return PathStatus(path, PRESENT if exists else MISSING)


def copy_tree(source: str, target: str) -> None:
    """Copies every file below the directory `source` to the same place below `target`."""
    for root, _, files in tf.io.gfile.walk(source):
        rel = os.path.relpath(root, source)
        tf.io.gfile.makedirs(os.path.join(target, rel))
        for name in files:
            tf.io.gfile.copy(os.path.join(root, name), os.path.join(target, rel, name), overwrite=True)


def local_copy(path: str, workdir: str) -> str:
    """`path` itself when local, else a copy (file or directory) in `workdir`: Keras reads local files."""
    if not is_remote(path):
        return path
    local = os.path.join(workdir, os.path.basename(path.rstrip("/")))
    if tf.io.gfile.isdir(path):
        copy_tree(path, local)
    else:
        tf.io.gfile.copy(path, local, overwrite=True)
    return local


def write_text(path: str, text: str) -> None:
    """Writes `text` to `path`, creating its folder."""
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(text)


def write_bytes(path: str, data: bytes) -> None:
    """Writes `data` to `path`, creating its folder."""
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(data)


def write_ranked_csv(path: str, columns: Sequence[str], records: Sequence[Mapping[str, Any]]) -> None:
    """Writes `records` to the CSV `path`, one row each in their order: a `rank` column (from 1),
    then each of `columns`' values; floats with four decimals."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["rank", *columns])
    for rank, record in enumerate(records, start=1):
        writer.writerow([rank] + [f"{record[c]:.4f}" if isinstance(record[c], float) else record[c] for c in columns])
    write_text(path, out.getvalue())


def read_bytes(path: str) -> Optional[bytes]:
    """The file's bytes, or None when it does not exist."""
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path, "rb") as f:
        return f.read()


def read_json(path: str) -> Optional[Any]:
    """The parsed JSON file, or None when it does not exist; ValueError naming it when it is not JSON."""
    data = read_bytes(path)
    if data is None:
        return None
    try:
        return json.loads(data.decode("utf-8"))
    except ValueError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from None


def save_keras_model(model: keras.Model, path: str) -> None:
    """Saves a `.keras` file to a local or remote (gs://) path, e.g. next to the SavedModel."""
    with tempfile.TemporaryDirectory() as workdir:
        local = os.path.join(workdir, os.path.basename(path))
        model.save(local)
        tf.io.gfile.makedirs(os.path.dirname(path))
        tf.io.gfile.copy(local, path, overwrite=True)
