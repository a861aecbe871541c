"""Checks a local image folder before a run, so bad files stop it before anything is written.

The pipeline itself never drops a file silently either (ImageFolderExampleGen counts and lists
non-images); this check lets `tfx-transfer run` refuse such data up front, naming the files,
unless the user chose to go on without them.
"""

from __future__ import annotations

import os
from typing import List, Tuple

from tfx_transfer.trainer import preprocessing as pp

REASON_NOT_AN_IMAGE = "not_an_image"
REASON_UNREADABLE = "unreadable"


def bad_files(data_root: str) -> List[Tuple[str, str]]:
    """(path, reason) for every file below `data_root` that is unreadable or not an image."""
    found: List[Tuple[str, str]] = []
    for root, _, files in os.walk(data_root):
        for name in sorted(files):
            path = os.path.join(root, name)
            try:
                with open(path, "rb") as f:
                    header = f.read(pp.IMAGE_HEADER_BYTES)
            except OSError:
                found.append((path, REASON_UNREADABLE))
                continue
            if pp.image_format(header) is None:
                found.append((path, REASON_NOT_AN_IMAGE))
    return found


def describe(bad: List[Tuple[str, str]], data_root: str, shown: int = 10) -> str:
    lines = [f"  {os.path.relpath(path, data_root)}: {reason}" for path, reason in bad[:shown]]
    more = f"\n  ... and {len(bad) - shown} more" if len(bad) > shown else ""
    return f"{len(bad)} file(s) in {data_root} are not readable images:\n" + "\n".join(lines) + more
