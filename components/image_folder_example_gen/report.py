"""Where an ImageFolderExampleGen `examples` artifact keeps its rejected-files report, and reading it."""

from __future__ import annotations

from typing import Any, Dict, Optional

import tensorflow as tf

from tfx_transfer.components import specs
from tfx_transfer.trainer.data import storage


def report_path(examples_uri: str) -> str:
    """The rejected-files report of the `examples` artifact at `examples_uri`."""
    return f"{examples_uri.rstrip('/')}/{specs.REJECTED_FILES_REPORT}"


def read_report(examples_uri: str) -> Optional[Dict[str, Any]]:
    """The report ({'total', 'counts', 'files', 'ignored'}), or None when the artifact has none
    (examples made by another ExampleGen)."""
    path = report_path(examples_uri)
    return storage.read_json(path) if tf.io.gfile.exists(path) else None
