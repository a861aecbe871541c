"""Progress lines of long steps, printed whatever level the libraries left the root logger at.

TF Transform and Beam reset the root logger's level during a run, and a local run shows only
warnings unless `-v` is given; progress is neither, so it has its own logger: INFO lines of plain
text to stdout, not passed on to the root logger. On the local runner they appear in the
terminal, on Kubeflow in the step's log.
"""

from __future__ import annotations

import logging
import sys

PROGRESS_LOGGER = "tfx_transfer.progress"


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever `sys.stdout` is when a line is logged (a test's capture, a redirect)."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ sets it; the property ignores that
        pass


def logger() -> logging.Logger:
    """The progress logger (configured on first use)."""
    progress = logging.getLogger(PROGRESS_LOGGER)
    if not progress.handlers:
        handler = _StdoutHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        progress.addHandler(handler)
        progress.setLevel(logging.INFO)
        progress.propagate = False
    return progress


def say(message: str) -> None:
    """One progress line."""
    logger().info(message)
